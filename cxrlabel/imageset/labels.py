"""Reader of the labels.csv that `cxrlabel mine` writes: label names and one state per label and report."""

from __future__ import annotations

import csv
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.imageset.problems import Problem
from cxrlabel.types import STATE_OF_CODE

STATE_NAMES = {**{code: state.value for code, state in STATE_OF_CODE.items()}, "": ""}
STATES = ("positive", "negative", "uncertain", "")


def _state(value: str) -> str | None:
    value = value.strip()
    if value in STATE_NAMES:
        return STATE_NAMES[value]
    try:
        number = float(value)  # 1.0 / -1.0 as pandas writes them
    except ValueError:
        return None
    return STATE_NAMES.get(str(int(number))) if number.is_integer() else None


def read_labels(path: Path) -> tuple[list[str], dict[str, tuple[str, ...]], list[Problem]]:
    """labels.csv of `cxrlabel mine`: label names (column order), per report id the state per label, problems."""
    if not path.is_file():
        raise UserError(f"{path}: labels file not found (run `cxrlabel mine` first)")
    problems: list[Problem] = []
    rows: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or header[0].strip() != "id" or len(header) < 2:
            raise UserError(f"{path}: expected the labels.csv of `cxrlabel mine` (id + one column per label)")
        names = [name.strip() for name in header[1:]]
        if len(set(names)) != len(names) or not all(names):
            raise UserError(f"{path}: label columns must be named and distinct")
        for line, row in enumerate(reader, start=2):
            if not row or not row[0].strip():
                if any(cell.strip() for cell in row):
                    problems.append(Problem("", "", f"labels.csv line {line}: no report id"))
                continue
            report_id = row[0].strip()
            states = [_state(value) for value in row[1:]]
            if len(states) != len(names) or None in states:
                problems.append(Problem(report_id, "", f"labels.csv line {line}: expected {len(names)} values "
                                                       "of 1 / 0 / -1 / empty"))
            elif report_id in rows:
                problems.append(Problem(report_id, "", f"labels.csv line {line}: duplicate report id (first kept)"))
            else:
                rows[report_id] = tuple(states)
    return names, rows, problems
