"""Fault injection for `cxrtrain` through the real command line (subprocesses of `python -m cxrtrain`): empty
splits, undecodable image rows (skipped and named, or `--strict`), a folder with broken images for `heatmap`, and
user mistakes (damaged dataset or checkpoint, missing files, mismatched `--resume`): one-line errors, exit codes,
no traceback, and runs that finish with the bad rows counted. Tiny datasets (32 px, tiny ResNet, random init)."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Sequence, Value
from PIL import Image as PILImage

NAMES = ["Cardiomegaly", "Effusion", "normal"]
FEATURES = Features({"image": Image(), "labels": Sequence(ClassLabel(names=NAMES)),
                     "report_id": Value("string"), "source_path": Value("string")})
FIT = ["--backbone", "tiny", "--pretrained", "none", "--transition", "8", "--epochs", "1", "--batch-size", "4",
       "--resize", "36", "--crop", "32"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
NOT_A_PNG = b"\x89PNG\r\n\x1a\n" + b"not image data" * 4  # a PNG signature, then garbage


def png_bytes(seed: int, size: int = 32) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def write_dataset(path, sizes=(8, 6, 6), bad=None, loadable=True) -> str:
    """A `cxrlabel build`-style DatasetDict; bad = {split: {row: "garbage" | "truncated"}} spoils those images.
    Empty splits get one empty shard, as `cxrlabel build` writes them (loadable=False: none, which datasets cannot
    read back)."""
    bad = bad or {}
    splits = {}
    for split, count in zip(("train", "validation", "test"), sizes, strict=True):
        rows = {"image": [], "labels": [], "report_id": [], "source_path": []}
        for i in range(count):
            data = png_bytes(i)
            spoilt = bad.get(split, {}).get(i)
            data = NOT_A_PNG if spoilt == "garbage" else data[: len(data) // 2] if spoilt == "truncated" else data
            rows["image"].append({"bytes": data, "path": None})
            rows["labels"].append([i % 3])
            rows["report_id"].append(f"{split}{i}")
            rows["source_path"].append(f"img/{split}{i}.png")
        splits[split] = Dataset.from_dict(rows, features=FEATURES)
    shards = {split: 1 for split, count in zip(splits, sizes, strict=True) if count == 0} if loadable else None
    DatasetDict(splits).save_to_disk(str(path), num_shards=shards)
    return str(path)


def cxrtrain(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cxrtrain", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=300)


def cxrtrain_together(*commands: list) -> list[subprocess.CompletedProcess]:
    """Independent commands run at the same time (most of each is Python and torch starting up)."""
    started = [subprocess.Popen([sys.executable, "-m", "cxrtrain", *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=ENV) for args in commands]
    finished = []
    for process, args in zip(started, commands, strict=True):
        stdout, stderr = process.communicate(timeout=300)
        finished.append(subprocess.CompletedProcess(args, process.returncode, stdout, stderr))
    return finished


def assert_clean(done: subprocess.CompletedProcess, code: int) -> None:
    assert done.returncode == code, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The single `error:` line of a failed command (exit 2, no traceback)."""
    assert_clean(done, 2)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained (workers on) on a dataset with one garbage train row, one truncated validation row and one
    garbage test row; returns (dataset, run folder, fit's result)."""
    root = tmp_path_factory.mktemp("faults")
    dataset = write_dataset(root / "ds", bad={"train": {3: "garbage"}, "validation": {1: "truncated"},
                                              "test": {2: "garbage"}})
    run = root / "run"
    return dataset, run, cxrtrain("fit", dataset, "--out", run, *FIT, "--workers", "2")


def test_fit_refuses_empty_splits_before_training(tmp_path):
    empty_validation = write_dataset(tmp_path / "no_val", sizes=(8, 0, 6))
    empty_train = write_dataset(tmp_path / "no_train", sizes=(0, 6, 6))
    no_validation, no_train = cxrtrain_together(["fit", empty_validation, "--out", tmp_path / "run", *FIT],
                                                ["fit", empty_train, "--out", tmp_path / "run", *FIT])
    message = one_error_line(no_validation)
    assert "the validation split is empty" in message and "--split" in message
    assert "the train split is empty" in one_error_line(no_train)
    assert not (tmp_path / "run").exists()  # checked before anything was written or trained


def test_fit_skips_and_names_unreadable_rows(trained):
    _, run, done = trained
    assert_clean(done, 0)
    assert "skipped train row 3 (report id train3, source img/train3.png): unreadable image" in done.stdout
    assert "2 row(s) with an unreadable image skipped (train 1×, validation 1×)" in done.stdout
    with open(run / "errors.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["split"], r["row"], r["report_id"], r["source_path"]) for r in rows] == [
        ("train", "3", "train3", "img/train3.png"), ("validation", "1", "validation1", "img/validation1.png")]
    assert all(r["reason"] for r in rows)
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["skipped_rows"] == {"train": 1, "validation": 1} and log[0]["train_loss"] > 0
    assert (run / "best.pt").exists() and (run / "config.json").exists()


def test_fit_strict_stops_at_the_first_unreadable_row(trained, tmp_path):
    dataset, _, _ = trained
    message = one_error_line(cxrtrain("fit", dataset, "--out", tmp_path / "strict", *FIT, "--strict"))
    assert message.startswith("error: train row 3 (report id train3, source img/train3.png): unreadable image")
    assert "--strict" in message and not (tmp_path / "strict" / "best.pt").exists()


def test_evaluate_skips_or_stops_at_unreadable_rows(trained):
    _, run, _ = trained
    done = cxrtrain("evaluate", run)
    assert_clean(done, 0)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_images"] == 5 and metrics["skipped_rows"] == 2  # 6 test rows, 1 unreadable (+1 validation)
    assert "row(s) with an unreadable image skipped (test 1×, validation 1×)" in done.stdout
    with open(run / "evaluate_errors.csv", newline="") as handle:
        assert {(r["split"], r["report_id"]) for r in csv.DictReader(handle)} == {("test", "test2"),
                                                                                 ("validation", "validation1")}
    message = one_error_line(cxrtrain("evaluate", run, "--strict"))
    assert "row 1 (report id validation1" in message or "row 2 (report id test2" in message


def test_heatmap_skips_broken_images_and_lists_them(trained, tmp_path):
    _, run, _ = trained
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        (folder / f"good{i}.png").write_bytes(png_bytes(i, 48))
    (folder / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x00" + b"junk" * 8)
    (folder / "broken.png").write_bytes(NOT_A_PNG)
    done = cxrtrain("heatmap", run, folder)
    assert_clean(done, 0)
    assert "2 unreadable image(s) skipped" in done.stderr and "2 image(s) →" in done.stdout
    drawn = {p.name.split("_")[0] for p in (run / "heatmaps").glob("*.png")}
    assert drawn == {"good0.png", "good1.png"}
    with open(run / "heatmaps" / "errors.csv", newline="") as handle:
        listed = {os.path.basename(r["image"]): r["reason"] for r in csv.DictReader(handle)}
    assert set(listed) == {"broken.dcm", "broken.png"} and all(listed.values())
    done = cxrtrain("heatmap", run, folder / "broken.png")  # nothing could be drawn: exit 1, one error line
    assert_clean(done, 1)
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        f"error: none of the 1 image(s) could be read (reasons in {run / 'heatmaps' / 'errors.csv'})"]


def test_user_mistakes_are_one_line_errors(trained, tmp_path):
    dataset, run, _ = trained
    unloadable = write_dataset(tmp_path / "unloadable", sizes=(8, 0, 6), loadable=False)
    no_validation = write_dataset(tmp_path / "no_val", sizes=(8, 0, 6))
    (tmp_path / "a_file").write_text("")
    broken = tmp_path / "broken_run"
    broken.mkdir()
    (broken / "best.pt").write_bytes(b"not a checkpoint")
    outcomes = cxrtrain_together(
        ["fit", unloadable, "--out", tmp_path / "r", *FIT],
        ["fit", dataset, "--out", run, *FIT[:4], "--transition", "4", *FIT[6:], "--resume"],
        ["fit", dataset, "--out", tmp_path / "a_file", *FIT],
        ["evaluate", broken],
        ["evaluate", run, "--dataset", no_validation, "--split", "validation"],
        ["heatmap", run, "test", "--bbox", tmp_path / "missing.csv"])
    expected = ["the dataset cannot be read", "holds another network", "cannot create the run folder",
                "not a readable `cxrtrain fit` checkpoint", "the validation split of", "cannot read the --bbox file"]
    for done, words in zip(outcomes, expected, strict=True):
        assert words in one_error_line(done)
    assert (run / "best.pt").exists() and (run / "errors.csv").exists()  # the refused resume changed nothing
