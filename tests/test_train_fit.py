"""cxrtrain fit / evaluate / heatmap end to end on a tiny synthetic dataset in the `cxrlabel build` format
(CPU, tiny ResNet, seconds, no network)."""

import json

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Sequence, Value
from PIL import Image as PILImage
from typer.testing import CliRunner

from cxrtrain.cli import app
from cxrtrain.data import Preprocessing
from cxrtrain.model import rebuild_model
from cxrtrain.train import TrainConfig, fit

NAMES = ["Cardiomegaly", "Effusion", "normal"]


def synthetic_dataset(path, n=16, size=48):
    """Cardiomegaly images have a bright disc, Effusion a bright bottom band, normal neither; odd rows are 16-bit
    PNGs. Columns as `cxrlabel build` writes them."""
    rng = np.random.default_rng(0)
    features = Features({"image": Image(), "labels": Sequence(ClassLabel(names=NAMES)),
                         "label_states": Sequence(Value("string")), "report_id": Value("string"),
                         "patient_id": Value("string"), "view": Value("string"), "findings": Value("string"),
                         "impression": Value("string"), "source_path": Value("string")})
    splits = {}
    yy, xx = np.mgrid[:size, :size]
    for split, count in (("train", n), ("validation", 8), ("test", 8)):
        rows = {name: [] for name in features}
        for i in range(count):
            labels = [j for j in (0, 1) if (i >> j) & 1] or [2]
            pixels = rng.normal(60, 10, (size, size))
            if 0 in labels:
                pixels[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2] = 220
            if 1 in labels:
                pixels[-size // 5:] = 230
            pixels = np.clip(pixels, 0, 255) / 255
            image = (PILImage.fromarray((pixels * 65535).astype(np.uint16)) if i % 2
                     else PILImage.fromarray((pixels * 255).astype(np.uint8), mode="L"))
            rows["image"].append(image)
            rows["labels"].append(labels)
            rows["label_states"].append(["positive" if k in labels else "negative" for k in range(3)])
            rows["report_id"].append(f"{split}{i}")
            rows["patient_id"].append(f"p{split}{i}")
            rows["view"].append("PA")
            rows["findings"].append("")
            rows["impression"].append("")
            rows["source_path"].append(f"img/{split}{i}.png")
        splits[split] = Dataset.from_dict(rows, features=features)
    DatasetDict(splits).save_to_disk(str(path))
    return str(path)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return synthetic_dataset(tmp_path_factory.mktemp("data") / "ds")


def tiny_config(epochs=2, **changes):
    return TrainConfig(**{"backbone": "tiny", "pretrained": "none", "transition": 16, "epochs": epochs,
                          "batch_size": 8, "lr": 3e-3, "patience": 5, "prep": Preprocessing(resize=40, crop=32),
                          **changes})


def quiet(*_):
    pass


def test_fit_lowers_loss_and_reload_gives_identical_predictions(dataset, tmp_path):
    run = tmp_path / "run"
    result = fit(dataset, run, tiny_config(epochs=4), log=quiet)
    losses = [record["train_loss"] for record in result["history"]]
    assert losses[-1] < losses[0]
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    assert {"train_loss", "val_mean_auc", "images_per_second", "lr"} <= set(log[0])
    config = json.loads((run / "config.json").read_text())
    assert config["prep"]["mean"] == [0.485, 0.456, 0.406] and config["label_names"] == NAMES
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        first = rebuild_model(torch.load(run / "last.pt", weights_only=False)).eval()(images)
        again = rebuild_model(torch.load(run / "last.pt", weights_only=False)).eval()(images)
    assert torch.equal(first, again)
    best = torch.load(run / "best.pt", weights_only=True)  # weights and plain metadata only
    assert best["best_auc"] == max(r["val_selection_auc"] for r in log)
    assert not {"optimizer", "scheduler", "rng"} & set(best)


def test_fit_is_deterministic_on_cpu(dataset, tmp_path):
    a = fit(dataset, tmp_path / "a", tiny_config(epochs=1, min_share=0.3), log=quiet)["history"][0]["train_loss"]
    b = fit(dataset, tmp_path / "b", tiny_config(epochs=1, min_share=0.3), log=quiet)["history"][0]["train_loss"]
    assert a == b
    c = fit(dataset, tmp_path / "c", tiny_config(epochs=1, seed=1), log=quiet)["history"][0]["train_loss"]
    assert c != a


def test_resume_continues_exactly_where_the_interrupted_run_stopped(dataset, tmp_path):
    straight = tmp_path / "straight"
    fit(dataset, straight, tiny_config(epochs=3, accumulate=2), log=quiet)

    def interrupt_after_first_epoch(message):
        if message.startswith("epoch 1:"):
            raise KeyboardInterrupt

    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        fit(dataset, interrupted, tiny_config(epochs=3, accumulate=2), log=interrupt_after_first_epoch)
    fit(dataset, interrupted, tiny_config(epochs=3, accumulate=2), resume=True, log=quiet)
    a = torch.load(straight / "last.pt", weights_only=False)["model"]
    b = torch.load(interrupted / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert len((interrupted / "train_log.jsonl").read_text().splitlines()) == 3


def test_cli_fit_evaluate_heatmap(dataset, tmp_path):
    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["fit", dataset, "--out", str(run), "--backbone", "tiny", "--pretrained", "none",
                                 "--transition", "16", "--epochs", "2", "--batch-size", "8", "--resize", "40",
                                 "--crop", "32", "--loss", "bce", "--pool", "max", "--optimizer", "sgd",
                                 "--schedule", "step", "--lr", "0.01"])
    assert result.exit_code == 0, result.output
    assert "random initialisation" in result.output
    result = runner.invoke(app, ["evaluate", str(run), "--crops", "five"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics) == ["split", "n_images", "crops", "labels", "min_positives", "mean_auc", "mean_auc_ci95",
                             "mean_auc_labels", "mean_auc_fallback", "labels_below_min_positives",
                             "mean_auc_all_labels", "bootstrap", "mean_average_precision", "thresholds"]
    assert metrics["split"] == "test" and metrics["n_images"] == 8 and list(metrics["labels"]) == NAMES
    assert list(metrics["labels"]["Effusion"]) == ["auc", "ci95", "sensitivity", "specificity", "top3_sensitivity",
                                                   "support"]
    assert metrics["crops"] == "five" and metrics["thresholds"]["method"] == "youden"
    assert metrics["labels"]["Effusion"]["support"] == 4 and 0 <= metrics["mean_auc"] <= 1
    thresholds = json.loads((run / "thresholds.json").read_text())
    assert thresholds["split"] == "validation" and set(thresholds["thresholds"]) == set(NAMES)
    assert (run / "roc.png").stat().st_size > 0 and "Effusion" in result.output
    gold = tmp_path / "boxes.csv"
    gold.write_text("Image Index,Finding Label,Bbox [x,y,w,h]\ntest1.png,Cardiomegaly,12,12,24,24\n"
                    "test3,Effusion,0,38,48,10\n")
    result = runner.invoke(app, ["heatmap", str(run), "test", "--bbox", str(gold)])
    assert result.exit_code == 0, result.output
    localisation = json.loads((run / "localisation.json").read_text())
    assert set(localisation) == {"heatmap>60", "heatmap>180"}
    row = localisation["heatmap>60"]["iobb>=0.1"]
    assert set(row) == {"Cardiomegaly", "Effusion"} and row["Cardiomegaly"]["images"] == 1
    drawn = sorted(p.name for p in (run / "heatmaps").iterdir())
    assert drawn == ["test1.png_Cardiomegaly.png", "test3_Effusion.png"]


def test_user_mistakes_are_reported_without_traceback(dataset, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["fit", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["fit", dataset, "--out", str(tmp_path / "r"), "--pool", "median"])
    assert result.exit_code == 2 and "--pool" in result.output
    result = runner.invoke(app, ["evaluate", str(tmp_path / "r")])
    assert result.exit_code == 2 and "best.pt" in result.output
    DatasetDict({s: d.remove_columns("image") for s, d in DatasetDict.load_from_disk(dataset).items()}).save_to_disk(
        str(tmp_path / "no_images"))
    result = runner.invoke(app, ["fit", str(tmp_path / "no_images"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "no image column" in result.output
