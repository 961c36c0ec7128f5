"""Label-vs-gold scoring: per-label precision / recall / F1 / support with micro and macro rows (scikit-learn).

Every value is kept unrounded; `rounded` rounds a result once, for printing and writing."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import multilabel_confusion_matrix, precision_recall_fscore_support

PLACES = 4  # decimals of the written and printed scores


def _row(precision: float, recall: float, f1: float, support: int, tp: int, fp: int, fn: int) -> dict:
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(support),
            "tp": int(tp), "fp": int(fp), "fn": int(fn)}


def score_labels(gold: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    """Score binary matrices (reports x labels). Returns {"labels": {...}, "micro": ..., "macro": ...}.

    `macro` averages the labels that have at least one gold positive (a label with no positives has
    no defined recall); `macro_all` averages every label, scoring undefined ratios as 0.
    """
    gold = np.asarray(gold, dtype=int)
    pred = np.asarray(pred, dtype=int)
    precision, recall, f1, support = precision_recall_fscore_support(gold, pred, average=None, zero_division=0)
    confusion = multilabel_confusion_matrix(gold, pred)
    labels = {
        name: _row(precision[i], recall[i], f1[i], support[i], confusion[i][1, 1], confusion[i][0, 1],
                   confusion[i][1, 0])
        for i, name in enumerate(names)
    }
    result = {"labels": labels, "micro": micro_average(gold, pred)}
    result["macro"] = macro_average(gold, pred, [i for i in range(len(names)) if support[i] > 0])
    result["macro_all"] = macro_average(gold, pred, list(range(len(names))))
    return result


def micro_average(gold: np.ndarray, pred: np.ndarray) -> dict:
    precision, recall, f1, _ = precision_recall_fscore_support(gold, pred, average="micro", zero_division=0)
    tp = int(((gold == 1) & (pred == 1)).sum())
    fp = int(((gold == 0) & (pred == 1)).sum())
    fn = int(((gold == 1) & (pred == 0)).sum())
    return _row(precision, recall, f1, int(gold.sum()), tp, fp, fn)


def macro_average(gold: np.ndarray, pred: np.ndarray, columns: list[int]) -> dict:
    """scikit-learn's macro average (the unweighted mean of the per-label values) over the label `columns`, with
    their summed counts."""
    if not columns:
        return _row(0, 0, 0, 0, 0, 0, 0)
    gold, pred = np.asarray(gold, dtype=int)[:, columns], np.asarray(pred, dtype=int)[:, columns]
    precision, recall, f1, _ = precision_recall_fscore_support(gold, pred, average="macro", zero_division=0)
    tp, fp, fn = (int(v) for v in multilabel_confusion_matrix(gold, pred)[:, [1, 0, 1], [1, 1, 0]].sum(axis=0))
    return {**_row(precision, recall, f1, int(gold.sum()), tp, fp, fn), "n_labels": len(columns)}


def rounded(scores, places: int = PLACES):
    """A copy of a (nested) scores result with every float rounded to `places` decimals."""
    if isinstance(scores, dict):
        return {key: rounded(value, places) for key, value in scores.items()}
    if isinstance(scores, list | tuple):
        return type(scores)(rounded(value, places) for value in scores)
    return round(scores, places) if isinstance(scores, float) else scores
