"""`cxrlabel build` on public dataset layouts (NIH ChestX-ray14, CheXpert, MIMIC-CXR-JPG, Open-i, a generic labels
table): pairing, given splits kept, CheXpert's uncertain-label policies, the dataset card, and the refusal of an
(almost) empty build. Each test writes its own tiny layout; the last one builds the real shared NIH and IU images."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from datasets import load_from_disk
from PIL import Image
from typer.testing import CliRunner

from cxrlabel.cli import app
from cxrlabel.errors import UserError
from cxrlabel.imageset.layouts import _label_set_names, detect_source, load_chexpert, load_mimic
from cxrlabel.imageset.pairing import FileIndex

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SALT = "layout-test-salt-0123"


def invoke(*args: str):
    return CliRunner().invoke(app, ["build", "--id-salt", SALT, "--size", "32", *args])


def flat(text: str) -> str:
    """Console output without rich's line wrapping."""
    return " ".join(text.split())


def png(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (24, 20), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def rows_by_id(out: Path) -> dict[str, tuple[str, dict]]:
    """report id → (split, row) of a built dataset."""
    dataset = load_from_disk(str(out))
    return {row["report_id"]: (split, row) for split in dataset for row in dataset[split]}


NIH_HEADER = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
              "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]"]


def nih_layout(root: Path) -> tuple[Path, Path]:
    """Data_Entry + NIH's official lists beside it; images in NIH's images_00N/images/ folders."""
    entries = [("00000001_000.png", "Cardiomegaly|Infiltration", 1, "PA"), ("00000001_001.png", "No Finding", 1, "AP"),
               ("00000002_000.png", "Effusion", 2, "PA"), ("00000003_000.png", "No Finding", 3, "PA"),
               ("00000004_000.png", "Hernia|Pleural_Thickening", 4, "PA"), ("00000005_000.png", "Mass", 5, "AP")]
    labels = write_csv(root / "Data_Entry_2017.csv", NIH_HEADER,
                       [[name, found, 0, patient, 50, "M", view, 1024, 1024, 0.14, 0.14]
                        for name, found, patient, view in entries])
    for number, (name, *_rest) in enumerate(entries):
        png(root / f"images_00{1 + number // 3}" / "images" / name, number)
    (root / "train_val_list.txt").write_text("00000001_000.png\n00000002_000.png\n00000003_000.png\n"
                                             "00000004_000.png\n")
    (root / "test_list.txt").write_text("00000001_001.png\n00000005_000.png\n")
    return labels, root


def test_nih_layout_pairs_nested_images_keeps_official_split_and_names_the_source(tmp_path):
    labels, images = nih_layout(tmp_path / "nih")
    assert detect_source(labels) == "nih"
    out = tmp_path / "out"
    result = invoke("--labels", str(labels), "--images", str(images), "--out", str(out))
    assert result.exit_code == 0, result.output
    output = flat(result.output)
    assert "1 of 5 patients (2 images) are in more than one split" in output  # patient 1: train and test
    rows = rows_by_id(out)
    assert {key: split for key, (split, _) in rows.items()} == {
        "00000001_000.png": "train", "00000002_000.png": "train", "00000003_000.png": "train",
        "00000004_000.png": "train", "00000001_001.png": "test", "00000005_000.png": "test"}
    names = load_from_disk(str(out))["train"].features["labels"].feature.names
    assert names[-1] == "normal" and "Infiltration" in names and "Pleural_Thickening" in names
    positive = {key: {names[i] for i in row["labels"]} for key, (_, row) in rows.items()}
    assert positive["00000001_000.png"] == {"Cardiomegaly", "Infiltration"}
    assert positive["00000001_001.png"] == {"normal"}  # "No Finding" is the label set's normal
    assert positive["00000004_000.png"] == {"Hernia", "Pleural_Thickening"}
    assert rows["00000005_000.png"][1]["label_states"].count("negative") == len(names) - 1  # presence-only labels
    assert rows["00000001_001.png"][1]["view"] == "AP"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == "NIH ChestX-ray14 (Data_Entry_2017.csv)"
    assert summary["split_from"] == "train_val_list.txt, test_list.txt"
    assert summary["patients_in_two_splits"] == 1 and summary["errors"] == 0
    card = (out / "README.md").read_text()
    assert "label set `chestxray14`" in card and "NIH ChestX-ray14" in card and "unknown" not in card
    assert "splits as given by the source (train_val_list.txt, test_list.txt)" in card


def test_nih_split_csv_and_unknown_finding(tmp_path):
    labels, images = nih_layout(tmp_path / "nih")
    with open(labels, "a", newline="") as handle:
        csv.writer(handle).writerow(["00000009_000.png", "Cardiomegaly|Dragon", 0, 9, 50, "F", "PA", 1, 1, 1, 1])
    split_csv = write_csv(tmp_path / "nih_images.csv", ["folder", "image_filename", "source_split"],
                          [["images", "00000001_000.png", "valid"], ["images", "00000001_001.png", "valid"],
                           ["images", "00000002_000.png", "train"], ["images", "00000003_000.png", "test"],
                           ["images", "00000004_000.png", "train"], ["images", "00000005_000.png", "test"]])
    out = tmp_path / "out"
    result = invoke("--labels", str(labels), "--images", str(images), "--split-from", str(split_csv),
                    "--out", str(out))
    assert result.exit_code == 0, result.output
    splits = {key: split for key, (split, _) in rows_by_id(out).items()}
    assert splits["00000001_000.png"] == splits["00000001_001.png"] == "validation"
    assert splits["00000003_000.png"] == "test" and splits["00000004_000.png"] == "train"
    with open(out / "errors.csv", newline="") as handle:
        reasons = [row["reason"] for row in csv.DictReader(handle)]
    assert reasons == ["Data_Entry_2017.csv line 8: unknown finding in Finding Labels"]


def chexpert_layout(root: Path) -> Path:
    top = root / "CheXpert-v1.0-small"
    header = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding", "Enlarged Cardiomediastinum",
              "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis",
              "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices"]
    blank = [""] * 14

    def row(split, patient, study, view, values):
        frontal = "Frontal" if view != "lateral" else "Lateral"
        path = f"CheXpert-v1.0-small/{split}/patient{patient:05d}/study{study}/view1_{view}.jpg"
        png(root / path, patient * 10 + study)
        return [path, "Male", 60, frontal, "AP" if frontal == "Frontal" else "", *values]

    edema_uncertain = blank.copy()
    edema_uncertain[5] = "-1.0"
    edema_uncertain[2] = "1.0"
    normal = blank.copy()
    normal[0] = "1.0"
    write_csv(top / "train.csv", header, [row("train", 1, 1, "frontal", edema_uncertain),
                                          row("train", 1, 2, "lateral", normal), row("train", 2, 1, "frontal", normal)])
    write_csv(top / "valid.csv", header, [row("valid", 64541, 1, "frontal", normal)])
    return top / "train.csv"


@pytest.mark.parametrize(("policy", "edema"), [("ignore", "uncertain"), ("zeros", "negative"), ("ones", "positive")])
def test_chexpert_uncertain_policies_and_file_splits(tmp_path, policy, edema):
    labels = chexpert_layout(tmp_path)
    assert detect_source(labels) == "chexpert"
    out = tmp_path / "out"
    # --images is the dataset's own folder: the Path column's "CheXpert-v1.0-small/" prefix is found under it
    result = invoke("--labels", str(labels), "--images", str(labels.parent), "--uncertain", policy, "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = rows_by_id(out)
    assert len(rows) == 4
    split, row = rows["CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg"]
    names = load_from_disk(str(out))["train"].features["labels"].feature.names
    assert split == "train" and row["patient_id"] != "patient00001"
    assert row["label_states"][names.index("Edema")] == edema
    assert row["label_states"][names.index("Cardiomegaly")] == "positive"
    assert row["label_states"][names.index("Pneumonia")] == ""  # blank: not mentioned
    assert (names.index("Edema") in row["labels"]) == (policy == "ones")
    assert rows["CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg"][0] == "validation"
    assert rows["CheXpert-v1.0-small/train/patient00001/study2/view1_lateral.jpg"][1]["view"] == "Lateral"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["uncertain"] == policy and summary["label_set"] == "chexpert"
    assert f"uncertain labels: {policy}" in (out / "README.md").read_text()


def test_mimic_layout_study_labels_metadata_and_split(tmp_path):
    root = tmp_path / "mimic-cxr-jpg"
    names = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
             "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
             "Pneumothorax", "Support Devices"]
    study_a = ["", "1.0", "", "-1.0", *[""] * 10]
    study_b = [""] * 8 + ["1.0"] + [""] * 5
    labels = write_csv(root / "mimic-cxr-2.0.0-chexpert.csv", ["subject_id", "study_id", *names],
                       [[10000032, 50414267, *study_a], [10000764, 57375967, *study_b]])
    write_csv(root / "mimic-cxr-2.0.0-metadata.csv", ["dicom_id", "subject_id", "study_id", "ViewPosition"],
              [["02aa804e", 10000032, 50414267, "PA"], ["174413ec", 10000032, 50414267, "LATERAL"],
               ["096052b7", 10000764, 57375967, "AP"]])
    write_csv(root / "mimic-cxr-2.0.0-split.csv", ["dicom_id", "study_id", "subject_id", "split"],
              [["02aa804e", 50414267, 10000032, "train"], ["174413ec", 50414267, 10000032, "train"],
               ["096052b7", 57375967, 10000764, "validate"]])
    png(root / "files/p10/p10000032/s50414267/02aa804e.jpg", 1)
    png(root / "files/p10/p10000032/s50414267/174413ec.jpg", 2)
    png(root / "files/p10/p10000764/s57375967/096052b7.jpg", 3)
    assert detect_source(labels) == "mimic"
    out = tmp_path / "out"
    result = invoke("--labels", str(labels), "--images", str(root), "--views", "frontal", "--uncertain", "zeros",
                    "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["excluded_views"] == 1 and summary["errors"] == 0
    assert summary["split_from"] == "mimic-cxr-2.0.0-split.csv"
    rows = rows_by_id(out)
    assert rows["50414267"][0] == "train" and rows["57375967"][0] == "validation"
    label_names = load_from_disk(str(out))["train"].features["labels"].feature.names
    assert rows["50414267"][1]["label_states"][label_names.index("Edema")] == "negative"  # -1 under zeros
    assert [label_names[i] for i in rows["57375967"][1]["labels"]] == ["No Finding"]


def test_generic_table_joined_labels_given_split_and_hashed_ids(tmp_path):
    images = tmp_path / "imgs"
    for number in range(4):
        png(images / "sub" / f"img{number}.png", number)
    labels = write_csv(tmp_path / "table.csv", ["path", "patient_id", "split", "labels"],
                       [["sub/img0.png", "p1", "train", "Effusion|Nodule"], ["sub/img1.png", "p1", "test", ""],
                        ["sub/img2.png", "p2", "valid", "Nodule"], ["sub/img3.png", "p3", "", "Effusion"],
                        ["sub/DOE_JOHN.png", "p4", "autumn", "Nodule"]])
    assert detect_source(labels) == "table"
    out = tmp_path / "out"
    result = invoke("--labels", str(labels), "--images", str(images), "--out", str(out))
    assert result.exit_code == 0, result.output
    dataset = load_from_disk(str(out))
    assert dataset["train"].features["labels"].feature.names == ["Effusion", "Nodule"]
    assert (dataset["train"].num_rows, dataset["validation"].num_rows) >= (1, 1) and dataset["test"].num_rows >= 1
    errors = (out / "errors.csv").read_text()
    assert "unknown split 'autumn'" in errors and "DOE" not in errors  # the bad row's id (a file name) is hashed
    ids = [row["report_id"] for split in dataset for row in dataset[split]]
    assert not any("img" in report_id for report_id in ids)  # a table's ids (file names here) are hashed
    card = (out / "README.md").read_text()
    assert "labels table (table.csv), label set `the table columns`" in card


def test_generic_table_label_columns_without_split_is_split_by_patient(tmp_path):
    images = tmp_path / "imgs"
    rows = []
    for number in range(12):
        png(images / f"x{number}.png", number)
        rows.append([f"x{number}.png", f"patient{number // 3}", number % 2, "-1" if number == 5 else ""])
    labels = write_csv(tmp_path / "t.csv", ["image", "patient", "Effusion", "Edema"], rows)
    out = tmp_path / "out"
    result = invoke("--labels", str(labels), "--images", str(images), "--uncertain", "ones", "--out", str(out))
    assert result.exit_code == 0, result.output
    dataset = load_from_disk(str(out))
    split_of_patient: dict[str, set[str]] = {}
    for split in dataset:
        for row in dataset[split]:
            split_of_patient.setdefault(row["patient_id"], set()).add(split)
    assert len(split_of_patient) == 4 and all(len(splits) == 1 for splits in split_of_patient.values())
    states = [row["label_states"] for split in dataset for row in dataset[split]]
    assert sorted(s[0] for s in states) == ["negative"] * 6 + ["positive"] * 6
    assert sum(s[1] == "positive" for s in states) == 1  # the one -1, under --uncertain ones
    assert json.loads((out / "summary.json").read_text())["split_from"] == ""


def test_openi_spellings_pair(tmp_path):
    """The real IU files are CXR3_IM-1384-1001.png; Open-i's projections.csv says 3_IM-1384-1001.dcm.png."""
    images = tmp_path / "iu"
    for number, name in enumerate(("CXR3_IM-1384-1001.png", "CXR3_IM-1384-2001.png", "CXR7_IM-2263-1001.png")):
        png(images / name, number)
    manifest = write_csv(tmp_path / "projections.csv", ["uid", "filename", "projection"],
                         [[3, "3_IM-1384-1001.dcm.png", "Frontal"], [3, "3_IM-1384-2001.dcm.png", "Lateral"],
                          [7, "7_IM-2263-1001.dcm.png", "Frontal"]])
    labels = write_csv(tmp_path / "mined" / "labels.csv", ["id", "Effusion", "normal"], [[3, 1, 0], [7, "", 1]])
    out = tmp_path / "out"
    result = invoke("--labels", str(labels), "--images", str(images), "--manifest", str(manifest), "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert sum(s["rows"] for s in summary["splits"].values()) == 3 and summary["errors"] == 0
    assert summary["source"] == "reports mined by `cxrlabel mine` (Open-i manifest)"
    # a given split for mined labels: a split CSV keyed by the manifest's file names
    split_csv = write_csv(tmp_path / "split.csv", ["filename", "split"],
                          [["3_IM-1384-1001.dcm.png", "test"], ["3_IM-1384-2001.dcm.png", "test"],
                           ["7_IM-2263-1001.dcm.png", "valid"]])
    result = invoke("--labels", str(labels), "--images", str(images), "--manifest", str(manifest), "--split-from",
                    str(split_csv), "--out", str(out))
    assert result.exit_code == 0, result.output
    dataset = load_from_disk(str(out))
    assert (dataset["train"].num_rows, dataset["validation"].num_rows, dataset["test"].num_rows) == (0, 1, 2)


def test_file_index_spellings(tmp_path):
    for relative in ("a/images/00000001_000.png", "b/CXR12_IM-0001-1001.png", "top/x/view1.jpg", "top/y/view1.jpg"):
        png(tmp_path / relative)
    (tmp_path / "notes.md").write_text("not an image")
    index = FileIndex(tmp_path)
    assert len(index.files) == 4
    assert index.resolve("00000001_000.png") == "a/images/00000001_000.png"
    assert index.resolve("12_IM-0001-1001.dcm.png") == "b/CXR12_IM-0001-1001.png"
    assert index.resolve("Dataset-v1/top/y/view1.jpg") == "top/y/view1.jpg"  # a leading folder the root is inside
    assert index.resolve("y/view1.jpg") == "top/y/view1.jpg"  # a root above the listed paths
    assert index.resolve("missing.png") is None


def test_mismatched_names_refused_on_the_console_only(tmp_path):
    images = tmp_path / "iu"
    for number in range(3):
        png(images / f"CXR{number}_IM-0000-1001.png", number)
    labels = write_csv(tmp_path / "t.csv", ["path", "Effusion"],
                       [[f"case_{number}.dcm", 1] for number in range(3)])
    out = tmp_path / "out"
    result = invoke("--labels", str(labels), "--images", str(images), "--out", str(out))
    assert result.exit_code == 1
    output = flat(result.output)
    assert "only 0 of 3 image files paired" in output
    assert "case_0.dcm" in output and "CXR0_IM-0000-1001.png" in output and "likely cause:" in output
    assert not out.exists()  # nothing written: the names are on the console only
    forced = invoke("--labels", str(labels), "--images", str(images), "--min-paired", "0", "--out", str(out))
    assert forced.exit_code == 0, forced.output
    errors = (out / "errors.csv").read_text()
    assert "case_0" not in errors and "CXR0" not in errors


def test_report_ids_that_do_not_match_are_diagnosed(tmp_path):
    images = tmp_path / "iu"
    png(images / "CXR3_IM-1384-1001.png")
    png(images / "CXR7_IM-2263-1001.png", 1)
    manifest = write_csv(tmp_path / "projections.csv", ["uid", "filename", "projection"],
                         [[3, "3_IM-1384-1001.dcm.png", "Frontal"], [7, "7_IM-2263-1001.dcm.png", "Frontal"]])
    labels = write_csv(tmp_path / "labels.csv", ["id", "Effusion"], [["CXR3", 1], ["CXR7", 0]])
    result = invoke("--labels", str(labels), "--images", str(images), "--manifest", str(manifest),
                    "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    output = flat(result.output)
    assert "manifest report ids not in the labels: 3, 7; label ids: CXR3, CXR7" in output
    assert "report ids are not those of the labels" in output


def test_empty_given_split_refused(tmp_path):
    labels, images = nih_layout(tmp_path / "nih")
    (images / "test_list.txt").write_text("00000099_000.png\n")  # listed, but no such image here
    with open(labels, "a", newline="") as handle:
        csv.writer(handle).writerow(["00000099_000.png", "Mass", 0, 99, 50, "F", "PA", 1, 1, 1, 1])
    result = invoke("--labels", str(labels), "--images", str(images), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "no image paired in split test (the source lists 1 rows there)" in flat(result.output)


@pytest.mark.skipif(not (SHARED / "nih_cxr14" / "images").is_dir() or not (SHARED / "iu_xray" / "images").is_dir(),
                    reason="../shared is absent")
def test_real_nih_and_iu_folders_pair_every_image(tmp_path):
    nih = SHARED / "nih_cxr14"
    out = tmp_path / "nih"
    result = invoke("--labels", str(nih / "Data_Entry_2017_v2020_rows.csv"), "--images", str(nih / "images"),
                    "--split-from", str(nih / "nih_images.csv"), "--size", "64", "--workers", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert {split: s["rows"] for split, s in summary["splits"].items()} == {"train": 600, "validation": 200,
                                                                             "test": 200}
    assert summary["errors"] == 0 and summary["listed_without_image_file"] == 51  # the images_hr/ rows
    assert summary["label_set"] == "chestxray14"

    iu = SHARED / "iu_xray"
    gold = {row["filename"].removeprefix("CXR"): row for row in csv.DictReader(open(SHARED / "openi" / "gold_dev.csv"))}
    label_names = [name for name in next(iter(gold.values())) if name != "filename"]
    uids = sorted({row["uid"] for row in csv.DictReader(open(iu / "iu_xray_images.csv"))})
    labels = write_csv(tmp_path / "mined" / "labels.csv", ["id", *label_names],
                       [[uid, *(gold[uid][name] for name in label_names)] for uid in uids])
    out = tmp_path / "iu"
    result = invoke("--labels", str(labels), "--images", str(iu / "images"), "--manifest",
                    str(SHARED / "openi" / "projections.csv"), "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert sum(s["rows"] for s in summary["splits"].values()) == 9  # every real image paired
    # the only missing files are the two listed laterals that the folder does not hold
    assert summary["errors_by_reason"] == {"file not found": 2}
    # the rest of the collection (rows of other reports, images not here) is counted, not listed as errors
    assert summary["listed_without_image_file"] == sum(1 for _ in open(SHARED / "openi" / "projections.csv")) - 12


def test_png_folder_without_manifest_refused_with_its_cause(tmp_path):
    images = tmp_path / "imgs"
    png(images / "a.png")
    png(images / "b.png", 1)
    labels = write_csv(tmp_path / "mined" / "labels.csv", ["id", "Effusion"], [["r1", 1]])
    result = invoke("--labels", str(labels), "--images", str(images), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    output = flat(result.output)
    assert "only 0 of 2 image files paired" in output and "report ids of the labels: r1" in output
    assert "give a --manifest or a labels table" in output
    assert not (tmp_path / "out").exists()
    openi = invoke("--labels", str(labels), "--source", "openi", "--images", str(images), "--out", str(tmp_path / "o"))
    assert openi.exit_code == 2 and "give Open-i's projections.csv as --manifest" in flat(openi.output)


def test_chexpert_and_mimic_tables_share_one_row_check(tmp_path):
    """A row without its key or with a value other than 1/0/-1/blank is a problem, the others are read; a table
    without its key column is a one-line user error (MIMIC's study_id was a KeyError before)."""
    names = _label_set_names("chexpert")
    for key, table, loader in (("Path", "CheXpert table", lambda p: load_chexpert(p, "ignore")),
                               ("study_id", "MIMIC-CXR label table", lambda p: load_mimic(p, p, (), "ignore"))):
        rows = [["a", *["1.0"] + [""] * 13], ["", *[""] * 14], ["c", *["2"] + [""] * 13]]
        path = write_csv(tmp_path / key / "train.csv", [key, *names], rows)
        if key == "study_id":
            write_csv(path, [key, "dicom_id", "subject_id", *names], [[r[0], "d", "s", *r[1:]] for r in rows])
        source = loader(path)
        assert list(source.labels) == ["a"] and source.labels["a"][0] == "positive"
        assert [reason for _, reason in source.problems] == [
            f"train.csv line {line}: no {key} or a value other than 1/0/-1/blank" for line in (3, 4)]
        write_csv(path, ["other", *names], [])
        with pytest.raises(UserError, match=f"train.csv:1: not a {table} \\(missing {key}\\)"):
            loader(path)
