"""cxrtrain on tiny synthetic data (CPU, seconds): pooling, losses, metrics, boxes, fit / evaluate / reload."""

import json

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Sequence, Value
from PIL import Image as PILImage
from typer.testing import CliRunner

from cxrtrain.cli import app
from cxrtrain.data import Preprocessing
from cxrtrain.heatmap import Box, boxes_from_heatmap, iobb, iou, normalise_heatmap
from cxrtrain.losses import wcel_loss, wcel_weights
from cxrtrain.metrics import image_average_precision, top3_sensitivity, youden_thresholds
from cxrtrain.model import lse_pool
from cxrtrain.train import TrainConfig, fit, predict, rebuild_model

NAMES = ["Cardiomegaly", "Effusion", "normal"]


def test_lse_pool_limits():
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    assert torch.allclose(lse_pool(x, 1e-4), x.mean(dim=(2, 3)), atol=1e-3)
    assert torch.allclose(lse_pool(x, 1e4), x.amax(dim=(2, 3)), atol=1e-2)
    assert torch.isfinite(lse_pool(x * 1e4, 10.0)).all()  # stable for large activations


def test_wcel_weights_and_loss():
    targets = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    beta_p, beta_n = wcel_weights(targets)
    assert beta_p.item() == pytest.approx(8 / 2) and beta_n.item() == pytest.approx(8 / 6)
    logits = torch.zeros_like(targets)
    assert wcel_loss(logits, targets).item() == pytest.approx(
        float((2 * 4 * np.log(2) + 6 * (8 / 6) * np.log(2)) / 8), rel=1e-5)


def test_average_precision_and_top3_on_hand_made_cases():
    scores = np.array([[0.9, 0.8, 0.1, 0.05], [0.1, 0.2, 0.3, 0.9]])
    targets = np.array([[1, 0, 1, 0], [0, 0, 0, 1]])
    # image 1: true labels at ranks 1 and 3 → (1/1 + 2/3) / 2; image 2: rank 1 → 1
    assert np.allclose(image_average_precision(targets, scores), [(1 + 2 / 3) / 2, 1.0])
    top3 = top3_sensitivity(targets, scores)
    assert top3[0] == 1.0 and top3[2] == 1.0 and top3[3] == 1.0 and np.isnan(top3[1])


def test_youden_threshold_separates_perfectly():
    targets = np.array([[0], [0], [1], [1]])
    scores = np.array([[0.1], [0.3], [0.6], [0.8]])
    threshold = youden_thresholds(targets, scores)[0]
    assert 0.3 < threshold <= 0.6


def test_boxes_from_synthetic_heatmap_and_overlaps():
    heat = np.zeros((100, 100))
    heat[20:40, 30:70] = 1.0
    heat[80:90, 80:90] = 0.5
    scaled = normalise_heatmap(heat)
    assert scaled.max() == 255
    high = boxes_from_heatmap(scaled, 180)
    assert high == [Box(30, 20, 40, 20)]
    assert len(boxes_from_heatmap(scaled, 60)) == 2
    gold = Box(30, 20, 20, 20)
    assert iobb(gold, high[0]) == pytest.approx(0.5) and iou(gold, high[0]) == pytest.approx(0.5)


def synthetic_dataset(path, n=16, size=48):
    """Cardiomegaly images have a bright disc, Effusion a bright bottom band; normal neither."""
    rng = np.random.default_rng(0)
    features = Features({"image": Image(), "labels": Sequence(ClassLabel(names=NAMES)),
                         "report_id": Value("string")})
    splits = {}
    for split, count in (("train", n), ("validation", 8), ("test", 8)):
        rows = {"image": [], "labels": [], "report_id": []}
        for i in range(count):
            labels = [j for j in (0, 1) if (i >> j) & 1] or [2]
            pixels = rng.normal(60, 10, (size, size))
            yy, xx = np.mgrid[:size, :size]
            if 0 in labels:
                pixels[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2] = 220
            if 1 in labels:
                pixels[-size // 5:] = 230
            rows["image"].append(PILImage.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L"))
            rows["labels"].append(labels)
            rows["report_id"].append(f"{split}{i}")
        splits[split] = Dataset.from_dict(rows, features=features)
    DatasetDict(splits).save_to_disk(str(path))
    return str(path)


def tiny_config(epochs=2):
    return TrainConfig(backbone="tiny", pretrained="none", transition=16, epochs=epochs, batch_size=8, lr=3e-3,
                       patience=5, prep=Preprocessing(resize=40, crop=32))


def test_fit_lowers_loss_and_reload_is_identical(tmp_path):
    dataset = synthetic_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    result = fit(dataset, run, tiny_config(epochs=3), log=lambda *_: None)
    losses = [record["train_loss"] for record in result["history"]]
    assert losses[-1] < losses[0]
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 3 and {"val_mean_auc", "images_per_second"} <= set(log[0])
    checkpoint = torch.load(run / "last.pt", weights_only=False)
    model = rebuild_model(checkpoint).eval()
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        first = model(images)
        again = rebuild_model(torch.load(run / "last.pt", weights_only=False)).eval()(images)
    assert torch.equal(first, again)


def test_fit_is_deterministic_on_cpu(tmp_path):
    dataset = synthetic_dataset(tmp_path / "ds")
    a = fit(dataset, tmp_path / "a", tiny_config(epochs=1), log=lambda *_: None)["history"][0]["train_loss"]
    b = fit(dataset, tmp_path / "b", tiny_config(epochs=1), log=lambda *_: None)["history"][0]["train_loss"]
    assert a == b


def test_cli_fit_evaluate_heatmap(tmp_path):
    dataset = synthetic_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["fit", dataset, "--out", str(run), "--backbone", "tiny", "--pretrained", "none",
                                 "--transition", "16", "--epochs", "2", "--batch-size", "8", "--resize", "40",
                                 "--crop", "32", "--loss", "bce", "--pool", "avg"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", str(run), "--crops", "five"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"split", "n_images", "labels", "mean_auc", "mean_average_precision"}
    assert set(metrics["labels"]["Effusion"]) == {"auc", "sensitivity", "specificity", "top3_sensitivity", "support"}
    assert metrics["n_images"] == 8 and (run / "roc.png").exists() and (run / "thresholds.json").exists()
    gold = tmp_path / "boxes.csv"
    gold.write_text("Image Index,Finding Label,x,y,w,h\ntest1,Cardiomegaly,12,12,24,24\n")
    result = runner.invoke(app, ["heatmap", str(run), "test", "--bbox", str(gold), "--max-images", "3"])
    assert result.exit_code == 0, result.output
    localisation = json.loads((run / "localisation.json").read_text())
    assert "iobb>=0.1" in localisation["heatmap>60"]
    assert any(p.suffix == ".png" for p in (run / "heatmaps").iterdir())


def test_predict_averages_five_crops():
    class Constant(torch.nn.Module):
        def forward(self, images):
            return images.mean(dim=(1, 2, 3))[:, None]

    loader = [(torch.stack([torch.zeros(5, 3, 4, 4), torch.ones(5, 3, 4, 4)]), torch.zeros(2, 1))]
    scores, _ = predict(Constant(), loader, torch.device("cpu"))
    assert np.allclose(scores[:, 0], [0.5, 1 / (1 + np.exp(-1))])
