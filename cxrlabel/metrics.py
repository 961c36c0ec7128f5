"""Label-vs-gold scoring: per-label precision / recall / F1 / support with micro and macro rows."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import multilabel_confusion_matrix, precision_recall_fscore_support


def _row(precision: float, recall: float, f1: float, support: int, tp: int, fp: int, fn: int) -> dict:
    return {
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
        "support": int(support),
        "tp": int(tp),
        "fp": int(fp),
        "fn": int(fn),
    }


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
    with_positives = [i for i in range(len(names)) if support[i] > 0]
    result["macro"] = macro_average(labels, [names[i] for i in with_positives])
    result["macro_all"] = macro_average(labels, names)
    return result


def micro_average(gold: np.ndarray, pred: np.ndarray) -> dict:
    precision, recall, f1, _ = precision_recall_fscore_support(gold, pred, average="micro", zero_division=0)
    tp = int(((gold == 1) & (pred == 1)).sum())
    fp = int(((gold == 0) & (pred == 1)).sum())
    fn = int(((gold == 1) & (pred == 0)).sum())
    return _row(precision, recall, f1, int(gold.sum()), tp, fp, fn)


def macro_average(labels: dict, names: list[str]) -> dict:
    if not names:
        return _row(0, 0, 0, 0, 0, 0, 0)
    rows = [labels[n] for n in names]
    return {
        "precision": round(float(np.mean([r["precision"] for r in rows])), 4),
        "recall": round(float(np.mean([r["recall"] for r in rows])), 4),
        "f1": round(float(np.mean([r["f1"] for r in rows])), 4),
        "support": int(sum(r["support"] for r in rows)),
        "tp": int(sum(r["tp"] for r in rows)),
        "fp": int(sum(r["fp"] for r in rows)),
        "fn": int(sum(r["fn"] for r in rows)),
        "n_labels": len(names),
    }
