"""Writers (labels.csv, mentions.jsonl, errors.csv, summary.json), the runner and mine_reports."""

import csv
import json
from pathlib import Path

import pytest

import cxrlabel
from cxrlabel.labelsets import load_label_set
from cxrlabel.mining import mine_reports
from cxrlabel.readers import iter_reports
from cxrlabel.runner import run_labeler
from cxrlabel.types import Mention, ReadError, RecordError, ReportResult, State
from cxrlabel.writers import OutputWriter

OPENI = Path(cxrlabel.__file__).parent / "data" / "openi" / "reports_dev.csv"


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_writers(tmp_path):
    mention = Mention("r1", "pleural_effusion", "findings", "There is a small right pleural effusion.", 25, 41,
                      "pleural effusion", State.POSITIVE, "default.positive")
    writer = OutputWriter(tmp_path, ["Effusion", "Pneumonia", "Pneumothorax"], run_info={"lang": "en"})
    writer.add(ReportResult("r1", {"Effusion": State.POSITIVE, "Pneumonia": State.UNCERTAIN,
                                   "Pneumothorax": State.NEGATIVE}, [mention]))
    writer.add(ReadError("r2", "empty report", "r2.txt"))
    writer.add(ReportResult("r3", {"Pneumothorax": State.NEGATIVE}))
    summary = writer.close()
    assert read_csv(tmp_path / "labels.csv") == [["id", "Effusion", "Pneumonia", "Pneumothorax"],
                                                 ["r1", "1", "-1", "0"], ["r3", "", "", "0"]]
    assert read_csv(tmp_path / "errors.csv") == [["id", "source", "reason"], ["r2", "r2.txt", "empty report"]]
    (line,) = (tmp_path / "mentions.jsonl").read_text().splitlines()
    assert json.loads(line) == {"report_id": "r1", "finding": "pleural_effusion", "section": "findings",
                                "sentence": "There is a small right pleural effusion.", "start": 25, "end": 41,
                                "text": "pleural effusion", "state": "positive", "rule_id": "default.positive"}
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == summary
    assert (on_disk["reports_read"], on_disk["reports_written"], on_disk["reports_failed"]) == (3, 2, 1)
    assert on_disk["lang"] == "en"
    assert on_disk["counts"]["Pneumothorax"] == {"positive": 0, "negative": 2, "uncertain": 0, "not_mentioned": 0}
    assert on_disk["counts"]["Effusion"] == {"positive": 1, "negative": 0, "uncertain": 0, "not_mentioned": 1}


@pytest.fixture(scope="module")
def openi_folder(tmp_path_factory):
    """30 OpenI dev reports as FINDINGS:/IMPRESSION: .txt files, plus three bad files."""
    folder = tmp_path_factory.mktemp("reports")
    with open(OPENI, newline="", encoding="utf-8") as handle:
        for row, _ in zip(csv.DictReader(handle), range(30), strict=False):
            (folder / f"{row['uid']}.txt").write_text(
                f"FINDINGS: {row['findings']}\nIMPRESSION: {row['impression']}\n")
    (folder / "blank.txt").write_text("   \n")
    (folder / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "huge.txt").write_text("The lungs are clear. " * 10_000)
    return folder


def test_runner_two_workers_equals_one(openi_folder):
    label_set = load_label_set("chestxray14")

    def run(workers):
        items = iter_reports(openi_folder)
        return [
            (r.id, "error", r.reason) if isinstance(r, RecordError)
            else (r.report_id, {k: v.value for k, v in r.labels.items()}, [m.to_json() for m in r.mentions])
            for r in run_labeler(items, "en", label_set, {"parser": "spacy"}, workers=workers, batch_size=4)
        ]

    one, two = run(1), run(2)
    assert len(one) == 33
    assert two == one
    ids = [entry[0] for entry in one]
    assert ids == [item.id for item in iter_reports(openi_folder)]  # input order kept, errors in place
    assert sum(1 for entry in one if entry[1] == "error") == 3
    assert sum(len(entry[2]) for entry in one if entry[1] != "error") > 30  # real mentions found


def test_mine_reports_writes_every_input(openi_folder, tmp_path):
    summary = mine_reports(openi_folder, lang="en", out=tmp_path, labels=None, options={"parser": "spacy"},
                           batch_size=8, max_chars=100_000)
    labels = read_csv(tmp_path / "labels.csv")
    errors = read_csv(tmp_path / "errors.csv")
    assert labels[0][0] == "id" and labels[0][1:] == load_label_set("chestxray14").names
    assert {row[0] for row in labels[1:]} | {row[0] for row in errors[1:]} == \
        {item.id for item in iter_reports(openi_folder)}
    assert len(labels) - 1 == 30 and len(errors) - 1 == 3
    reasons = {row[0]: row[2] for row in errors[1:]}
    assert reasons["blank"] == "empty report"
    assert "not a report file" in reasons["scan"]
    assert "over the limit" in reasons["huge"]
    assert summary["reports_read"] == 33 and summary["reports_failed"] == 3
    assert summary["label_set"] == "chestxray14" and summary["parser"] == "spacy"
    by_id = {row[0]: dict(zip(labels[0][1:], row[1:], strict=True)) for row in labels[1:]}
    # OpenI report 1: "There is no evidence of pneumothorax." ... "Normal chest x-XXXX."
    assert by_id["1"]["Pneumothorax"] == "0" and by_id["1"]["normal"] == "1"
    mentions = [json.loads(line) for line in (tmp_path / "mentions.jsonl").read_text().splitlines()]
    assert {m["report_id"] for m in mentions} <= set(by_id)
    assert all(m["sentence"][m["start"]:m["end"]] == m["text"] for m in mentions)
    counts = summary["counts"]["Pneumothorax"]
    assert sum(counts.values()) == 30
    assert counts["negative"] == sum(1 for row in by_id.values() if row["Pneumothorax"] == "0")
