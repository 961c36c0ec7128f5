"""Scoring arithmetic on a hand-made gold: per-label tp/fp/fn, micro and macro rows."""

import numpy as np
import pytest

from cxrlabel.metrics import rounded, score_labels

NAMES = ["A", "B", "C", "D"]
# 4 reports x 4 labels. D has no gold positive and one false positive.
GOLD = np.array([[1, 0, 1, 0], [0, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
PRED = np.array([[1, 1, 0, 0], [0, 0, 1, 0], [0, 1, 0, 1], [0, 0, 0, 0]])


@pytest.fixture(scope="module")
def scores():
    return score_labels(GOLD, PRED, NAMES)


@pytest.mark.parametrize(
    ("name", "tp", "fp", "fn", "precision", "recall", "f1", "support"),
    [("A", 1, 0, 1, 1.0, 0.5, 0.6667, 2),
     ("B", 1, 1, 0, 0.5, 1.0, 0.6667, 1),
     ("C", 1, 0, 1, 1.0, 0.5, 0.6667, 2),
     ("D", 0, 1, 0, 0.0, 0.0, 0.0, 0)],
)
def test_per_label(scores, name, tp, fp, fn, precision, recall, f1, support):
    row = scores["labels"][name]
    assert (row["tp"], row["fp"], row["fn"], row["support"]) == (tp, fp, fn, support)
    assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((precision, recall, f1), abs=1e-4)


def test_micro(scores):
    micro = scores["micro"]
    assert (micro["tp"], micro["fp"], micro["fn"], micro["support"]) == (3, 2, 2, 5)
    assert (micro["precision"], micro["recall"], micro["f1"]) == pytest.approx((0.6, 0.6, 0.6))


def test_macro_over_labels_with_positives(scores):
    macro = scores["macro"]
    assert macro["n_labels"] == 3  # D has no gold positive
    assert (macro["precision"], macro["recall"], macro["f1"]) == pytest.approx((2.5 / 3, 2 / 3, 2 / 3), abs=1e-4)
    macro_all = scores["macro_all"]
    assert macro_all["n_labels"] == 4
    assert (macro_all["precision"], macro_all["recall"], macro_all["f1"]) == pytest.approx((0.625, 0.5, 0.5),
                                                                                         abs=1e-4)


def test_perfect_and_empty_predictions():
    perfect = score_labels(GOLD, GOLD, NAMES)
    assert perfect["micro"]["f1"] == 1.0 and perfect["macro"]["f1"] == 1.0
    nothing = score_labels(GOLD, np.zeros_like(GOLD), NAMES)
    assert nothing["micro"]["tp"] == 0 and nothing["micro"]["fn"] == 5 and nothing["micro"]["f1"] == 0.0


def test_macro_is_the_mean_of_unrounded_values_and_rounding_comes_last(scores):
    # each label's F1 is 2/3: averaging values already rounded to 0.6667 would be off by 3e-5
    assert scores["macro"]["f1"] == pytest.approx(2 / 3, abs=1e-12)
    assert scores["labels"]["A"]["f1"] == pytest.approx(2 / 3, abs=1e-12)
    assert (scores["macro"]["tp"], scores["macro"]["fp"], scores["macro"]["fn"]) == (3, 1, 2)  # D's fp left out
    shown = rounded(scores)
    assert shown["macro"]["f1"] == 0.6667 and shown["labels"]["D"] == scores["labels"]["D"]
    assert shown["macro"]["n_labels"] == 3 and scores["macro"]["f1"] != 0.6667  # a copy: the result is unchanged
