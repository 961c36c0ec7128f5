"""`cxrtrain evaluate`: metrics.json, roc.png and a table for one split of a trained run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from cxrtrain.data import ChestXrayDataset, Preprocessing, load_splits
from cxrtrain.metrics import evaluate_scores, youden_thresholds
from cxrtrain.train import TrainConfig, device_for_run, make_loader, predict, rebuild_model


def load_run(run_dir: Path, device: torch.device) -> tuple[torch.nn.Module, dict]:
    path = run_dir / "best.pt"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir}: no best.pt (run `cxrtrain fit` first)")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    return rebuild_model(checkpoint).to(device).eval(), checkpoint


def split_scores(model, checkpoint: dict, split_name: str, dataset_dir: str | None, device, crops: str):
    dataset, names = load_splits(dataset_dir or checkpoint["dataset"])
    settings = dict(checkpoint["config"])
    prep = Preprocessing(**{**settings.pop("prep"), "test_crops": crops})
    config = TrainConfig(**settings, prep=prep)
    data = ChestXrayDataset(dataset[split_name], len(names), prep, train=False)
    scores, targets = predict(model, make_loader(data, config, shuffle=False), device)
    return scores, targets, names


def evaluate_run(run_dir: Path, split: str = "test", dataset_dir: str | None = None, crops: str = "center") -> dict:
    device = device_for_run()
    model, checkpoint = load_run(run_dir, device)
    thresholds_path = run_dir / "thresholds.json"
    if thresholds_path.exists():
        thresholds = json.loads(thresholds_path.read_text())["thresholds"]
    else:  # Youden's J on the validation split, stored with the run
        scores, targets, names = split_scores(model, checkpoint, "validation", dataset_dir, device, crops)
        thresholds = youden_thresholds(targets, scores)
        thresholds_path.write_text(json.dumps({"split": "validation", "method": "youden",
                                               "thresholds": thresholds}, indent=2))
    scores, targets, names = split_scores(model, checkpoint, split, dataset_dir, device, crops)
    result = {"split": split, "n_images": int(len(targets)), **evaluate_scores(targets, scores, names, thresholds)}
    (run_dir / "metrics.json").write_text(json.dumps(result, indent=2))
    plot_roc(targets, scores, names, run_dir / "roc.png")
    return result


def plot_roc(targets: np.ndarray, scores: np.ndarray, names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    figure, axis = plt.subplots(figsize=(7, 7))
    for k, name in enumerate(names):
        if 0 < targets[:, k].sum() < len(targets):
            fpr, tpr, _ = roc_curve(targets[:, k], scores[:, k])
            axis.plot(fpr, tpr, label=f"{name} ({roc_auc_score(targets[:, k], scores[:, k]):.2f})")
    axis.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    axis.set_xlabel("1 − specificity")
    axis.set_ylabel("sensitivity")
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
