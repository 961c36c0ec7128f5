"""Writers: labels.csv, mentions.jsonl, errors.csv and summary.json in one output folder.

A run writes into OUT/.mine-partial/ and moves its four files into OUT only when it finishes, so a failed
or interrupted run leaves the previous results in OUT as they were. After every batch the files are
flushed and the partial summary.json records a checkpoint (items done, byte length of each file, counts,
a fingerprint of inputs and options) from which `--resume` continues.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.types import RecordError, ReportResult

PARTIAL_DIR = ".mine-partial"
STREAMS = ("labels.csv", "mentions.jsonl", "errors.csv")
SUMMARY = "summary.json"
STATES = ("positive", "negative", "uncertain", "not_mentioned")


def check_writable(out_dir: Path) -> None:
    """Create OUT if needed and prove a file can be written there; a UserError says why not."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir, prefix=".mine-probe-"):
            pass
    except OSError as exc:
        raise UserError(f"{out_dir}: the output folder is not writable ({exc.strerror})") from None


def _write_json_atomically(path: Path, data: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def partial_summary(out_dir: Path) -> dict | None:
    """The summary.json of an interrupted run in OUT, or None when there is none (or it is unreadable)."""
    try:
        summary = json.loads((Path(out_dir) / PARTIAL_DIR / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and "checkpoint" in summary else None


class OutputWriter:
    """Streams results to OUT/.mine-partial/ as they come; `close()` moves the finished files into OUT.

    `checkpoint()` after each batch, `abandon()` when a run stops early (the partial folder then ends
    at the last checkpoint and its summary.json says `"complete": false`).
    """

    def __init__(self, out_dir: str | Path, label_names: list[str], run_info: dict | None = None,
                 fingerprint: str = "", resume: bool = False):
        self.out_dir = Path(out_dir)
        check_writable(self.out_dir)
        self.work = self.out_dir / PARTIAL_DIR
        self.label_names = label_names
        self.run_info = run_info or {}
        self.fingerprint = fingerprint
        self.counts = {name: Counter() for name in label_names}
        self.written = self.failed = 0
        self.seconds_before = 0.0
        previous = partial_summary(self.out_dir) if resume else None
        if previous is not None:
            self._restore(previous)
        else:
            self._start_fresh()
        self._labels = csv.writer(self._handles["labels.csv"])
        self._errors = csv.writer(self._handles["errors.csv"])
        self._started = time.perf_counter()
        self.resumed_from = self.written + self.failed if previous is not None else None
        self.checkpoint()

    # -- opening -------------------------------------------------------------------------------------------
    def _start_fresh(self) -> None:
        self._discard_partial()
        self.work.mkdir()
        self._handles = {name: open(self.work / name, "w", encoding="utf-8", newline="") for name in STREAMS}
        csv.writer(self._handles["labels.csv"]).writerow(["id", *self.label_names])
        csv.writer(self._handles["errors.csv"]).writerow(["id", "source", "reason"])

    def _restore(self, previous: dict) -> None:
        checkpoint = previous["checkpoint"]
        if checkpoint.get("fingerprint") != self.fingerprint:
            raise UserError(f"{self.work}: the interrupted run there used other inputs or options; run the command "
                            "again without --resume to start over")
        offsets = checkpoint["offsets"]
        try:
            for name in STREAMS:  # bytes written after the last checkpoint belong to an unfinished batch
                os.truncate(self.work / name, offsets[name])
        except (OSError, KeyError) as exc:
            raise UserError(f"{self.work}: the interrupted run cannot be continued ({exc}); run the command again "
                            "without --resume") from None
        self._handles = {name: open(self.work / name, "a", encoding="utf-8", newline="") for name in STREAMS}
        self.written, self.failed = previous["reports_written"], previous["reports_failed"]
        self.seconds_before = previous.get("seconds", 0.0)
        for name in self.label_names:
            self.counts[name].update(previous["counts"][name])

    def _discard_partial(self) -> None:
        """Remove the files an earlier interrupted run left in OUT/.mine-partial/ (nothing else)."""
        if not self.work.is_dir():
            return
        for name in (*STREAMS, SUMMARY, SUMMARY + ".tmp"):
            (self.work / name).unlink(missing_ok=True)
        try:
            self.work.rmdir()
        except OSError as exc:
            raise UserError(f"{self.work}: holds files that cxrlabel did not write; move them away") from exc

    # -- writing -------------------------------------------------------------------------------------------
    def add(self, item: ReportResult | RecordError) -> None:
        if isinstance(item, RecordError):
            self.failed += 1
            self._errors.writerow([item.id, item.source, item.reason])
            return
        row = [item.report_id]
        for name in self.label_names:
            state = item.labels.get(name)
            row.append("" if state is None else state.code)
            self.counts[name][state.value if state else "not_mentioned"] += 1
        self._labels.writerow(row)
        mentions = self._handles["mentions.jsonl"]
        for mention in item.mentions:
            mentions.write(json.dumps(mention.to_json(), ensure_ascii=False) + "\n")
        self.written += 1

    def _summary(self, complete: bool) -> dict:
        return {
            **self.run_info,
            "complete": complete,
            "reports_read": self.written + self.failed,
            "reports_written": self.written,
            "reports_failed": self.failed,
            "seconds": round(self.seconds_before + time.perf_counter() - self._started, 3),
            "counts": {name: {state: self.counts[name][state] for state in STATES} for name in self.label_names},
        }

    def checkpoint(self) -> None:
        """Flush every file and record how far they are complete (call between batches)."""
        offsets = {}
        for name, handle in self._handles.items():
            handle.flush()
            offsets[name] = handle.tell()
        summary = self._summary(complete=False)
        summary["checkpoint"] = {"fingerprint": self.fingerprint, "offsets": offsets}
        self._checkpoint = summary
        _write_json_atomically(self.work / SUMMARY, summary)

    def abandon(self) -> dict:
        """Stop early: cut the files back to the last checkpoint and return its (incomplete) summary.

        A run that had labelled nothing leaves no partial folder behind.
        """
        for handle in self._handles.values():
            handle.close()
        summary = self._checkpoint
        if summary["reports_read"] == 0:
            self._discard_partial()
            return summary
        for name in STREAMS:
            os.truncate(self.work / name, summary["checkpoint"]["offsets"][name])
        return summary

    def close(self) -> dict:
        """Finish the run: summary.json with `"complete": true`, then the four files move into OUT."""
        for handle in self._handles.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        summary = self._summary(complete=True)
        _write_json_atomically(self.work / SUMMARY, summary)
        for name in (*STREAMS, SUMMARY):  # summary.json last: it vouches for the other three
            os.replace(self.work / name, self.out_dir / name)
        try:
            self.work.rmdir()
        except OSError:  # something else was put there: leave it
            pass
        return summary
