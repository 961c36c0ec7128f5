"""Read a `cxrlabel mine` run folder: summary.json and labels.csv whole (one small tuple per report), and
mentions.jsonl streamed for the reports shown only, so that a large run stays within memory."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.labelsets import LabelSet
from cxrlabel.registry import label_set_for
from cxrlabel.types import STATE_OF_CODE, Mention, State

RUN_FILES = ("summary.json", "labels.csv", "mentions.jsonl")
CELL_STATES: dict[str, State | None] = {**STATE_OF_CODE, "": None}  # "" = not mentioned


@dataclass
class Run:
    """A finished mining run: its summary, label set and the states of each report (run order, one state or None
    per label of `label_names`)."""

    folder: Path
    summary: dict
    label_set: LabelSet
    label_names: list[str]
    labels: dict[str, tuple[State | None, ...]]

    @property
    def lang(self) -> str:
        return self.summary["lang"]

    def states(self, report_id: str) -> dict[str, State | None]:
        return dict(zip(self.label_names, self.labels[report_id], strict=True))

    def mentions(self, report_ids: set[str]) -> dict[str, list[Mention]]:
        """The mentions of `report_ids`, in run order, read from mentions.jsonl."""
        return read_mentions(self.folder / "mentions.jsonl", report_ids)


def read_run(folder: Path, labels: str | None = None) -> Run:
    """Read a run folder; a UserError (one line) when it is no finished `cxrlabel mine` run."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder (give the --out folder of a `cxrlabel mine` run)")
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{folder} is not a `cxrlabel mine` run folder: no {', '.join(missing)}")
    summary = _read_summary(folder / "summary.json")
    label_set = _label_set(summary, labels, folder)
    names, label_rows = _read_labels(folder / "labels.csv")
    return Run(folder, summary, label_set, names, label_rows)


def _read_summary(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a cxrlabel summary.json ({exc})") from exc
    if not isinstance(summary, dict) or not {"lang", "label_set"} <= set(summary):
        raise UserError(f"{path}: not a cxrlabel summary.json (no lang / label_set)")
    if summary.get("complete") is False:
        raise UserError(f"{path}: the run is incomplete; finish it with `cxrlabel mine ... --resume` first")
    return summary


def _label_set(summary: dict, labels: str | None, folder: Path) -> LabelSet:
    try:
        return label_set_for(summary["lang"], labels or summary["label_set"])
    except UserError as exc:
        raise UserError(f"{folder}: the run's label set {summary['label_set']!r} cannot be loaded ({exc}); "
                        "give its .yml file with --labels") from exc


def _read_labels(path: Path) -> tuple[list[str], dict[str, tuple[State | None, ...]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or header[0] != "id":
            raise UserError(f"{path}:1: not a cxrlabel labels.csv (the first column must be id)")
        names = header[1:]
        rows: dict[str, tuple[State | None, ...]] = {}
        for line, row in enumerate(reader, start=2):
            if len(row) != len(header) or any(code not in CELL_STATES for code in row[1:]):
                raise UserError(f"{path}:{line}: expected {len(header)} fields with codes 1, 0, -1 or empty")
            rows[row[0]] = tuple(CELL_STATES[code] for code in row[1:])
    return names, rows


def read_mentions(path: Path, report_ids: set[str]) -> dict[str, list[Mention]]:
    mentions: dict[str, list[Mention]] = {}
    with open(path, encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
                if record["report_id"] not in report_ids:
                    continue
                mention = Mention(**{**record, "state": State(record["state"])})
            except (ValueError, TypeError, KeyError) as exc:
                raise UserError(f"{path}:{line}: not a cxrlabel mention record ({exc})") from exc
            mentions.setdefault(mention.report_id, []).append(mention)
    return mentions
