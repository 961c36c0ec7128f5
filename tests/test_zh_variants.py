"""Chinese labeler on hand-written reports in phrasings, typos, punctuation and numbering styles that the
development data does not use (tests/data/zh_variants.md): every report must get exactly its gold labels."""

import csv
from pathlib import Path

import pytest

from cxrlabel.labelsets import load_label_set
from cxrlabel.types import Report, State
from cxrlabel.zh.labeler import ChineseLabeler

ROWS = list(csv.DictReader(open(Path(__file__).parent / "data" / "zh_variants.csv", encoding="utf-8")))


@pytest.mark.parametrize(("label_set", "column"), [("dong10", "diagnosis"), ("regions5", "findings")])
def test_variant_reports_get_their_gold_labels(label_set, column):
    names = load_label_set(label_set).names
    rows = [row for row in ROWS if row[column] and row[names[0]] != ""]
    assert len(rows) >= 15
    labeler = ChineseLabeler(load_label_set(label_set))
    results = labeler.label_batch([Report(row["id"], "", {column: row[column]}) for row in rows])
    wrong = []
    for row, result in zip(rows, results, strict=True):
        predicted = {name for name in names if result.labels.get(name) == State.POSITIVE}
        gold = {name for name in names if row[name] == "1"}
        if predicted != gold:
            wrong.append((row["id"], row[column], sorted(gold), sorted(predicted)))
    assert not wrong
