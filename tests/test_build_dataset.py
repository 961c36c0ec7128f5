"""Dataset builder end to end: DICOM-tag and manifest pairing, PHI removal (byte grep), faults in errors.csv,
patient-level splits, text-only OpenI build, resume of an interrupted build, 2 workers."""

import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from datasets import load_from_disk
from PIL import Image
from pydicom.data import DATA_ROOT
from typer.testing import CliRunner

from cxrlabel.cli import app
from cxrlabel.errors import UserError
from cxrlabel.imageset.dataset import BuildOptions, DatasetBuilder
from cxrlabel.imageset.labels import read_labels
from cxrlabel.imageset.outdir import WORK
from cxrlabel.imageset.splits import assign_split

DATA = Path(__file__).parent / "data" / "build_openi"
PHI = ["DOE^JOHN", "DOE_JOHN", "JOHN", "19450101", "SAINT EXAMPLE HOSPITAL", "DR^WHO", "MRN-778899", "MRN-OTHER",
       "ACC-SECRET"]


def bundled(name: str) -> Path:
    path = Path(DATA_ROOT) / "test_files" / name
    if not path.is_file():
        pytest.skip(f"{name} is not bundled with this pydicom")
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, ["build", *args])


def rows_of(out: Path) -> list[dict]:
    dataset = load_from_disk(str(out))
    return [dict(row, split=split) for split, part in dataset.items() for row in part]


def errors_of(out: Path) -> list[dict]:
    with open(out / "errors.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_labels(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def png_studies(tmp_path: Path, count: int, brightness_step: int, patients_per_study: int) -> tuple[Path, Path]:
    """`count` flat grey 20×30 PNG studies s0, s1 ... (PA; patient P<index // patients_per_study>) with manifest
    tmp_path/m.csv and a labels.csv where every odd study has Mass: the image folder and the labels file."""
    images = tmp_path / "png"
    images.mkdir()
    manifest_rows, label_rows = ["report_id,path,view,patient_id"], []
    for index in range(count):
        Image.fromarray(np.full((20, 30), index * brightness_step, np.uint8)).save(images / f"{index}.png")
        manifest_rows.append(f"s{index},{index}.png,PA,P{index // patients_per_study}")
        label_rows.append([f"s{index}", str(index % 2)])
    (tmp_path / "m.csv").write_text("\n".join(manifest_rows) + "\n")
    return images, write_labels(tmp_path / "labels.csv", ["id", "Mass"], label_rows)


def make_phi_studies(tmp_path: Path) -> tuple[Path, Path]:
    """DICOMs with fake PHI in tags and file names: r1 PA + lateral and r2 AP of one patient, r3 of another
    (MONOCHROME1, JPEG 2000 pixels), a truncated file, a file without pixels, an image of an unknown study."""
    images = tmp_path / "images" / "DOE_JOHN"
    images.mkdir(parents=True)
    plain = pydicom.dcmread(bundled("CT_small.dcm"))
    compressed = pydicom.dcmread(bundled("MR_small_jp2klossless.dcm"))
    studies = [("r1", "PA", plain), ("r2", "AP", plain), ("r3", "PA", compressed), ("r1", "LL", plain),
               ("ACC-SECRET", "PA", plain)]
    for index, (accession, view, source) in enumerate(studies):
        dataset = source.copy()
        dataset.PatientName = "DOE^JOHN"
        dataset.PatientBirthDate = "19450101"
        dataset.InstitutionName = "SAINT EXAMPLE HOSPITAL"
        dataset.ReferringPhysicianName = "DR^WHO"
        dataset.PatientID = "MRN-OTHER" if accession == "r3" else "MRN-778899"
        dataset.AccessionNumber = accession
        dataset.ViewPosition = view
        if accession == "r3":
            dataset.PhotometricInterpretation = "MONOCHROME1"
        dataset.save_as(images / f"DOE_JOHN_{index}.dcm")
    raw = (images / "DOE_JOHN_0.dcm").read_bytes()
    (images / "DOE_JOHN_truncated.dcm").write_bytes(raw[: len(raw) - 4000])
    no_pixels = plain.copy()
    del no_pixels.PixelData
    no_pixels.AccessionNumber, no_pixels.PatientName = "r2", "DOE^JOHN"
    no_pixels.save_as(images / "DOE_JOHN_nopixels.dcm")
    labels = write_labels(tmp_path / "labels.csv", ["id", "Effusion", "normal"],
                          [["r1", "1", "0"], ["r2", "-1", "0"], ["r3", "", "1"], ["r4", "0", "1"]])
    return images.parent, labels


def test_dicom_tag_build_has_the_features_and_no_phi(tmp_path):
    images, labels = make_phi_studies(tmp_path)
    out = tmp_path / "dataset"
    result = invoke("--labels", str(labels), "--images", str(images), "--out", str(out), "--id-salt", "s3cret-key",
                    "--size", "64", "--views", "frontal", "--source-map", str(tmp_path / "sources.csv"),
                    "--keep-report-ids")  # ids from DICOM tags are hashed by default (tests/test_phi.py)
    assert result.exit_code == 0, result.output
    dataset = load_from_disk(str(out))
    assert set(dataset) == {"train", "validation", "test"}
    features = dataset["train"].features
    assert features["labels"].feature.names == ["Effusion", "normal"]
    assert {"image", "label_states", "report_id", "patient_id", "view", "source_path"} <= set(features)
    assert "findings" not in features and "impression" not in features  # no free text without --text
    rows = rows_of(out)
    assert sorted(r["report_id"] for r in rows) == ["r1", "r2", "r3"]  # lateral left out, faulty files reported
    by_id = {r["report_id"]: r for r in rows}
    assert by_id["r1"]["labels"] == [0] and by_id["r1"]["label_states"] == ["positive", "negative"]
    assert by_id["r2"]["labels"] == [] and by_id["r2"]["label_states"] == ["uncertain", "negative"]
    assert by_id["r3"]["labels"] == [1] and by_id["r3"]["label_states"] == ["", "positive"]
    assert by_id["r1"]["view"] == "PA" and by_id["r2"]["view"] == "AP"
    assert by_id["r1"]["image"].size == (64, 64)
    assert by_id["r1"]["patient_id"] == by_id["r2"]["patient_id"] != by_id["r3"]["patient_id"]
    assert by_id["r1"]["split"] == by_id["r2"]["split"]  # one patient, one split
    assert by_id["r1"]["source_path"].startswith("img_") and by_id["r1"]["source_path"].endswith(".dcm")
    # every byte of the output folder is free of the fake PHI, the original names and the secret
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and (out / "README.md").is_file()
    for path in files:
        data = path.read_bytes()
        for secret in [*PHI, "s3cret-key", str(images)]:
            assert secret.encode() not in data, f"{secret} found in {path}"
    reasons = {e["source"] or e["report_id"]: e["reason"] for e in errors_of(out)}
    assert reasons["r4"] == "report without an image"
    assert sum("image without a report" in r for r in reasons.values()) == 1  # ACC-SECRET's image
    assert sum("cannot be decoded" in r for r in reasons.values()) == 1  # the truncated copy
    assert sum(r == "DICOM has no pixel data" for r in reasons.values()) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["excluded_views"] == 1 and summary["errors"] == len(reasons)
    assert summary["patient_id_from"] == {"DICOM PatientID": 3}
    assert sum(s["positive"]["Effusion"] for s in summary["splits"].values()) == 1
    assert sum(s["uncertain"]["Effusion"] for s in summary["splits"].values()) == 1
    # the data holder's map (outside the dataset) leads back from re-keyed names to the files
    sources = {row["source_path"]: row["original"] for row in csv.DictReader(open(tmp_path / "sources.csv"))}
    assert Path(sources[by_id["r3"]["source_path"]]).name == "DOE_JOHN_2.dcm"


def test_monochrome1_and_compressed_study_is_inverted_in_the_dataset(tmp_path):
    images, labels = make_phi_studies(tmp_path)
    out = tmp_path / "ds"
    assert invoke("--labels", str(labels), "--images", str(images), "--out", str(out), "--id-salt", "k",
                  "--size", "64", "--keep-report-ids").exit_code == 0
    image = np.asarray(next(r for r in rows_of(out) if r["report_id"] == "r3")["image"], dtype=np.float32) / 255
    reference = pydicom.dcmread(bundled("MR_small_jp2klossless.dcm"))
    from cxrlabel.imageset.images import read_dicom

    plain = read_dicom(bundled("MR_small_jp2klossless.dcm")).pixels
    assert reference.PhotometricInterpretation == "MONOCHROME2"
    assert np.corrcoef(image.ravel(), (1 - plain).ravel())[0, 1] > 0.95  # 64×64 source at 64²: same grid


def make_png_study(tmp_path: Path) -> tuple[Path, Path, Path]:
    images = tmp_path / "png"
    images.mkdir()
    for name in ("a.png", "b.png", "c.png", "d.png"):
        Image.fromarray((np.arange(48 * 64).reshape(48, 64) % 251).astype(np.uint8)).save(images / name)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("uid,filename,projection,patient_id\n1,a.png,Frontal,P1\n1,b.png,Lateral,P1\n"
                        "2,missing.png,Frontal,P2\n9,c.png,Frontal,P9\n3,d.png,,P3\n3,d.png,,P3\n")
    labels = write_labels(tmp_path / "labels.csv", ["id", "Cardiomegaly", "Edema"],
                          [["1", "1", "-1"], ["2", "0", ""], ["3", "1.0", "1"], ["4", "yes", "1"], ["1", "0", "0"]])
    return images, manifest, labels


def test_manifest_faults_views_and_label_file_problems(tmp_path):
    images, manifest, labels = make_png_study(tmp_path)
    out = tmp_path / "ds"
    result = invoke("--labels", str(labels), "--images", str(images), "--manifest", str(manifest), "--out", str(out),
                    "--id-salt", "k", "--size", "32", "--views", "frontal")
    assert result.exit_code == 0, result.output
    rows = rows_of(out)
    assert [r["report_id"] for r in rows] == ["1"]  # b lateral out, 2 missing, 9 no report, 3 view unknown
    assert rows[0]["label_states"] == ["positive", "uncertain"] and rows[0]["view"] == "Frontal"
    assert json.loads((out / "summary.json").read_text())["patient_id_from"] == {"manifest": 1}
    errors = errors_of(out)
    by_report = {}
    for error in errors:
        by_report.setdefault(error["report_id"], []).append(error["reason"])
    assert by_report["2"] == ["file not found"]
    assert by_report["9"] == ["image without a report in labels.csv"]
    assert "duplicate manifest row (skipped)" in by_report["3"]
    assert any("view unknown" in reason for reason in by_report["3"])
    assert any("line 5" in reason for reason in by_report["4"])  # "yes" is not a label value
    assert any("duplicate report id" in reason for reason in by_report["1"])
    assert all("missing.png" not in e["source"] and "c.png" not in e["source"] for e in errors)
    # --views all keeps the lateral and the view-less image
    out_all = tmp_path / "all"
    assert invoke("--labels", str(labels), "--images", str(images), "--manifest", str(manifest), "--out",
                  str(out_all), "--id-salt", "k", "--size", "32").exit_code == 0
    assert sorted((r["report_id"], r["view"]) for r in rows_of(out_all)) == [("1", "Frontal"), ("1", "Lateral"),
                                                                            ("3", "")]


def test_text_only_openi_build_with_reports_and_projections(tmp_path):
    out = tmp_path / "openi"
    args = ["--labels", str(DATA / "labels.csv"), "--reports", str(DATA / "reports.csv"), "--text",
            "findings,impression", "--out", str(out), "--id-salt", "k", "--split", "60/20/20"]
    assert invoke(*args).exit_code == 0
    dataset = load_from_disk(str(out))
    assert "image" not in dataset["train"].features
    names, labels, _ = read_labels(DATA / "labels.csv")
    assert dataset["train"].features["labels"].feature.names == names
    rows = rows_of(out)
    assert len(rows) == 30 and {r["report_id"] for r in rows} == set(labels)
    with open(DATA / "reports.csv", encoding="utf-8") as handle:
        texts = {r["uid"]: r for r in csv.DictReader(handle)}
    verbatim = 0
    for row in rows:  # stored de-identified: OpenI's XXXX masks kept, most reports have nothing to replace
        for field in ("findings", "impression"):
            source = texts[row["report_id"]][field]
            assert row[field].count("XXXX") == source.count("XXXX")
            verbatim += row[field] == source
        assert row["label_states"] == list(labels[row["report_id"]])
    assert verbatim >= 50  # of 60 texts (the small NER model reads a few sentence-initial words as names)
    summary = json.loads((out / "summary.json").read_text())
    for split, part in summary["splits"].items():
        split_rows = [r for r in rows if r["split"] == split]
        assert part["rows"] == len(split_rows)
        for index, name in enumerate(names):
            assert part["positive"][name] == sum(index in r["labels"] for r in split_rows)
    assert "| normal |" in (out / "README.md").read_text()
    from datasets import load_dataset

    shards = load_dataset("parquet", data_files={split: str(out / "parquet" / split / "*.parquet")
                                                 for split in ("train", "validation", "test")},
                          cache_dir=str(tmp_path / "cache"))
    assert {split: part.num_rows for split, part in shards.items()} == {
        split: part["rows"] for split, part in summary["splits"].items()}
    assert shards["train"].features["labels"].feature.names == names
    # with the OpenI projections as manifest: one row per listed image; --views frontal keeps the 32 frontals
    framed = tmp_path / "framed"
    assert invoke(*args[:-6], "--out", str(framed), "--id-salt", "k", "--manifest", str(DATA / "projections.csv"),
                  "--views", "frontal").exit_code == 0
    rows = rows_of(framed)
    assert len(rows) == 32 and {r["view"] for r in rows} == {"Frontal"}
    assert json.loads((framed / "summary.json").read_text())["excluded_views"] == 25
    patients = {}
    for row in rows:  # no patient id in projections.csv: each report is its own patient, and stays in one split
        patients.setdefault(row["patient_id"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in patients.values())


def test_report_texts_from_columns_and_headers():
    from cxrlabel.imageset.texts import report_texts
    from cxrlabel.types import Report

    sections = {"findings": "两肺纹理增多。", "diagnosis": "两肺纹理增多"}
    chinese = Report("1", "两肺纹理增多。\n两肺纹理增多", sections, "x")
    assert report_texts(chinese, "zh") == ("两肺纹理增多。", "两肺纹理增多")
    plain = Report("2", "Heart normal. No effusion.", {}, "x")
    assert report_texts(plain, "en") == ("Heart normal. No effusion.", "")


def test_patient_split_is_seeded_and_follows_the_ratios():
    ratios = (0.7, 0.1, 0.2)
    splits = [assign_split(f"p{i}", ratios, 0) for i in range(3000)]
    assert splits == [assign_split(f"p{i}", ratios, 0) for i in range(3000)]
    assert 0.66 < splits.count("train") / 3000 < 0.74 and 0.17 < splits.count("test") / 3000 < 0.23
    assert splits != [assign_split(f"p{i}", ratios, 1) for i in range(3000)]


def test_interrupted_build_resumes_without_redoing_finished_shards(tmp_path, monkeypatch):
    images, labels = png_studies(tmp_path, 6, brightness_step=40, patients_per_study=2)
    options = BuildOptions(out=tmp_path / "ds", size=16, salt="k", shard_size=2)
    written = []
    original = DatasetBuilder._write_shard

    def flaky(self, number, *args):
        if number == 2 and not written.count("resumed"):
            raise KeyboardInterrupt  # the machine went down during the third shard
        written.append(number)
        return original(self, number, *args)

    monkeypatch.setattr(DatasetBuilder, "_write_shard", flaky)
    with pytest.raises(KeyboardInterrupt):
        DatasetBuilder(labels, options).build(images, tmp_path / "m.csv")
    assert written == [0, 1]
    written.append("resumed")
    with pytest.raises(UserError, match="changed"):  # other options: the finished shards do not fit
        DatasetBuilder(labels, BuildOptions(**{**options.__dict__, "seed": 5, "resume": True})).build(
            images, tmp_path / "m.csv")
    with pytest.raises(KeyboardInterrupt):  # the refused attempt kept the shards; interrupt once more
        written.remove("resumed")
        DatasetBuilder(labels, BuildOptions(**{**options.__dict__, "resume": True})).build(images, tmp_path / "m.csv")
    written.append("resumed")
    summary = DatasetBuilder(labels, BuildOptions(**{**options.__dict__, "resume": True})).build(
        images, tmp_path / "m.csv")
    assert written == [0, 1, "resumed", 2]  # shards 0 and 1 were not redone
    assert sum(s["rows"] for s in summary["splits"].values()) == 6
    monkeypatch.setattr(DatasetBuilder, "_write_shard", original)
    fresh = DatasetBuilder(labels, BuildOptions(**{**options.__dict__, "out": tmp_path / "fresh"})).build(
        images, tmp_path / "m.csv")
    assert fresh["splits"] == summary["splits"]
    assert sorted((r["report_id"], r["split"], r["image"].tobytes()) for r in rows_of(tmp_path / "ds")) == sorted(
        (r["report_id"], r["split"], r["image"].tobytes()) for r in rows_of(tmp_path / "fresh"))
    assert not (tmp_path / "ds" / WORK).exists()


def test_two_workers_give_the_same_dataset(tmp_path):
    images, labels = make_phi_studies(tmp_path)
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        assert invoke("--labels", str(labels), "--images", str(images), "--out", str(out), "--id-salt", "k",
                      "--size", "48", "--workers", workers, "--shard-size", "2").exit_code == 0
        outs.append(sorted((r["report_id"], r["source_path"], r["image"].tobytes()) for r in rows_of(out)))
    assert outs[0] == outs[1] and len(outs[0]) == 4


def test_study_uid_pairing_and_16_bit_images(tmp_path):
    images = tmp_path / "dicom"
    images.mkdir()
    dataset = pydicom.dcmread(bundled("MR_small.dcm"))
    dataset.AccessionNumber, dataset.StudyInstanceUID = "", "1.2.826.0.1.3680043.8.498.1"
    dataset.save_as(images / "one.dcm")
    labels = write_labels(tmp_path / "labels.csv", ["id", "Mass"], [["1.2.826.0.1.3680043.8.498.1", "1"]])
    out = tmp_path / "ds"
    assert invoke("--labels", str(labels), "--images", str(images), "--out", str(out), "--id-salt", "k",
                  "--size", "40", "--bits", "16", "--keep-report-ids").exit_code == 0
    [row] = rows_of(out)
    assert row["report_id"] == "1.2.826.0.1.3680043.8.498.1" and row["image"].mode.startswith("I")
    assert np.asarray(row["image"]).max() > 255  # 16-bit grey levels, not 8-bit ones widened


def test_hashed_report_ids_and_user_errors(tmp_path):
    labels = write_labels(tmp_path / "labels.csv", ["id", "Cardiomegaly"], [["ACC-SECRET", "1"]])
    (tmp_path / "summary.json").write_text(json.dumps({"lang": "en", "label_set": "chestxray14"}))
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "ACC-SECRET.txt").write_text("FINDINGS: Enlarged heart.\nIMPRESSION: Cardiomegaly.")
    (reports / "DOE_JOHN.txt").write_text("  ")  # an empty report whose file name is a patient's
    out = tmp_path / "o"
    assert invoke("--labels", str(labels), "--reports", str(reports), "--out", str(out), "--id-salt", "k",
                  "--hash-report-ids", "--text", "findings,impression").exit_code == 0
    [row] = rows_of(out)
    assert row["report_id"].startswith("r_")
    assert (row["findings"], row["impression"]) == ("Enlarged heart.", "Cardiomegaly.")  # split at the headers
    assert [e["reason"] for e in errors_of(out)] == ["--reports record: empty report"]
    for path in (p for p in out.rglob("*") if p.is_file()):
        assert b"ACC-SECRET" not in path.read_bytes() and b"JOHN" not in path.read_bytes()
    result = CliRunner().invoke(app, ["build", "--labels", str(labels), "--out", str(tmp_path / "x")], env={})
    assert result.exit_code == 2 and "--id-salt" in result.output
    result = invoke("--labels", str(labels), "--out", str(tmp_path / "y"), "--id-salt", "k", "--split", "70/30")
    assert result.exit_code == 2 and "ratios" in result.output
    result = invoke("--labels", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "z"), "--id-salt", "k")
    assert result.exit_code == 2 and "labels file not found" in result.output
    result = invoke("--labels", str(labels), "--out", str(out), "--id-salt", "k", "--source-map",
                    str(out / "map.csv"))
    assert result.exit_code == 2 and "outside the dataset folder" in result.output
    result = invoke("--labels", str(labels), "--out", str(tmp_path / "v"), "--id-salt", "k", "--views", "frontal")
    assert result.exit_code == 2 and "--views frontal needs" in result.output


def test_saved_image_files_hold_at_most_images_per_saved_file_rows(tmp_path, monkeypatch):
    """save_to_disk re-embeds one file's images at a time at most: the build caps the rows per Arrow file (its memory
    bound), every row still loads back, and a text-only build keeps one file per split."""
    import pyarrow as pa

    from cxrlabel.imageset import dataset as dataset_module

    images, labels = png_studies(tmp_path, 7, brightness_step=30, patients_per_study=1)
    monkeypatch.setattr(dataset_module, "IMAGES_PER_SAVED_FILE", 2)
    options = BuildOptions(out=tmp_path / "ds", size=16, salt="k", ratios=(1.0, 0.0, 0.0), shard_size=3)
    summary = DatasetBuilder(labels, options).build(images, tmp_path / "m.csv")
    files = sorted((tmp_path / "ds" / "train").glob("data-*.arrow"))
    rows_per_file = [pa.ipc.open_stream(str(f)).read_all().num_rows for f in files]
    assert rows_per_file == [2, 2, 2, 1] and summary["splits"]["train"]["rows"] == 7
    assert sorted(row["report_id"] for row in rows_of(tmp_path / "ds")) == [f"s{i}" for i in range(7)]
    text_only = DatasetBuilder(labels, BuildOptions(out=tmp_path / "text", salt="k", ratios=(1.0, 0.0, 0.0)))
    text_only.build(None, tmp_path / "m.csv")
    assert len(list((tmp_path / "text" / "train").glob("data-*.arrow"))) == 1
    assert not (tmp_path / "ds" / WORK).exists() and not (tmp_path / "text" / WORK).exists()
