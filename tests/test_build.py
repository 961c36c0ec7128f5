"""Dataset builder: DICOM decoding (compressed syntaxes, MONOCHROME1), pairing, PHI removal, faults, resume."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from datasets import load_from_disk
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from cxrlabel.build.images import ImageError, read_image, to_square_png
from cxrlabel.build.splits import assign_split
from cxrlabel.cli import app

PHI = ["DOE^JOHN", "DOE_JOHN", "19450101", "SAINT EXAMPLE HOSPITAL", "DR^WHO", "MRN-778899"]


@pytest.mark.parametrize("name", ["CT_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                  "JPGExtended.dcm", "SC_rgb_jpeg.dcm"])
def test_compressed_and_plain_dicom_decode(name):
    image = read_image(Path(get_testdata_file(name)))
    assert image.pixels.ndim == 2 and 0.0 <= image.pixels.min() < image.pixels.max() <= 1.0


def test_monochrome1_is_inverted(tmp_path):
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dataset.PhotometricInterpretation = "MONOCHROME1"
    for key in ("WindowCenter", "WindowWidth"):
        if key in dataset:
            delattr(dataset, key)
    path = tmp_path / "m1.dcm"
    dataset.save_as(path)
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.save_as(tmp_path / "m2.dcm")
    inverted, plain = read_image(path).pixels, read_image(tmp_path / "m2.dcm").pixels
    assert np.allclose(inverted, 1.0 - plain)


def test_faulty_inputs_raise_image_errors(tmp_path):
    with pytest.raises(ImageError, match="no pixel data"):
        read_image(Path(get_testdata_file("rtplan.dcm")))
    with pytest.raises(ImageError):
        read_image(Path(get_testdata_file("MR_truncated.dcm")))
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom at all")
    with pytest.raises(ImageError):
        read_image(junk)


def test_square_png_keeps_aspect_with_padding():
    from io import BytesIO

    from PIL import Image

    png = to_square_png(np.ones((50, 100)), 64, 8)
    image = np.asarray(Image.open(BytesIO(png)))
    assert image.shape == (64, 64)
    assert image[0].max() == 0 and image[32].min() == 255  # black bands above, content in the middle
    assert Image.open(BytesIO(to_square_png(np.ones((10, 10)), 32, 16))).mode.startswith("I")


def test_split_is_by_patient_and_seeded():
    ratios = (0.7, 0.1, 0.2)
    splits = [assign_split(f"p{i}", ratios, 0) for i in range(2000)]
    assert splits == [assign_split(f"p{i}", ratios, 0) for i in range(2000)]
    assert 0.65 < splits.count("train") / 2000 < 0.75
    assert splits != [assign_split(f"p{i}", ratios, 1) for i in range(2000)]


def make_phi_study(tmp_path):
    """Three studies as DICOM files carrying fake PHI (name in file name and tags), a lateral, a broken file."""
    images = tmp_path / "images"
    images.mkdir()
    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for index, (accession, view) in enumerate([("r1", "PA"), ("r2", "AP"), ("r3", "PA"), ("r1", "LATERAL")]):
        dataset = source.copy()
        dataset.PatientName = "DOE^JOHN"
        dataset.PatientBirthDate = "19450101"
        dataset.InstitutionName = "SAINT EXAMPLE HOSPITAL"
        dataset.ReferringPhysicianName = "DR^WHO"
        dataset.PatientID = "MRN-778899" if accession != "r3" else "MRN-OTHER"
        dataset.AccessionNumber = accession
        dataset.ViewPosition = view
        dataset.save_as(images / f"DOE_JOHN_{index}.dcm")
    (images / "DOE_JOHN_broken.dcm").write_bytes(b"DICM broken")
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "Effusion", "normal"])
        writer.writerows([["r1", "1", "0"], ["r2", "-1", "0"], ["r3", "", "1"], ["r4", "0", "1"]])
    return images, labels


def test_build_from_dicom_tags_removes_phi(tmp_path):
    images, labels = make_phi_study(tmp_path)
    out = tmp_path / "dataset"
    result = CliRunner().invoke(app, ["build", "--labels", str(labels), "--images", str(images), "--out", str(out),
                                      "--id-salt", "s3cret", "--size", "64", "--views", "frontal"])
    assert result.exit_code == 0, result.output
    dataset = load_from_disk(str(out))
    rows = [row for split in dataset.values() for row in split]
    assert sorted(r["report_id"] for r in rows) == ["r1", "r2", "r3"]  # lateral dropped, broken file reported
    names = dataset["train"].features["labels"].feature.names
    assert names == ["Effusion", "normal"]
    r1 = next(r for r in rows if r["report_id"] == "r1")
    assert r1["labels"] == [0] and r1["label_states"] == ["positive", "negative"] and r1["view"] == "PA"
    assert r1["image"].size == (64, 64)
    patients = {r["report_id"]: r["patient_id"] for r in rows}
    assert patients["r1"] == patients["r2"] != patients["r3"]
    split_of = {r["report_id"]: s for s, d in dataset.items() for r in d}
    assert split_of["r1"] == split_of["r2"]  # same patient, same split
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in PHI + ["s3cret"]:
                assert secret.encode() not in data, f"{secret} found in {path}"
    errors = list(csv.DictReader(open(out.with_name("dataset.errors.csv"))))
    reasons = {e["report_id"] or e["source"]: e["reason"] for e in errors}
    assert any("DICOM" in reason for reason in reasons.values())  # the broken file, with its reason
    assert reasons["r4"] == "report without an image"


def test_manifest_missing_file_and_resume(tmp_path):
    images = tmp_path / "png"
    images.mkdir()
    from PIL import Image

    Image.fromarray((np.arange(64 * 48).reshape(48, 64) % 255).astype(np.uint8)).save(images / "a.png")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("uid,filename,projection\n1,a.png,Frontal\n2,missing.png,Frontal\n9,a.png,Frontal\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("id,Cardiomegaly\n1,1\n2,0\n")
    out = tmp_path / "ds"
    args = ["build", "--labels", str(labels), "--images", str(images), "--manifest", str(manifest), "--out", str(out),
            "--id-salt", "k", "--size", "32", "--shard-size", "1"]
    assert CliRunner().invoke(app, args).exit_code == 0
    errors = {e["report_id"]: e["reason"] for e in csv.DictReader(open(tmp_path / "ds.errors.csv"))}
    assert errors["2"] == "file not found" and "without a report" in errors["9"]
    assert sum(d.num_rows for d in load_from_disk(str(out)).values()) == 1
    shutil.rmtree(out / "train", ignore_errors=True)
    result = CliRunner().invoke(app, args + ["--resume"])
    assert result.exit_code == 0
    assert sum(d.num_rows for d in load_from_disk(str(out)).values()) == 1
    assert json.loads((out / "summary.json").read_text())["label_names"] == ["Cardiomegaly"]


def test_build_requires_salt(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("id,Cardiomegaly\n1,1\n")
    result = CliRunner().invoke(app, ["build", "--labels", str(labels), "--out", str(tmp_path / "o")], env={})
    assert result.exit_code == 2 and "--id-salt" in result.output
