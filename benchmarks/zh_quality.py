"""Chinese labeler on the development set: dong10 and regions5 scores and clustering purity
(throughput: benchmarks/zh_speed.py).

Run: python benchmarks/zh_quality.py [REPORTS_CSV]   (default ../shared/data/zh/reports_dev.csv)

Purity: distinct diagnosis clauses are clustered for k = 10..15; each clause occurrence in a report with
exactly one gold dong10 label (normal included) takes that label as reference; purity = sum over clusters
of the most common reference count / all counted occurrences.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from cxrlabel.labelsets import load_label_set
from cxrlabel.metrics import score_labels
from cxrlabel.readers import iter_reports
from cxrlabel.types import Report, State
from cxrlabel.zh.cluster import cluster_clauses, collect_clauses, distance_matrix, frequent_clauses, purity
from cxrlabel.zh.labeler import ChineseLabeler
from cxrlabel.zh.text import find_sections, split_clauses, split_sentences

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "zh" / "reports_dev.csv"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not path.exists():
        print(f"skipped: {path} not found")
        return
    gold = {row["id"]: row for row in csv.DictReader(open(path, encoding="utf-8-sig"))}
    reports = [r for r in iter_reports(path) if isinstance(r, Report)]
    for name in ("dong10", "regions5"):
        label_set = load_label_set(name)
        results = ChineseLabeler(label_set).label_batch(reports)
        names = label_set.names
        truth = np.array([[int(gold[r.report_id][n]) for n in names] for r in results])
        pred = np.array([[int(r.labels.get(n) == State.POSITIVE) for n in names] for r in results])
        scores = score_labels(truth, pred, names)
        print(f"\n{name}: {len(results)} reports")
        for label, row in scores["labels"].items():
            print(f"  {label:36s} P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  "
                  f"n {row['support']}")
        print(f"  {'macro':36s} P {scores['macro']['precision']:.3f}  R {scores['macro']['recall']:.3f}  "
              f"F1 {scores['macro']['f1']:.3f}")
    dong = load_label_set("dong10").names
    reference: dict[str, Counter] = {}
    for report in reports:
        positives = [n for n in dong if gold[report.id][n] == "1"]
        if len(positives) != 1:
            continue
        for sentence in split_sentences(find_sections(report).get("diagnosis", "")):
            for clause in split_clauses(sentence):
                reference.setdefault(clause, Counter())[positives[0]] += 1
    table = collect_clauses(reports)
    clauses, weights, _ = frequent_clauses(table, len(table.counts))
    started = time.perf_counter()
    distances = distance_matrix(clauses)
    print(f"\nclustering: {sum(table.counts.values())} clauses, {len(clauses)} distinct, "
          f"distance matrix {time.perf_counter() - started:.3f} s")
    for k in range(10, 16):
        plain = purity(cluster_clauses(clauses, distances, k), reference)
        weighted = purity(cluster_clauses(clauses, distances, k, weights=weights), reference)
        print(f"  k={k:2d} purity {weighted:.3f} (count-weighted medoids, as `cxrlabel cluster`), "
              f"{plain:.3f} (FasterPAM medoids)")

if __name__ == "__main__":
    main()
