"""Evaluation metrics: per-label ROC AUC (scikit-learn), Youden thresholds, Dong et al.'s top-3 sensitivity
and per-image average precision."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def youden_thresholds(targets: np.ndarray, scores: np.ndarray) -> list[float]:
    """Per label, the threshold maximising sensitivity + specificity − 1 (0.5 when a label has one class)."""
    thresholds = []
    for k in range(targets.shape[1]):
        if len(np.unique(targets[:, k])) < 2:
            thresholds.append(0.5)
            continue
        fpr, tpr, cut = roc_curve(targets[:, k], scores[:, k])
        best = int(np.argmax(tpr - fpr))
        thresholds.append(float(min(cut[best], 1.0)))
    return thresholds


def top3_sensitivity(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per label: the share of its positive images in which it is among the 3 highest scores."""
    top3 = np.argsort(-scores, axis=1)[:, :3]
    in_top = np.zeros_like(targets, dtype=bool)
    np.put_along_axis(in_top, top3, True, axis=1)
    positives = targets.sum(axis=0)
    hits = (in_top & (targets > 0)).sum(axis=0)
    return np.divide(hits, positives, out=np.full(targets.shape[1], np.nan), where=positives > 0)


def image_average_precision(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per image with m ≥ 1 true labels: AP = (1/m) Σ_i i / r_i, r_i the rank of the i-th true label (ranks sorted)."""
    ranks = np.argsort(np.argsort(-scores, axis=1), axis=1) + 1  # rank 1 = highest score
    values = []
    for row in range(targets.shape[0]):
        true_ranks = np.sort(ranks[row][targets[row] > 0])
        if len(true_ranks):
            values.append(float(np.mean(np.arange(1, len(true_ranks) + 1) / true_ranks)))
    return np.array(values)


def label_auc(targets: np.ndarray, scores: np.ndarray, k: int) -> float | None:
    """ROC AUC of label k (None when the split has only positives or only negatives of it)."""
    support = int((targets[:, k] > 0).sum())
    return float(roc_auc_score(targets[:, k], scores[:, k])) if 0 < support < len(targets) else None


def mean_auc(targets: np.ndarray, scores: np.ndarray) -> float | None:
    """Mean ROC AUC over the labels that have one (None when none has)."""
    aucs = [a for a in (label_auc(targets, scores, k) for k in range(targets.shape[1])) if a is not None]
    return float(np.mean(aucs)) if aucs else None


def evaluate_scores(targets: np.ndarray, scores: np.ndarray, names: list[str], thresholds: list[float]) -> dict:
    """The metrics.json body: per label auc / sensitivity / specificity (at `thresholds`) / top3_sensitivity /
    support, mean_auc, mean_average_precision."""
    labels = {}
    top3 = top3_sensitivity(targets, scores)
    for k, name in enumerate(names):
        positives = targets[:, k] > 0
        support = int(positives.sum())
        auc = label_auc(targets, scores, k)
        predicted = scores[:, k] >= thresholds[k]
        sensitivity = float((predicted & positives).sum() / support) if support else None
        negatives = int((~positives).sum())
        specificity = float((~predicted & ~positives).sum() / negatives) if negatives else None
        labels[name] = {"auc": auc, "sensitivity": sensitivity, "specificity": specificity,
                        "top3_sensitivity": None if np.isnan(top3[k]) else float(top3[k]), "support": support}
    ap = image_average_precision(targets, scores)
    return {"labels": labels, "mean_auc": mean_auc(targets, scores),
            "mean_average_precision": float(ap.mean()) if len(ap) else None}
