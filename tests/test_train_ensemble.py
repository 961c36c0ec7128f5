"""`cxrtrain evaluate RUN RUN ... --out DIR`: an ensemble of runs scored by the mean of their scores
(CPU, tiny ResNet on the synthetic dataset of test_train_fit, no network)."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from cxrtrain.cli import app
from cxrtrain.data import SkipLog
from cxrtrain.evaluate import load_run, split_scores
from tests.test_train_fit import NAMES, synthetic_dataset
from tests.test_train_selection import TINY

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs of one recipe with different seeds, and a run of the same data with another label order."""
    root = tmp_path_factory.mktemp("ensemble")
    dataset = synthetic_dataset(root / "ds")
    folders = []
    for seed in (0, 1):
        folder = root / f"seed{seed}"
        result = runner.invoke(app, ["fit", dataset, "--out", str(folder), *TINY, "--seed", str(seed)])
        assert result.exit_code == 0, result.output
        folders.append(folder)
    return dataset, folders


def member_scores(folder, split="test"):
    model, checkpoint = load_run(folder, torch.device("cpu"), writes_here=False)
    scores, targets, _ = split_scores(model, checkpoint, split, None, torch.device("cpu"), "center", SkipLog())
    return scores, targets


def test_ensemble_auc_is_that_of_the_mean_of_the_members_scores(runs, tmp_path):
    _, folders = runs
    out = tmp_path / "ens"
    result = runner.invoke(app, ["evaluate", *map(str, folders), "--out", str(out), "--bootstrap", "0",
                                 "--min-positives", "2"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    (first, targets), (second, _) = member_scores(folders[0]), member_scores(folders[1])
    assert not np.allclose(first, second)  # two seeds, two different networks
    mean = (first + second) / 2
    for k, name in enumerate(NAMES):
        if 0 < targets[:, k].sum() < len(targets):
            assert metrics["labels"][name]["auc"] == pytest.approx(roc_auc_score(targets[:, k], mean[:, k]))
    assert metrics["members"] == [str(folder) for folder in folders]
    thresholds = json.loads((out / "thresholds.json").read_text())
    assert thresholds["members"] == metrics["members"] and set(thresholds["thresholds"]) == set(NAMES)
    assert (out / "roc.png").stat().st_size > 0
    assert not (folders[0] / "metrics.json").exists()  # the members' folders are only read


def test_several_runs_without_out_is_a_one_line_error(runs):
    _, folders = runs
    result = runner.invoke(app, ["evaluate", *map(str, folders)])
    assert result.exit_code == 2 and "needs --out" in result.output and "Traceback" not in result.output


def test_members_of_other_datasets_are_refused_unless_one_is_given(runs, tmp_path):
    _, folders = runs
    other = synthetic_dataset(tmp_path / "other")
    moved = tmp_path / "moved"
    result = runner.invoke(app, ["fit", other, "--out", str(moved), *TINY])
    assert result.exit_code == 0, result.output
    refused = runner.invoke(app, ["evaluate", str(folders[0]), str(moved), "--out", str(tmp_path / "e")])
    assert refused.exit_code == 2 and "give --dataset" in refused.output
    given = runner.invoke(app, ["evaluate", str(folders[0]), str(moved), "--out", str(tmp_path / "e"),
                                "--dataset", other, "--bootstrap", "0"])
    assert given.exit_code == 0, given.output
