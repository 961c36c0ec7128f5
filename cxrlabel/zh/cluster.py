"""Label discovery by clustering diagnosis clauses (Dong et al. 2017).

Distinct clauses are counted first (hospital diagnoses repeat a lot), their pairwise distance is the
normalised Levenshtein distance (edit operations / length of the longer clause, in [0, 1]; so a typo in
a long clause weighs less than in a short one) computed with `rapidfuzz.process.cdist` on all cores,
and FasterPAM (`kmedoids`) clusters the matrix. FasterPAM takes no sample weights, so its medoids are
then refined with the clause counts as weights (each medoid moved to the member with the least
count-weighted distance to its cluster, clauses reassigned to the nearest medoid, repeated until
stable), and cluster sizes count clause occurrences. Past `max_distinct` distinct clauses only the most
frequent are clustered and the rarer ones join their nearest medoid, so memory stays bounded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import jieba
import kmedoids
import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from cxrlabel.resources import rules_path
from cxrlabel.types import Report
from cxrlabel.zh.text import find_sections, split_clauses, split_sentences


@dataclass
class ClauseTable:
    """Distinct clauses with their occurrence counts and the reports they occur in."""

    counts: Counter = field(default_factory=Counter)
    reports: dict[str, set[str]] = field(default_factory=dict)

    def add(self, report: Report) -> None:
        sections = find_sections(report)
        text = sections.get("diagnosis") or sections.get("findings", "")
        for sentence in split_sentences(text):
            for clause in split_clauses(sentence):
                self.counts[clause] += 1
                self.reports.setdefault(clause, set()).add(report.id)


@dataclass(frozen=True)
class Clustering:
    clauses: list[str]
    labels: np.ndarray  # cluster index per distinct clause
    medoids: np.ndarray  # clause index of each cluster's medoid
    loss: float


def collect_clauses(reports: Iterable[Report]) -> ClauseTable:
    table = ClauseTable()
    for report in reports:
        table.add(report)
    return table


def distance_matrix(clauses: list[str]) -> np.ndarray:
    return process.cdist(clauses, clauses, scorer=Levenshtein.normalized_distance, workers=-1, dtype=np.float32)


def cluster_clauses(clauses: list[str], distances: np.ndarray, k: int, seed: int = 0,
                    weights: np.ndarray | None = None) -> Clustering:
    """FasterPAM on the distance matrix, then (with `weights`) count-weighted medoid refinement."""
    matrix = distances.astype(np.float64)
    result = kmedoids.fasterpam(matrix, k, random_state=seed, init="build")
    labels, medoids = np.asarray(result.labels), np.asarray(result.medoids)
    if weights is not None:
        labels, medoids = _weighted_refine(matrix, medoids, weights)
    loss = float(matrix[np.arange(len(clauses)), medoids[labels]].sum())
    return Clustering(clauses, labels, medoids, loss)


def _weighted_refine(matrix: np.ndarray, medoids: np.ndarray, weights: np.ndarray,
                     rounds: int = 20) -> tuple[np.ndarray, np.ndarray]:
    medoids = medoids.copy()
    labels = np.argmin(matrix[:, medoids], axis=1)
    for _ in range(rounds):
        changed = False
        for index in range(len(medoids)):
            members = np.flatnonzero(labels == index)
            if len(members) == 0:
                continue
            cost = (matrix[np.ix_(members, members)] * weights[members, None]).sum(axis=0)
            best = members[int(np.argmin(cost))]
            changed |= best != medoids[index]
            medoids[index] = best
        labels = np.argmin(matrix[:, medoids], axis=1)
        if not changed:
            break
    return labels, medoids


def frequent_clauses(table: ClauseTable, max_distinct: int) -> tuple[list[str], np.ndarray, list[str]]:
    """(the `max_distinct` most frequent distinct clauses, their counts, the rarer rest)."""
    ranked = [clause for clause, _ in table.counts.most_common()]
    head = ranked[:max_distinct]
    return head, np.array([table.counts[c] for c in head], dtype=np.float64), ranked[max_distinct:]


def with_rare(clustering: Clustering, rare: list[str]) -> Clustering:
    """The clustering extended by clauses left out of it, each joining its nearest medoid."""
    if not rare:
        return clustering
    medoid_texts = [clustering.clauses[int(m)] for m in clustering.medoids]
    nearest = process.cdist(rare, medoid_texts, scorer=Levenshtein.normalized_distance, workers=-1,
                            dtype=np.float32).argmin(axis=1)
    return Clustering(clustering.clauses + rare, np.concatenate([clustering.labels, nearest]), clustering.medoids,
                      clustering.loss)


def choose_k(clauses: list[str], distances: np.ndarray, ks: Iterable[int], seed: int = 0,
             weights: np.ndarray | None = None) -> tuple[int, dict]:
    """The k with the best silhouette, and the silhouette of every k tried."""
    scores = {}
    for k in ks:
        if 1 < k < len(clauses):
            clustering = cluster_clauses(clauses, distances, k, seed, weights)
            scores[k] = float(kmedoids.silhouette(distances.astype(np.float64), clustering.labels)[0])
    if not scores:
        raise ValueError("not enough distinct clauses to cluster")
    return max(scores, key=scores.get), scores


@cache
def _segmenter() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    jieba.setLogLevel(60)
    tokenizer.load_userdict(str(rules_path("zh", "userdict.txt")))
    return tokenizer


def top_words(clauses: list[str], counts: Counter, top: int = 8) -> list[dict]:
    """The most frequent words of a cluster's clauses (jieba with the radiology user dictionary; single
    characters left out), weighted by clause counts: the keywords a reader maps a cluster by."""
    words: Counter = Counter()
    segmenter = _segmenter()
    for clause in clauses:
        for word in set(segmenter.lcut(clause)):
            if len(word) > 1:
                words[word] += counts[clause]
    return [{"word": word, "count": count} for word, count in words.most_common(top)]


def summarise(clustering: Clustering, table: ClauseTable, top: int = 10) -> list[dict]:
    """One record per cluster: size in clause occurrences and reports, medoid, most frequent members
    and words."""
    summary = []
    for index, medoid in enumerate(clustering.medoids):
        members = [clustering.clauses[i] for i in np.flatnonzero(clustering.labels == index)]
        members.sort(key=lambda c: -table.counts[c])
        reports = set().union(*(table.reports[c] for c in members)) if members else set()
        summary.append({
            "id": index,
            "size_clauses": int(sum(table.counts[c] for c in members)),
            "distinct_clauses": len(members),
            "size_reports": len(reports),
            "medoid": clustering.clauses[int(medoid)],
            "top_members": [{"clause": c, "count": table.counts[c]} for c in members[:top]],
            "top_words": top_words(members, table.counts),
        })
    summary.sort(key=lambda c: -c["size_clauses"])
    return summary


def purity(clustering: Clustering, clause_labels: dict[str, Counter]) -> float:
    """Cluster purity: per cluster the count of its most common reference label, summed, over all counted."""
    total = majority = 0
    for index in range(len(clustering.medoids)):
        counter: Counter = Counter()
        for i in np.flatnonzero(clustering.labels == index):
            counter.update(clause_labels.get(clustering.clauses[i], Counter()))
        total += sum(counter.values())
        majority += max(counter.values(), default=0)
    return majority / total if total else 0.0
