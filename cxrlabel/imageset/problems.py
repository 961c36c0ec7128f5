"""A record the build could not use, as written to errors.csv (ids and file names already pseudonymised)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Problem:
    report_id: str
    source: str  # re-keyed file name, never the original path
    reason: str


def write_errors(path: Path, problems: Iterable[Problem]) -> None:
    """errors.csv: one row per problem (report_id, source, reason)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["report_id", "source", "reason"])
        writer.writerows((p.report_id, p.source, p.reason) for p in problems)
