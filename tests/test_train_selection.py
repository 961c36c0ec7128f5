"""Model selection on labels with enough validation positives, bootstrap intervals, weights-only best.pt, recipes
(CPU, tiny ResNet on the synthetic dataset of test_train_fit, no network)."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from cxrlabel.errors import UserError
from cxrtrain import recipes
from cxrtrain.cli import app
from cxrtrain.metrics import Selection, bootstrap_auc_intervals, evaluate_scores
from cxrtrain.train import TrainConfig, recipe_backbone
from tests.test_train_fit import NAMES, synthetic_dataset, tiny_config

TINY = ["--backbone", "tiny", "--pretrained", "none", "--transition", "16", "--epochs", "2", "--batch-size", "8",
        "--resize", "40", "--crop", "32", "--lr", "0.003"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    # validation and test: Cardiomegaly 4, Effusion 4, normal 2 positives of 8 images
    return synthetic_dataset(tmp_path_factory.mktemp("data") / "ds")


def test_selection_keeps_labels_with_enough_positives_and_falls_back_when_none_has():
    targets = np.array([[1, 1, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1], [0, 0, 1]])
    assert Selection.of(targets, 3) == Selection([0, 2], 3, False)
    assert Selection.of(targets, 4) == Selection([0, 1, 2], 4, True)  # every label with both classes
    assert "--min-positives" in Selection.of(targets, 4).warning("validation")


def test_bootstrap_intervals_are_seeded_and_surround_the_auc():
    rng = np.random.default_rng(1)
    targets = (rng.random((200, 3)) < [0.3, 0.5, 0.01]).astype(int)
    targets[:2, 2] = 1
    scores = targets * 0.6 + rng.random((200, 3))
    per_label, mean = bootstrap_auc_intervals(targets, scores, [0, 1], resamples=300, seed=3)
    again, _ = bootstrap_auc_intervals(targets, scores, [0, 1], resamples=300, seed=3)
    assert per_label == again
    for k in (0, 1):
        lo, hi = per_label[k]
        assert lo < roc_auc_score(targets[:, k], scores[:, k]) < hi and hi - lo < 0.3
    point = np.mean([roc_auc_score(targets[:, k], scores[:, k]) for k in (0, 1)])
    assert mean[0] < point < mean[1] and mean[1] - mean[0] < per_label[0][1] - per_label[0][0]
    small, _ = bootstrap_auc_intervals(targets[:40], scores[:40], [0, 1], resamples=300, seed=3)
    assert small[0][1] - small[0][0] > per_label[0][1] - per_label[0][0]  # fewer images, wider interval


def test_evaluate_scores_means_only_labels_with_enough_positives():
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 0], [1, 0], [0, 0]])
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.2, 0.6], [0.1, 0.2], [0.7, 0.1], [0.3, 0.9]])
    result = evaluate_scores(targets, scores, ["A", "B"], [0.5, 0.5], min_positives=3, resamples=50)
    assert result["mean_auc"] == result["labels"]["A"]["auc"] == 1.0
    assert result["mean_auc_labels"] == ["A"] and result["labels_below_min_positives"] == ["B"]
    assert result["mean_auc_all_labels"] == pytest.approx((1.0 + roc_auc_score(targets[:, 1], scores[:, 1])) / 2)


def test_best_epoch_is_chosen_on_labels_with_enough_validation_positives(dataset, tmp_path):
    messages = []
    fit_run = tmp_path / "run"
    from cxrtrain.train import fit

    fit(dataset, fit_run, tiny_config(epochs=3, min_positives=3), log=messages.append)
    log = [json.loads(line) for line in (fit_run / "train_log.jsonl").read_text().splitlines()]
    assert all(r["val_selection_labels"] == ["Cardiomegaly", "Effusion"] for r in log)  # normal: 2 positives
    best = torch.load(fit_run / "best.pt", weights_only=True)
    chosen = int(np.argmax([r["val_selection_auc"] for r in log]))
    assert best["epoch"] == chosen and best["best_auc"] == log[chosen]["val_selection_auc"]
    assert not any(message.startswith("warning: no label") for message in messages)
    messages.clear()
    fit(dataset, tmp_path / "fallback", tiny_config(epochs=1), log=messages.append)  # default 5: none qualifies
    assert sum(message.startswith("warning: no label has ≥ 5 positives") for message in messages) == 1


def test_best_pt_is_weights_only_and_resume_still_uses_last_pt(dataset, tmp_path):
    from cxrtrain.train import fit

    run = tmp_path / "run"
    fit(dataset, run, tiny_config(epochs=1), log=lambda *_: None)
    best = torch.load(run / "best.pt", weights_only=True)
    last = torch.load(run / "last.pt", weights_only=False)
    assert {"optimizer", "scheduler", "rng"} <= set(last) and not {"optimizer", "scheduler", "rng"} & set(best)
    assert all(torch.equal(best["model"][key], last["model"][key]) for key in best["model"])
    assert (run / "best.pt").stat().st_size < (run / "last.pt").stat().st_size
    result = fit(dataset, run, tiny_config(epochs=2), resume=True, log=lambda *_: None)
    assert [r["epoch"] for r in result["history"]] == [2]


def test_recipe_defaults_yield_to_explicit_options_and_are_recorded(dataset, tmp_path):
    runner = CliRunner()
    run = tmp_path / "c8"
    result = runner.invoke(app, ["fit", dataset, "--out", str(run), *TINY, "--recipe", "chestxray8",
                                 "--lse-r", "5"])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"] == "chestxray8" and config["backbone"] == "tiny"  # given → kept
    assert (config["pool"], config["loss"], config["lse_r"], config["transition"]) == ("lse", "wcel", 5.0, 16)
    plain = tmp_path / "plain"
    result = runner.invoke(app, ["fit", dataset, "--out", str(plain), *TINY, "--recipe", "none"])
    assert result.exit_code == 0, result.output
    config = json.loads((plain / "config.json").read_text())
    assert config["recipe"] == "" and config["min_share"] == 0 and config["prep"]["test_crops"] == "center"
    run = tmp_path / "dong"
    result = runner.invoke(app, ["fit", dataset, "--out", str(run), *TINY])  # the default recipe
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert recipes.DEFAULT_RECIPE == config["recipe"] == "dong2017"
    assert config["min_share"] == 0.03 and config["prep"]["test_crops"] == "five"
    result = runner.invoke(app, ["evaluate", str(run), "--bootstrap", "100", "--min-positives", "3"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["crops"] == "five" and metrics["mean_auc_labels"] == ["Cardiomegaly", "Effusion"]
    assert metrics["labels_below_min_positives"] == ["normal"] and "fewer than 3 positives" in result.output
    assert "Youden" in result.output and "Youden" in metrics["thresholds"]["description"]
    thresholds = json.loads((run / "thresholds.json").read_text())
    assert thresholds["crops"] == "five" and "validation" in thresholds["description"]
    for name in NAMES:
        row = metrics["labels"][name]
        assert row["ci95"][0] <= row["auc"] <= row["ci95"][1]
    result = runner.invoke(app, ["fit", dataset, "--out", str(tmp_path / "x"), "--recipe", "resnet-paper"])
    assert result.exit_code == 2 and "chestxray8, chexnet, dong2017 or none" in result.output


def test_recipe_names_the_backbone_it_cannot_build(monkeypatch):
    monkeypatch.setitem(recipes.RECIPES, "chexnet", recipes.Recipe("chexnet", "test", {"backbone": "nonexistent-net"}))
    config = TrainConfig(backbone="nonexistent-net", pretrained="none", recipe="chexnet")
    with pytest.raises(UserError, match="--recipe chexnet needs the backbone 'nonexistent-net'"):
        recipe_backbone(config)
    with pytest.raises(UserError, match="no built-in configuration"):  # not the recipe's choice: the plain error
        recipe_backbone(TrainConfig(backbone="other-net", pretrained="none", recipe="chexnet"))


def test_roc_plot_gives_every_label_its_own_colour_and_a_title(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from cxrtrain.evaluate import plot_roc

    saved = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda figure, *args, **kwargs: (saved.append(figure),
                                                                            original(figure, *args, **kwargs)))
    rng = np.random.default_rng(0)
    targets = (rng.random((60, 14)) < 0.4).astype(int)
    plot_roc(targets, rng.random((60, 14)), [f"L{k}" for k in range(14)], tmp_path / "roc.png", "ROC, test split")
    axis = saved[0].axes[0]
    curves = [line for line in axis.get_lines() if not line.get_label().startswith("_")]
    assert len(curves) == 14 and len({line.get_color() for line in curves}) == 14
    assert axis.get_title() == "ROC, test split" and (tmp_path / "roc.png").stat().st_size > 0
