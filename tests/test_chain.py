"""The README chain on real OpenI report text: `cxrlabel mine` → `cxrlabel build` → `cxrtrain fit` → `evaluate`.

Images are synthetic PNGs (no chest X-rays ship with the project); the reports and their labels are real.
"""

import csv
import json
from itertools import islice
from pathlib import Path

import numpy as np
from datasets import load_from_disk
from PIL import Image
from typer.testing import CliRunner

from cxrlabel.cli import app as cxrlabel_app
from cxrlabel.labelsets import load_label_set
from cxrtrain.cli import app as cxrtrain_app

REPORTS = Path(__file__).parents[1] / "cxrlabel" / "data" / "openi" / "reports_dev.csv"


def test_mine_build_fit_evaluate(tmp_path):
    with open(REPORTS, newline="") as handle:
        rows = [row for row in islice(csv.DictReader(handle), 200) if row["findings"] or row["impression"]][:60]
    reports = tmp_path / "reports.csv"
    with open(reports, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    manifest = ["uid,filename,projection"]
    for row in rows:
        Image.fromarray(rng.integers(0, 255, (40, 48), dtype=np.uint8)).save(images / f"CXR{row['uid']}_1.png")
        manifest.append(f"{row['uid']},CXR{row['uid']}_1.png,Frontal")
    (tmp_path / "projections.csv").write_text("\n".join(manifest) + "\n")

    runner = CliRunner()
    mined = tmp_path / "mined"
    result = runner.invoke(cxrlabel_app, ["mine", str(reports), "--lang", "en", "--out", str(mined)])
    assert result.exit_code == 0, result.output
    dataset_dir = tmp_path / "dataset"
    result = runner.invoke(cxrlabel_app, [
        "build", "--labels", str(mined / "labels.csv"), "--reports", str(reports), "--images", str(images),
        "--manifest", str(tmp_path / "projections.csv"), "--views", "frontal", "--size", "64",
        "--id-salt", "a-test-salt-of-some-length", "--out", str(dataset_dir)])
    assert result.exit_code == 0, result.output
    dataset = load_from_disk(str(dataset_dir))
    names = load_label_set("chestxray14").names
    assert dataset["train"].features["labels"].feature.names == names
    assert sum(len(split) for split in dataset.values()) == len(rows)
    assert all(len(dataset[split]) for split in ("train", "validation", "test"))

    run = tmp_path / "run"
    result = runner.invoke(cxrtrain_app, [
        "fit", str(dataset_dir), "--out", str(run), "--backbone", "tiny", "--pretrained", "none",
        "--transition", "8", "--epochs", "1", "--batch-size", "8", "--resize", "40", "--crop", "32"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cxrtrain_app, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_images"] == len(dataset["test"]) and list(metrics["labels"]) == names
    normal = names.index("normal")
    assert metrics["labels"]["normal"]["support"] == sum(normal in labels for labels in dataset["test"]["labels"])
