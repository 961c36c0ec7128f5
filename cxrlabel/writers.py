"""Writers: labels.csv, mentions.jsonl, errors.csv and summary.json in one output folder."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from pathlib import Path

from cxrlabel.types import ReadError, ReportResult


class OutputWriter:
    """Streams results to disk as they come; `close()` writes summary.json and returns it."""

    def __init__(self, out_dir: str | Path, label_names: list[str], run_info: dict | None = None):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.label_names = label_names
        self.run_info = run_info or {}
        self._labels_file = open(self.out_dir / "labels.csv", "w", encoding="utf-8", newline="")
        self._labels = csv.writer(self._labels_file)
        self._labels.writerow(["id", *label_names])
        self._mentions = open(self.out_dir / "mentions.jsonl", "w", encoding="utf-8")
        self._errors_file = open(self.out_dir / "errors.csv", "w", encoding="utf-8", newline="")
        self._errors = csv.writer(self._errors_file)
        self._errors.writerow(["id", "source", "reason"])
        self.counts = {name: Counter() for name in label_names}
        self.written = 0
        self.failed = 0
        self._started = time.perf_counter()

    def add(self, item: ReportResult | ReadError) -> None:
        if isinstance(item, ReadError):
            self.failed += 1
            self._errors.writerow([item.id, item.source, item.reason])
            return
        row = [item.report_id]
        for name in self.label_names:
            state = item.labels.get(name)
            row.append("" if state is None else state.code)
            self.counts[name][state.value if state else "not_mentioned"] += 1
        self._labels.writerow(row)
        for mention in item.mentions:
            self._mentions.write(json.dumps(mention.to_json(), ensure_ascii=False) + "\n")
        self.written += 1

    def close(self) -> dict:
        for handle in (self._labels_file, self._mentions, self._errors_file):
            handle.close()
        elapsed = time.perf_counter() - self._started
        summary = {
            **self.run_info,
            "reports_read": self.written + self.failed,
            "reports_written": self.written,
            "reports_failed": self.failed,
            "seconds": round(elapsed, 3),
            "counts": {
                name: {
                    state: self.counts[name][state]
                    for state in ("positive", "negative", "uncertain", "not_mentioned")
                }
                for name in self.label_names
            },
        }
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        return summary
