"""Chinese labeler on hand-written reports in phrasings, typos, punctuation and numbering styles that the
development data does not use (tests/data/zh_variants.md): every report must get exactly its gold labels."""

import csv
import random
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


@pytest.mark.parametrize("style", ["，", "。", "；", " ", ",", ";", "{n}.", "{n}、", "({n})", "{n})", "①②③"])
def test_joined_variant_diagnoses_get_the_union_of_their_labels(style):
    """Single-statement variant diagnoses joined by punctuation, spaces or numbering: the labels of the
    whole are the union of the parts' (normal only when every part is normal)."""
    names = load_label_set("dong10").names
    singles = [row for row in ROWS if row["diagnosis"] and not any(p in row["diagnosis"] for p in "，,;；。.")
               and "肋" not in row["diagnosis"] and "隔角" not in row["diagnosis"]]
    rng = random.Random(style)
    labeler = ChineseLabeler(load_label_set("dong10"))
    for _ in range(30):
        parts = rng.sample(singles, 3)
        if "{n}" in style:
            text = " ".join(style.format(n=i + 1) + p["diagnosis"] for i, p in enumerate(parts))
        elif style == "①②③":
            text = "".join(mark + p["diagnosis"] for mark, p in zip(style, parts, strict=True))
        else:
            text = style.join(p["diagnosis"] for p in parts)
        gold = {n for p in parts for n in names if n != "normal" and p[n] == "1"} or {"normal"}
        labels = labeler.label_batch([Report("r", "", {"diagnosis": text})])[0].labels
        assert {n for n, s in labels.items() if s == State.POSITIVE} == gold, text
