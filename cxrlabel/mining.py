"""`cxrlabel mine`: read → label → write, with a progress bar, safe to interrupt and to resume."""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cxrlabel import __version__
from cxrlabel.labelsets import LabelSet
from cxrlabel.readers import iter_reports
from cxrlabel.registry import label_set_for
from cxrlabel.resources import rules_dir
from cxrlabel.runner import run_batches
from cxrlabel.sharding import Shard
from cxrlabel.types import ReadError, Report
from cxrlabel.writers import PARTIAL_DIR, OutputWriter, check_writable, partial_summary


class MiningInterrupted(Exception):
    """Ctrl-C stopped the run at a finished batch; `summary` is that of the partial run kept for --resume."""

    def __init__(self, summary: dict, partial_dir: Path):
        super().__init__("interrupted")
        self.summary = summary
        self.partial_dir = partial_dir


@dataclass
class StopRequest:
    requested: bool = False


@contextmanager
def stop_after_batch_on_interrupt() -> Iterator[StopRequest]:
    """The first Ctrl-C asks the run to stop after the current batch; a second one stops it at once."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum, frame) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)


def progress_bar(console: Console | None) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.0f} reports/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=console is None,
    )


def _hash_file(digest, path: Path) -> None:
    with open(path, "rb") as handle:  # in 1 MiB blocks: a large input is not read whole
        while block := handle.read(1 << 20):
            digest.update(block)


def run_fingerprint(reports: Path, label_set: LabelSet, settings: dict, folder_files: list[Path]) -> str:
    """A hash of everything that decides the output: inputs, label set, rule files, options, version.

    `folder_files`: the sorted files of `reports` when it is a folder (their names, sizes and times count).
    """
    digest = hashlib.sha256(json.dumps({**settings, "version": __version__}, sort_keys=True, default=str).encode())
    if reports.is_dir():
        for path in folder_files:
            stat = path.stat()
            digest.update(f"{path.relative_to(reports)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    else:
        _hash_file(digest, reports)
    rules = rules_dir()
    for path in sorted([*(p for p in rules.rglob("*") if p.is_file() and "__pycache__" not in p.parts),
                        label_set.path]):
        if path.is_file():
            digest.update(str(path).encode())
            _hash_file(digest, path)
    return digest.hexdigest()


def _checked(items: Iterator[Report | ReadError]) -> Iterator[Report | ReadError]:
    """Read the first record now, so a wrong column or an empty file is reported before any output is touched."""
    first = next(items, None)
    return items if first is None else chain([first], items)


def mine_reports(
    reports: Path,
    *,
    lang: str,
    out: Path,
    labels: str | None,
    options: dict,
    id_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    workers: int = 1,
    batch_size: int = 64,
    max_chars: int = 100_000,
    resume: bool = False,
    console: Console | None = None,
    shard: Shard | None = None,
) -> dict:
    """Label all reports under `reports` into `out`; return the summary dict.

    Raises MiningInterrupted after a Ctrl-C (the partial run is kept for `resume=True`). With `shard`, only the
    records whose report id hashes to that shard are labelled (cxrlabel/sharding.py).
    """
    label_set = label_set_for(lang, labels)
    out, reports = Path(out), Path(reports)
    check_writable(out)
    items = _checked(iter_reports(reports, id_column=id_column, text_columns=text_columns, max_chars=max_chars))
    run_info = {"cxrlabel_version": __version__, "lang": lang, "label_set": label_set.name, "input": str(reports),
                **options}
    settings = {**run_info, "id_column": id_column, "text_columns": list(text_columns or []), "max_chars": max_chars}
    interrupted = partial_summary(out) is not None
    if console is not None and resume and not interrupted:
        console.print(f"[yellow]note:[/] no interrupted run in {out / PARTIAL_DIR}; starting from the beginning")
    elif console is not None and not resume and interrupted:
        console.print(f"[yellow]note:[/] discarding the interrupted run in {out / PARTIAL_DIR} (--resume continues it)")
    folder_files = sorted(p for p in reports.rglob("*") if p.is_file()) if reports.is_dir() else []
    fingerprint = run_fingerprint(reports, label_set, settings, folder_files)
    total = sum(not p.name.startswith(".") for p in folder_files) if reports.is_dir() else None
    if shard is not None:  # the checkpoint's fingerprint names the shard too: --resume continues this shard only
        run_info["shard"] = shard.describe("report id", fingerprint)
        fingerprint = hashlib.sha256(f"{fingerprint}\0shard {shard}".encode()).hexdigest()
        items, total = shard.select(items, lambda item: item.id), None
    with stop_after_batch_on_interrupt() as stop:
        writer = OutputWriter(out, label_set.names, run_info=run_info, fingerprint=fingerprint, resume=resume)
        done_before = writer.written + writer.failed
        if writer.resumed_from is not None and console is not None:
            console.print(f"resuming after {done_before} reports")
        started = time.perf_counter()
        try:
            batches = run_batches(islice(items, done_before, None), lang, label_set, options, workers=workers,
                                  batch_size=batch_size)
            with progress_bar(console) as progress, closing(batches):
                task = progress.add_task("mining", total=total, completed=done_before, rate=0.0)
                for results in batches:
                    for result in results:
                        writer.add(result)
                    writer.checkpoint()
                    done = writer.written + writer.failed
                    progress.update(task, completed=done,
                                    rate=(done - done_before) / max(time.perf_counter() - started, 1e-9))
                    if stop.requested:
                        break
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, back to the last finished batch
            raise MiningInterrupted(writer.abandon(), writer.work) from None
        except BaseException:
            writer.abandon()
            raise
        if stop.requested:
            raise MiningInterrupted(writer.abandon(), writer.work)
        summary = writer.close()  # a Ctrl-C now is only noted: the four files move into OUT together
    summary["reports_per_second"] = (summary["reports_read"] - done_before) / max(time.perf_counter() - started, 1e-9)
    return summary
