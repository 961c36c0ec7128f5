"""Evaluation metrics: per-label ROC AUC (scikit-learn), Youden thresholds, Dong et al.'s top-3 sensitivity
and per-image average precision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import label_ranking_average_precision_score, roc_auc_score, roc_curve


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


def mean_average_precision(targets: np.ndarray, scores: np.ndarray) -> float | None:
    """Mean over the images with ≥ 1 true label of their average precision, (1/m) Σ_i i / r_i with r_i the rank of
    the i-th true label (scikit-learn's label ranking average precision; tied scores count against). None when
    no image has a true label."""
    labelled = (targets > 0).any(axis=1)
    if not labelled.any():
        return None
    return float(label_ranking_average_precision_score(targets[labelled] > 0, scores[labelled]))


def label_auc(targets: np.ndarray, scores: np.ndarray, k: int) -> float | None:
    """ROC AUC of label k (None when the split has only positives or only negatives of it)."""
    support = int((targets[:, k] > 0).sum())
    return float(roc_auc_score(targets[:, k], scores[:, k])) if 0 < support < len(targets) else None


def label_aucs(targets: np.ndarray, scores: np.ndarray) -> list[float | None]:
    """`label_auc` of every label, from one scikit-learn call over the labels that have both classes."""
    positives = label_positives(targets)
    defined = np.flatnonzero((positives > 0) & (positives < len(targets)))
    aucs: list[float | None] = [None] * targets.shape[1]
    if len(defined):
        values = np.atleast_1d(roc_auc_score(targets[:, defined], scores[:, defined], average=None))
        for k, value in zip(defined, values, strict=True):
            aucs[k] = float(value)
    return aucs


def label_positives(targets: np.ndarray) -> np.ndarray:
    """Positive count per label."""
    return (targets > 0).sum(axis=0)


def qualifying_labels(targets: np.ndarray, min_positives: int) -> list[int]:
    """Labels with at least `min_positives` positives and at least one negative (their AUC is defined)."""
    positives = label_positives(targets)
    return [k for k in range(targets.shape[1]) if min_positives <= positives[k] < len(targets) and positives[k] > 0]


def mean_auc(targets: np.ndarray, scores: np.ndarray, labels: list[int] | None = None) -> float | None:
    """Mean ROC AUC over `labels` (default: every label) that have one (None when none has)."""
    every = label_aucs(targets, scores)
    aucs = [every[k] for k in (range(targets.shape[1]) if labels is None else labels) if every[k] is not None]
    return float(np.mean(aucs)) if aucs else None


@dataclass
class Selection:
    """The labels a mean AUC is taken over: those with ≥ min_positives positives, or (fallback) every label with an
    AUC when none has that many."""

    labels: list[int]
    min_positives: int
    fallback: bool

    @classmethod
    def of(cls, targets: np.ndarray, min_positives: int) -> Selection:
        labels = qualifying_labels(targets, min_positives)
        if labels:
            return cls(labels, min_positives, False)
        return cls(qualifying_labels(targets, 1), min_positives, True)

    def warning(self, split: str) -> str:
        return (f"warning: no label has ≥ {self.min_positives} positives in the {split} split; the mean AUC is "
                "taken over every label with positives and negatives instead (lower --min-positives or add images)")


def bootstrap_auc_intervals(targets: np.ndarray, scores: np.ndarray, mean_labels: list[int], resamples: int = 1000,
                            seed: int = 0) -> tuple[list[list[float] | None], list[float] | None]:
    """Percentile 95 % intervals from `resamples` bootstrap resamples of the images (seeded): per label (None when
    fewer than half the resamples have both classes) and for the mean AUC over `mean_labels`."""
    rng = np.random.default_rng(seed)
    n, k_labels = targets.shape
    per_label = [[] for _ in range(k_labels)]
    means = []
    for _ in range(resamples):
        rows = rng.integers(0, n, n)
        aucs = label_aucs(targets[rows], scores[rows])
        for k, auc in enumerate(aucs):
            if auc is not None:
                per_label[k].append(auc)
        chosen = [aucs[k] for k in mean_labels if aucs[k] is not None]
        if chosen:
            means.append(float(np.mean(chosen)))

    def interval(values: list[float]) -> list[float] | None:
        if not resamples or len(values) < resamples / 2:
            return None
        return [float(v) for v in np.percentile(values, [2.5, 97.5])]

    return [interval(values) for values in per_label], interval(means)


def evaluate_scores(targets: np.ndarray, scores: np.ndarray, names: list[str], thresholds: list[float],
                    min_positives: int = 5, resamples: int = 1000, seed: int = 0) -> dict:
    """The metrics.json body: per label auc with its bootstrap ci95 / sensitivity / specificity (at `thresholds`) /
    top3_sensitivity / support; mean_auc (with ci95) over the labels with ≥ min_positives positives, the labels
    left out of it, the mean over every label with an AUC, and mean_average_precision."""
    labels = {}
    top3 = top3_sensitivity(targets, scores)
    selection = Selection.of(targets, min_positives)
    intervals, mean_interval = bootstrap_auc_intervals(targets, scores, selection.labels, resamples, seed)
    aucs = label_aucs(targets, scores)
    for k, name in enumerate(names):
        positives = targets[:, k] > 0
        support = int(positives.sum())
        auc = aucs[k]
        predicted = scores[:, k] >= thresholds[k]
        sensitivity = float((predicted & positives).sum() / support) if support else None
        negatives = int((~positives).sum())
        specificity = float((~predicted & ~positives).sum() / negatives) if negatives else None
        labels[name] = {"auc": auc, "ci95": intervals[k] if auc is not None else None, "sensitivity": sensitivity,
                        "specificity": specificity,
                        "top3_sensitivity": None if np.isnan(top3[k]) else float(top3[k]), "support": support}
    return {"labels": labels, "min_positives": min_positives,
            "mean_auc": mean_auc(targets, scores, selection.labels), "mean_auc_ci95": mean_interval,
            "mean_auc_labels": [names[k] for k in selection.labels],
            "mean_auc_fallback": selection.fallback,
            "labels_below_min_positives": [name for k, name in enumerate(names) if k not in selection.labels],
            "mean_auc_all_labels": mean_auc(targets, scores),
            "bootstrap": {"resamples": resamples, "seed": seed, "unit": "image", "interval": "percentile 95%"},
            "mean_average_precision": mean_average_precision(targets, scores)}
