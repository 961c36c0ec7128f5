"""`cxrtrain heatmap --bbox` with NIH's box file format: rows matched to images with or without extension, by a
split row's report id or source file name; class aliases (NIH's `Infiltrate`, label set aliases); boxes in NIH's
1024-px space scaled to 64-px stored images; every unused box named with its reason; the gold box drawn in the
overlay; localisation.json / .png. Tiny dataset and model written here (CPU, seconds)."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Sequence, Value
from PIL import Image as PILImage
from typer.testing import CliRunner

from cxrlabel.labelsets import load_label_set
from cxrlabel.resources import rules_path
from cxrtrain.cli import app
from cxrtrain.data import Preprocessing
from cxrtrain.gold_boxes import Box, image_key, label_resolver, parse_box_size, to_stored
from cxrtrain.heatmap import IOBB_THRESHOLDS, OVERLAY_SIDE, OVERLAY_TITLE
from cxrtrain.train import TrainConfig, fit

NIH = Path(__file__).resolve().parents[2] / "shared" / "data" / "nih_cxr14"
NAMES = load_label_set("chestxray14").names
SIZE = 64
# test split: (report id, source path, labels, original width, height)
TEST_ROWS = [("00000032_037", "img/a0.png", ["Infiltration"], None, None),  # report id without extension
             ("r1", "img/00000072_000.png", ["Atelectasis", "Consolidation"], None, None),  # source file name
             ("00000147_001.png", "img/a2.png", ["Mass"], None, None),  # report id with extension
             ("r3", "img/a3.png", ["Effusion"], 2000, 1000)]  # a 2000 x 1000 source padded to a 64-px square
NIH_BOXES = """Image Index,Finding Label,Bbox [x,y,w,h],,,
00000032_037.png,Infiltrate,339.166137566138,119.195767195767,172.292063492064,351.085714285714
00000072_000.png,Atelectasis,356.503703703704,567.805291005291,127.86455026455,82.3534391534392
00000072_000.png,Opacity,100,100,200,300
00000147_001.png,Tumour,617.650793650794,599.22962962963,100.774603174603,179.877248677249
00000147_001.png,Lung Lesion,600,600,100,100
00099999_000.png,Mass,10,10,20,20
00000032_037.png,Nodule,n/a,1,2,3
"""


def write_dataset(root: Path) -> str:
    """Random 64-px grey images with the ChestX-ray14 labels; summary.json names a label set YAML that declares
    aliases (top-level `Opacity` → Consolidation, `Tumour` on Mass)."""
    rng = np.random.default_rng(0)
    features = Features({"image": Image(), "labels": Sequence(ClassLabel(names=NAMES)),
                         "report_id": Value("string"), "patient_id": Value("string"), "source_path": Value("string"),
                         "original_width": Value("int32"), "original_height": Value("int32")})
    splits = {}
    for split, count in (("train", 12), ("validation", 6), ("test", len(TEST_ROWS))):
        rows = {name: [] for name in features}
        for i in range(count):
            report, source, labels, width, height = (TEST_ROWS[i] if split == "test" else
                                                     (f"{split}{i}", f"img/{split}{i}.png", [NAMES[i % 3]], None, None))
            pixels = rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
            rows["image"].append(PILImage.fromarray(pixels, mode="L"))
            rows["labels"].append([NAMES.index(label) for label in labels])
            rows["report_id"].append(report)
            rows["patient_id"].append(f"p{split}{i}")
            rows["source_path"].append(source)
            rows["original_width"].append(width)
            rows["original_height"].append(height)
        splits[split] = Dataset.from_dict(rows, features=features)
    folder = root / "ds"
    DatasetDict(splits).save_to_disk(str(folder))
    text = rules_path("labelsets", "chestxray14.yml").read_text(encoding="utf-8")
    text = text.replace("{name: Mass, findings: [mass]}", "{name: Mass, findings: [mass], aliases: [Tumour]}")
    assert "aliases: [Tumour]" in text
    label_set = root / "labels_with_aliases.yml"
    label_set.write_text(text + "aliases: {Opacity: Consolidation}\n", encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps({"label_set": str(label_set)}))
    return str(folder)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("nih_boxes")
    config = TrainConfig(backbone="tiny", pretrained="none", transition=8, epochs=1, batch_size=6, patience=5,
                         prep=Preprocessing(resize=40, crop=32))
    fit(write_dataset(root), root / "run", config, log=lambda *_: None)
    (root / "boxes.csv").write_text(NIH_BOXES)
    return root


def fresh_run(root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(root / "run", copy)
    return copy


def gold_pixel_near(png: Path, x: float, y: float, scale: float, tolerance: int = 2) -> bool:
    """Whether the overlay has a pure gold-colour (red) pixel within `tolerance` px of image point (x, y)."""
    rgb = np.asarray(PILImage.open(png).convert("RGB")).astype(int)
    col, row = round(x * scale), round(OVERLAY_TITLE + y * scale)
    window = rgb[max(row - tolerance, 0):row + tolerance + 1, max(col - tolerance, 0):col + tolerance + 1]
    return bool(((window[..., 0] > 200) & (window[..., 1] < 60) & (window[..., 2] < 60)).any())


def test_names_aliases_sizes_and_scaling():
    assert {image_key(n) for n in ("00000032_037.png", "00000032_037", "a/b/00000032_037.PNG")} == {"00000032_037"}
    assert image_key("3_IM-1384-1001.dcm.png") == "3_IM-1384-1001"
    resolve = label_resolver(NAMES, {"Infiltrate": "Infiltration", "Tumour": "Mass", "Ghost": "NotALabel"})
    assert [resolve(c) for c in ("Infiltrate", "infiltration", "Pleural Thickening", "tumour", "Ghost", "Lesion")] \
        == ["Infiltration", "Infiltration", "Pleural_Thickening", "Mass", None, None]
    assert parse_box_size("1024") == (1024, 1024) and parse_box_size("2048x2500") == (2048, 2500)
    assert to_stored(Box(512, 256, 64, 32), (1024, 1024), (64, 64)) == Box(32, 16, 4, 2)  # NIH 1024 → 64: / 16
    assert to_stored(Box(1000, 500, 200, 100), (2000, 1000), (64, 64)) == Box(32, 32, 6.4, 3.2)  # padded: top 16


def test_nih_box_file_on_a_split(run, tmp_path):
    folder = fresh_run(run, tmp_path)
    result = CliRunner().invoke(app, ["heatmap", str(folder), "test", "--bbox", str(run / "boxes.csv")])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: box at line")]
    assert warnings == [
        "warning: box at line 6 (00000147_001.png, Lung Lesion) not used: "
        "class 'Lung Lesion' is not a label of the run",
        "warning: box at line 7 (00099999_000.png, Mass) not used: image not in test",
        "warning: box at line 8 (00000032_037.png, Nodule) not used: x, y, w, h are not 4 numbers"]
    assert "warning: 3 gold box(es) not used in all" in result.stderr
    assert "warning: 1 box(es) not used: image not in test" in result.stderr
    with open(folder / "heatmaps" / "boxes_dropped.csv", newline="") as handle:
        assert [(r["line"], r["label"]) for r in csv.DictReader(handle)] == [
            ("6", "Lung Lesion"), ("7", "Mass"), ("8", "Nodule")]
    assert "4 gold box(es) drawn (4 from 1024x1024 px" in result.stdout
    drawn = sorted(p.name for p in (folder / "heatmaps").glob("*.png"))
    assert drawn == ["00000032_037.png_Infiltration.png", "00000072_000.png_Atelectasis.png",
                     "00000072_000.png_Consolidation.png", "00000147_001.png_Mass.png"]
    # the Infiltrate box (339, 119, 172, 351 in 1024 px) is drawn at / 16 on the 64-px image
    scale = OVERLAY_SIDE / SIZE
    overlay = folder / "heatmaps" / "00000032_037.png_Infiltration.png"
    x, y, w, h = 339.166137566138 / 16, 119.195767195767 / 16, 172.292063492064 / 16, 351.085714285714 / 16
    for px, py in ((x, y), (x + w, y + h), (x + w / 2, y), (x, y + h / 2)):
        assert gold_pixel_near(overlay, px, py, scale)
    assert not gold_pixel_near(overlay, x + w / 2, y + h / 2, scale)
    assert not gold_pixel_near(folder / "heatmaps" / "00000072_000.png_Atelectasis.png", x, y, scale)
    localisation = json.loads((folder / "localisation.json").read_text())
    assert set(localisation) == {"heatmap>60", "heatmap>180"}
    for table in localisation.values():
        assert set(table) == {f"{m}>={t}" for m in ("iobb", "iou") for t in IOBB_THRESHOLDS}
        for row in table.values():
            assert set(row) == {"Infiltration", "Atelectasis", "Consolidation", "Mass"}
            assert all(r["images"] == 1 and r["accuracy"] in (0.0, 1.0) and r["avg_false_positives"] >= 0
                       for r in row.values())
        accuracy = [table[f"iobb>={t}"]["Infiltration"]["accuracy"] for t in IOBB_THRESHOLDS]
        assert accuracy == sorted(accuracy, reverse=True)  # a stricter overlap never hits more
    assert (folder / "localisation.png").stat().st_size > 10_000


def test_box_space_from_the_dataset_and_from_the_option(run, tmp_path):
    folder = fresh_run(run, tmp_path)
    plain = tmp_path / "plain.csv"  # not NIH's file: coordinates in the source image (the row's original size)
    plain.write_text("Image Index,Finding Label,x,y,w,h\nr3,Effusion,1000,500,200,100\n")
    result = CliRunner().invoke(app, ["heatmap", str(folder), "test", "--bbox", str(plain)])
    assert result.exit_code == 0, result.output
    assert "1 gold box(es) drawn (1 from 2000x1000 px" in result.stdout
    assert not (folder / "heatmaps" / "boxes_dropped.csv").exists()
    overlay = folder / "heatmaps" / "r3_Effusion.png"
    scale = OVERLAY_SIDE / SIZE
    assert gold_pixel_near(overlay, 32, 32, scale) and gold_pixel_near(overlay, 38.4, 35.2, scale)
    # --bbox-size 64: the 1024-px NIH coordinates taken as 64-px ones end outside the image, and say so
    result = CliRunner().invoke(app, ["heatmap", str(folder), "test", "--bbox", str(run / "boxes.csv"),
                                      "--bbox-size", "64"])
    assert result.exit_code == 0, result.output
    assert "4 gold box(es) drawn (4 from 64x64 px" in result.stdout
    assert result.stderr.count("ends outside the 64x64 image after scaling from 64x64; check --bbox-size") == 4
    result = CliRunner().invoke(app, ["heatmap", str(folder), "test", "--bbox", str(run / "boxes.csv"),
                                      "--max-images", "1"])
    assert result.exit_code == 0, result.output
    assert "warning: 3 box(es) not used: image beyond --max-images 1" in result.stderr
    result = CliRunner().invoke(app, ["heatmap", str(folder), "test", "--bbox", str(plain), "--bbox-size", "big"])
    assert result.exit_code == 2 and result.output.startswith("error: --bbox-size 'big'")


def test_folder_target_and_nothing_to_match(run, tmp_path):
    folder = fresh_run(run, tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    for name in ("00000032_037.png", "00000211_016.png"):
        PILImage.fromarray(np.full((SIZE, SIZE), 90, np.uint8), mode="L").save(images / name)
    (images / "00000072_000.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = CliRunner().invoke(app, ["heatmap", str(folder), str(images), "--bbox", str(run / "boxes.csv")])
    assert result.exit_code == 0, result.output
    assert "warning: 2 box(es) not used: image unreadable (see" in result.stderr
    assert sorted(p.name for p in (folder / "heatmaps").glob("*.png")) == ["00000032_037.png_Infiltration.png"]
    assert f"warning: 2 box(es) not used: image not in {images}" in result.stderr
    (images / "00000072_000.png").unlink()
    (images / "00000032_037.png").rename(images / "other.png")
    result = CliRunner().invoke(app, ["heatmap", str(folder), str(images), "--bbox", str(run / "boxes.csv")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "that has a gold box: the box file names e.g. 00000032_037.png" in result.stderr
    assert "has e.g. 00000211_016.png, other.png" in result.stderr
    assert "boxes of Lung Lesion were left out (not labels of the run)" in result.stderr


@pytest.mark.skipif(not (NIH / "BBox_List_2017.csv").is_file(), reason="shared NIH data absent")
def test_real_nih_box_file(run, tmp_path):
    """NIH's own box file against the 1,000 staged 64-px images (9 of them have boxes, 2 of class Infiltrate) and
    the 54 larger ones (none has a box)."""
    folder = fresh_run(run, tmp_path)
    bbox = str(NIH / "BBox_List_2017.csv")
    result = CliRunner().invoke(app, ["heatmap", str(folder), str(NIH / "images"), "--bbox", bbox])
    assert result.exit_code == 0, result.output
    assert "9 image(s) →" in result.stdout and "9 gold box(es) drawn (9 from 1024x1024 px" in result.stdout
    assert "warning: 975 gold box(es) not used in all" in result.stderr and "ends outside" not in result.stderr
    drawn = [p.name for p in (folder / "heatmaps").glob("*.png")]
    assert len(drawn) == 9 and sorted(n for n in drawn if "Infiltration" in n) == [
        "00000032_037.png_Infiltration.png", "00000211_016.png_Infiltration.png"]
    table = json.loads((folder / "localisation.json").read_text())["heatmap>60"]["iobb>=0.1"]
    assert {label: row["images"] for label, row in table.items()} == {"Atelectasis": 5, "Infiltration": 2,
                                                                      "Pneumonia": 2}
    result = CliRunner().invoke(app, ["heatmap", str(folder), str(NIH / "images_hr"), "--bbox", bbox])
    assert result.exit_code == 2 and "that has a gold box" in result.stderr
