"""`cxrtrain evaluate`: metrics.json, roc.png and a table for one split of a trained run.

Rows with an unreadable image are left out of the scores, counted in metrics.json (`skipped_rows`, present only
when some were) and listed in RUN/evaluate_errors.csv; with `strict` the first one stops the command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from cxrlabel.errors import UserError
from cxrtrain.data import ChestXrayDataset, Preprocessing, SkipLog, load_splits
from cxrtrain.metrics import evaluate_scores, youden_thresholds
from cxrtrain.model import rebuild_model
from cxrtrain.train import TrainConfig, device_for_run, make_loader, predict


def load_run(run_dir: Path, device: torch.device, writes_here: bool = True) -> tuple[torch.nn.Module, dict]:
    """The best checkpoint's network (eval mode, on `device`) and the checkpoint dict; `writes_here`: refuse a
    run folder the results cannot be written to."""
    path = run_dir / "best.pt"
    if not path.exists():
        raise UserError(f"{run_dir}: no best.pt (run `cxrtrain fit` first)")
    if writes_here and not os.access(run_dir, os.W_OK | os.X_OK):
        raise UserError(f"{run_dir}: the run folder is not writable (results are written there)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        model = rebuild_model(checkpoint)
    except UserError:
        raise
    except Exception as exc:  # truncated copy or a foreign file: pickle, zip and key errors of many kinds
        raise UserError(f"{path}: not a readable `cxrtrain fit` checkpoint ({exc.__class__.__name__}); "
                        "copy it again or train anew") from exc
    return model.to(device).eval(), checkpoint


def split_scores(model, checkpoint: dict, split_name: str, dataset_dir: str | None, device, crops: str,
                 skips: SkipLog):
    dataset, names = load_splits(dataset_dir or checkpoint["dataset"])
    if split_name not in dataset:
        raise UserError(f"no split {split_name!r} (the dataset has {', '.join(dataset)})")
    if len(dataset[split_name]) == 0:
        raise UserError(f"the {split_name} split of {dataset_dir or checkpoint['dataset']} is empty; nothing to score "
                        "(choose another --split or rebuild with other `cxrlabel build --split` ratios)")
    if names != checkpoint["label_names"]:
        raise UserError("the dataset's label names differ from those the run was trained on")
    settings = dict(checkpoint["config"])
    prep = Preprocessing(**{**settings.pop("prep"), "test_crops": crops})
    config = TrainConfig(**settings, prep=prep)
    data = ChestXrayDataset(dataset[split_name], len(names), prep, train=False, name=split_name)
    scores, targets = predict(model, make_loader(data, config), device, prep, skips=skips)
    return scores, targets, names


THRESHOLD_METHOD = ("Youden's J (max sensitivity + specificity − 1) per label on the validation split, "
                    "with this checkpoint and crop mode")


def evaluate_run(run_dir: Path, split: str = "test", dataset_dir: str | None = None, crops: str | None = None,
                 skips: SkipLog | None = None, min_positives: int = 5, resamples: int = 1000, seed: int = 0,
                 members: list[Path] | None = None) -> dict:
    """Score `split` with the best checkpoint: RUN/metrics.json, RUN/roc.png (and RUN/evaluate_errors.csv when rows
    were skipped into `skips`); returns the metrics. crops: center / five (None: the run's own test crop mode);
    the mean AUC is over labels with ≥ min_positives positives, with `resamples` seeded bootstrap resamples of the
    images giving the 95 % intervals.

    `members`: the run folders of an ensemble. Their sigmoid scores are averaged image by image (they must share
    the label names and, without `dataset_dir`, the dataset); `run_dir` is then the folder the results go to."""
    device = device_for_run()
    loaded = ([load_run(member, device, writes_here=False) for member in members] if members
              else [load_run(run_dir, device)])
    checkpoint = loaded[0][1]
    check_ensemble(loaded, members or [run_dir], dataset_dir)
    crops = crops or checkpoint["config"]["prep"].get("test_crops", "center")
    if crops not in ("center", "five"):
        raise UserError("--crops takes center or five")
    if min_positives < 1 or resamples < 0:
        raise UserError("--min-positives is at least 1 and --bootstrap at least 0")
    skips = skips if skips is not None else SkipLog()
    thresholds = None if members else stored_thresholds(run_dir, checkpoint, crops)
    if thresholds is None:  # Youden's J on the validation split, stored with the run
        scores, targets, names = ensemble_scores(loaded, "validation", dataset_dir, device, crops, skips)
        thresholds = youden_thresholds(targets, scores)
        (run_dir / "thresholds.json").write_text(json.dumps(
            {"split": "validation", "method": "youden", "description": THRESHOLD_METHOD, "crops": crops,
             "checkpoint_epoch": checkpoint["epoch"] + 1,
             **({"members": [str(member) for member in members]} if members else {}),
             "thresholds": dict(zip(names, thresholds, strict=True))}, indent=2))
    scores, targets, names = ensemble_scores(loaded, split, dataset_dir, device, crops, skips)
    result = {"split": split, "n_images": int(len(targets)), "crops": crops,
              **({"members": [str(member) for member in members]} if members else {}),
              **evaluate_scores(targets, scores, names, thresholds, min_positives, resamples, seed),
              "thresholds": {"method": "youden", "split": "validation", "description": THRESHOLD_METHOD}}
    errors = run_dir / "evaluate_errors.csv"
    if skips.rows:
        result["skipped_rows"] = len(skips.rows)
        skips.write_csv(errors)
    else:  # an earlier evaluation's list would describe another scoring
        errors.unlink(missing_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(result, indent=2))
    scored_by = f"ensemble of {len(members)} runs" if members else f"epoch {checkpoint['epoch'] + 1}"
    plot_roc(targets, scores, names, run_dir / "roc.png",
             f"ROC, {split} split ({len(targets)} images, {crops} crop), {scored_by}")
    return result


def check_ensemble(loaded: list[tuple[torch.nn.Module, dict]], runs: list[Path], dataset_dir: str | None) -> None:
    """The runs of an ensemble must predict the same labels and, unless a dataset is given, score the same one."""
    first = loaded[0][1]
    for (_, checkpoint), run in zip(loaded[1:], runs[1:], strict=True):
        if checkpoint["label_names"] != first["label_names"]:
            raise UserError(f"{run}: trained on other labels than {runs[0]}; an ensemble needs the same label names")
        if dataset_dir is None and checkpoint["dataset"] != first["dataset"]:
            raise UserError(f"{run}: trained on {checkpoint['dataset']}, not {first['dataset']} as {runs[0]}; "
                            "give --dataset to score the ensemble on one dataset")


def ensemble_scores(loaded: list[tuple[torch.nn.Module, dict]], split: str, dataset_dir: str | None, device,
                    crops: str, skips: SkipLog):
    """The members' scores of `split`, averaged (one member: its own scores). Every member reads the same rows, so
    an unreadable row is skipped by all of them alike; it is recorded once, in `skips`."""
    results = [split_scores(model, checkpoint, split, dataset_dir, device, crops, skips if k == 0 else SkipLog())
               for k, (model, checkpoint) in enumerate(loaded)]
    scores = np.mean([member_scores for member_scores, _, _ in results], axis=0)
    return scores, results[0][1], results[0][2]


def stored_thresholds(run_dir: Path, checkpoint: dict, crops: str) -> list[float] | None:
    """Thresholds chosen earlier for this checkpoint and crop mode, if any."""
    path = run_dir / "thresholds.json"
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    if stored.get("checkpoint_epoch") != checkpoint["epoch"] + 1 or stored.get("crops") != crops:
        return None
    return [stored["thresholds"][name] for name in checkpoint["label_names"]]


def plot_roc(targets: np.ndarray, scores: np.ndarray, names: list[str], path: Path, title: str) -> None:
    """One curve per label with both classes, its own colour (20, then line styles repeat them), AUC in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    figure, axis = plt.subplots(figsize=(7, 7))
    tab20 = plt.get_cmap("tab20").colors
    colours = tab20[0::2] + tab20[1::2]  # ten strong colours, then their light partners (dashed)
    for k, name in enumerate(names):
        if 0 < targets[:, k].sum() < len(targets):
            fpr, tpr, _ = roc_curve(targets[:, k], scores[:, k])
            axis.plot(fpr, tpr, color=colours[k % 20], linestyle=("-", "--", ":", "-.")[k // 10 % 4],
                      label=f"{name} ({roc_auc_score(targets[:, k], scores[:, k]):.2f})")
    axis.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    axis.set_xlabel("1 − specificity")
    axis.set_ylabel("sensitivity")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
