"""`cxrtrain report RUN`: a tiny run trained, evaluated and drawn here (CPU, seconds), then its HTML page parsed
as a browser would get it: the contract of the shared HTML (section#roc, table#auc with one tr[data-label] per
class, section#heatmaps with figure.heatmap), values as in metrics.json, everything embedded (data: URIs, no
URL), missing pieces named with their command, a folder that is not a run refused in one line."""

import base64
import io
import json
import os
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage
from typer.testing import CliRunner

from cxrtrain.cli import app
from cxrtrain.evaluate import evaluate_run
from cxrtrain.heatmap import heatmap_run
from cxrtrain.report import overlay_uri
from cxrtrain.train import fit
from tests.test_train_fit import NAMES, synthetic_dataset, tiny_config

BOXES = "Image Index,Finding Label,x,y,w,h\ntest1.png,Cardiomegaly,12,12,24,24\ntest3,Effusion,0,38,48,10\n"


class Page(HTMLParser):
    """Every element as (tag, attributes, text inside it), plus where each one sits (its ancestors)."""

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[dict] = []
        self.open: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": "", "parents": list(self.open)}
        self.elements.append(element)
        if tag not in ("img", "meta", "br", "input"):
            self.open.append(element)

    def handle_endtag(self, tag):
        while self.open:
            if self.open.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for element in self.open:
            element["text"] += data

    def find(self, tag, inside=None, **attrs):
        """Elements of `tag` with these attribute values (`class_` for class words), optionally inside `inside`."""
        found = []
        for element in self.elements:
            if element["tag"] != tag or (inside is not None and not any(p is inside for p in element["parents"])):
                continue
            wanted = {("class" if k == "class_" else k): v for k, v in attrs.items()}
            if all((v in element["attrs"].get(k, "").split()) if k == "class" else element["attrs"].get(k) == v
                   for k, v in wanted.items()):
                found.append(element)
        return found

    def one(self, tag, **attrs):
        found = self.find(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A run folder after `fit` only."""
    root = tmp_path_factory.mktemp("report")
    fit(synthetic_dataset(root / "ds"), root / "fitted", tiny_config(epochs=3), log=lambda *_: None)
    return root / "fitted"


@pytest.fixture(scope="module")
def full_run(fitted, tmp_path_factory):
    """A copy of the run, evaluated on test (3 positives make a class count in the mean: `normal` has 2) and drawn
    with gold boxes."""
    root = tmp_path_factory.mktemp("full")
    run = root / "run"
    shutil.copytree(fitted, run)
    evaluate_run(run, min_positives=3, resamples=200)
    (root / "boxes.csv").write_text(BOXES)
    heatmap_run(run, "test", root / "boxes.csv")
    return run


def make_report(run, *options):
    result = CliRunner().invoke(app, ["report", str(run), *options])
    assert result.exit_code == 0, result.output
    return result


def test_report_of_an_evaluated_run_with_heatmaps(full_run):
    result = make_report(full_run)
    html = (full_run / "report.html").read_text(encoding="utf-8")
    assert f"→ {full_run / 'report.html'}" in result.output and "2 of 2 heatmap(s)" in result.output
    page = Page(html)
    metrics = json.loads((full_run / "metrics.json").read_text())
    thresholds = json.loads((full_run / "thresholds.json").read_text())["thresholds"]
    table = page.one("table", id="auc")
    rows = page.find("tr", inside=table)
    labelled = [r for r in rows if "data-label" in r["attrs"]]
    assert [r["attrs"]["data-label"] for r in labelled] == NAMES
    for row in labelled:
        expected = metrics["labels"][row["attrs"]["data-label"]]
        (auc,) = page.find("td", inside=row, class_="auc")
        (ci,) = page.find("td", inside=row, class_="ci95")
        (positives,) = page.find("td", inside=row, class_="positives")
        (threshold,) = page.find("td", inside=row, class_="threshold")
        assert auc["text"] == f"{expected['auc']:.3f}"
        assert [float(ci["attrs"]["data-low"]), float(ci["attrs"]["data-high"])] == expected["ci95"]
        assert f"{expected['ci95'][0]:.3f}" in ci["text"] and f"{expected['ci95'][1]:.3f}" in ci["text"]
        assert int(positives["text"]) == expected["support"]
        assert threshold["text"] == f"{thresholds[row['attrs']['data-label']]:.3f}"
    # normal (2 positives) is listed apart, as evaluate does
    assert metrics["labels_below_min_positives"] == ["normal"]
    assert [r["attrs"]["data-label"] for r in labelled if "excluded" in r["attrs"]["class"].split()] == ["normal"]
    assert page.one("p", id="excluded")["text"].strip().endswith("positives in the split):\nnormal.")
    assert "Youden" in page.one("p", id="thresholds")["text"] and "validation split" in html
    # run summary: the best epoch is the one best.pt holds
    best = torch.load(full_run / "best.pt", weights_only=True)["epoch"] + 1
    summary = page.one("section", id="summary")
    facts = {th["text"]: th["parents"][-1] for th in page.find("th", inside=summary)}
    assert page.find("td", inside=facts["best epoch (best.pt)"])[0]["text"].startswith(f"{best} — validation mean AUC")
    assert page.find("td", inside=facts["epochs trained"])[0]["text"] == "3 of 3"
    assert page.find("td", inside=facts["backbone"])[0]["text"] == "tiny (weights: none)"
    # images embedded, nothing fetched
    images = page.find("img")
    assert len(images) == 4 and all(i["attrs"]["src"].startswith("data:image/") for i in images)
    for image in images:
        kind, content = image["attrs"]["src"].split(",", 1)
        magic = {"data:image/png;base64": b"\x89PNG", "data:image/jpeg;base64": b"\xff\xd8\xff"}[kind]
        assert base64.b64decode(content).startswith(magic)
    assert "http://" not in html and "https://" not in html
    assert not page.find("link") and not [s for s in page.find("script") if "src" in s["attrs"]]
    roc = page.one("section", id="roc")
    (roc_image,) = page.find("img", inside=roc)
    assert base64.b64decode(roc_image["attrs"]["src"].split(",", 1)[1]) == (full_run / "roc.png").read_bytes()
    heatmaps = page.one("section", id="heatmaps")
    figures = page.find("figure", inside=heatmaps, class_="heatmap")
    assert [(f["attrs"]["data-image"], f["attrs"]["data-label"]) for f in figures] == [
        ("test1.png", "Cardiomegaly"), ("test3", "Effusion")]
    assert len(figures) == len(list((full_run / "heatmaps").glob("*.png")))
    for figure in figures:  # the overlay (gold and predicted boxes drawn by `heatmap`), as drawn or as JPEG
        (image,) = page.find("img", inside=figure)
        drawn = full_run / "heatmaps" / f"{figure['attrs']['data-image']}_{figure['attrs']['data-label']}.png"
        shown = base64.b64decode(image["attrs"]["src"].split(",", 1)[1])
        assert shown == drawn.read_bytes() or len(shown) < drawn.stat().st_size
        with Image.open(io.BytesIO(shown)) as embedded, Image.open(drawn) as original:
            assert embedded.size == original.size
    localisation = page.find("table", class_="localisation")
    assert [t["attrs"]["data-cut"] for t in localisation] == ["heatmap>60", "heatmap>180"]
    assert "Not evaluated" not in html and "No heatmaps" not in html


def test_heatmap_grid_is_capped_and_says_so(full_run, tmp_path):
    out = tmp_path / "small.html"
    result = make_report(full_run, "--out", str(out), "--max-heatmaps", "1")
    assert "1 of 2 heatmap(s)" in result.output
    page = Page(out.read_text(encoding="utf-8"))
    assert len(page.find("figure", class_="heatmap")) == 1
    count = " ".join(page.one("p", id="heatmap-count")["text"].split())
    assert count.startswith("1 of 2 overlay(s)") and "at most 1, set with --max-heatmaps" in count


def test_overlays_are_embedded_as_jpeg_only_when_smaller(tmp_path):
    rng = np.random.default_rng(0)
    photo = ndimage.gaussian_filter(rng.normal(128, 60, (540, 712, 3)), (2, 2, 0)).clip(0, 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")  # X-ray-like texture: PNG large, JPEG far smaller
    Image.fromarray(np.full((540, 712, 3), 200, np.uint8)).save(tmp_path / "flat.png")  # PNG tiny
    kind, content = overlay_uri(tmp_path / "photo.png").split(",", 1)
    assert kind == "data:image/jpeg;base64"
    assert len(base64.b64decode(content)) < (tmp_path / "photo.png").stat().st_size / 3
    with Image.open(io.BytesIO(base64.b64decode(content))) as shown:
        assert shown.size == (712, 540) and np.abs(np.asarray(shown, float) - photo).mean() < 6
    kind, content = overlay_uri(tmp_path / "flat.png").split(",", 1)
    assert kind == "data:image/png;base64" and base64.b64decode(content) == (tmp_path / "flat.png").read_bytes()


def test_damaged_and_outdated_files_are_noted_on_the_page(full_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(full_run, run)
    (run / "heatmaps" / "test5_normal.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    make_report(run)
    page = Page((run / "report.html").read_text(encoding="utf-8"))
    assert len(page.find("figure", class_="heatmap")) == 2
    notes = [" ".join(p["text"].split()) for p in page.find("p", class_="note")]
    assert "heatmaps/test5_normal.png could not be read (UnidentifiedImageError); not shown." in notes
    assert not any("drawn before" in note for note in notes)
    later = (run / "best.pt").stat().st_mtime + 60  # a new training after the heatmaps were drawn
    os.utime(run / "best.pt", (later, later))
    make_report(run)
    notes = [" ".join(p["text"].split()) for p in Page((run / "report.html").read_text()).find("p", class_="note")]
    assert f"3 overlay(s) were drawn before the current best.pt was saved (an earlier training); rerun cxrtrain " \
           f"heatmap {run} test --bbox BOXES.csv to redraw them." in notes
    assert f"metrics.json was written before the current best.pt was saved (training went on with --resume); rerun " \
           f"cxrtrain evaluate {run} --split test." in notes


def test_run_without_evaluate_or_heatmaps_names_the_commands(fitted, tmp_path):
    out = tmp_path / "report.html"
    result = make_report(fitted, "--out", str(out))
    assert f"note: Not evaluated yet: run `cxrtrain evaluate {fitted} --split test`" in result.output
    html = out.read_text(encoding="utf-8")
    page = Page(html)
    assert not page.find("table", id="auc") and not page.find("figure", class_="heatmap")
    assert f"cxrtrain evaluate {fitted} --split test" in page.one("section", id="roc")["text"]
    assert f"cxrtrain heatmap {fitted} test --bbox BOXES.csv" in page.one("section", id="heatmaps")["text"]
    assert page.find("img", inside=page.one("section", id="summary"))  # the training curve is there already
    assert not (fitted / "report.html").exists()


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    for target in (tmp_path, tmp_path / "missing"):
        result = CliRunner().invoke(app, ["report", str(target)])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.output.startswith(f"error: {target}: ") and result.output.count("\n") == 1
    assert "not a cxrtrain run folder" in CliRunner().invoke(app, ["report", str(tmp_path)]).output
    (tmp_path / "config.json").write_text("{\n  broken")
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and result.output.startswith(f"error: {tmp_path / 'config.json'}:2: not valid JSON")


def test_an_ensemble_folder_has_its_table_and_points_to_a_member_for_heatmaps(fitted, full_run, tmp_path):
    folder = tmp_path / "ensemble"
    folder.mkdir()
    evaluate_run(folder, min_positives=3, resamples=50, members=[fitted, full_run])
    result = make_report(folder)
    page = Page((folder / "report.html").read_text(encoding="utf-8"))
    assert [r["attrs"]["data-label"] for r in page.find("tr", inside=page.one("table", id="auc"))
            if "data-label" in r["attrs"]] == NAMES
    assert f"ensemble of{fitted}, {full_run}" in page.one("section", id="summary")["text"].replace("\n", "")
    assert f"No heatmaps yet: run `cxrtrain heatmap {fitted} test --bbox BOXES.csv` (or without --bbox for the " \
           "top-scoring labels of each image) on a member run" in result.output
    assert "train_log" not in result.output  # an ensemble has no training of its own to report
