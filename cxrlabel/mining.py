"""`cxrlabel mine`: read → label → write, with a progress bar."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cxrlabel import __version__
from cxrlabel.errors import UserError
from cxrlabel.labelsets import load_label_set
from cxrlabel.readers import iter_reports
from cxrlabel.registry import DEFAULT_LABEL_SETS
from cxrlabel.runner import run_labeler
from cxrlabel.writers import OutputWriter


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
    console: Console | None = None,
) -> dict:
    """Label all reports under `reports` into `out`; return the summary dict."""
    if lang not in DEFAULT_LABEL_SETS:
        raise UserError(f"unknown --lang {lang!r}: choose en or zh")
    label_set = load_label_set(labels or DEFAULT_LABEL_SETS[lang])
    items = iter_reports(reports, id_column=id_column, text_columns=text_columns, max_chars=max_chars)
    folder = Path(reports)
    total = (sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")) if folder.is_dir()
             else None)
    writer = OutputWriter(
        out,
        label_set.names,
        run_info={"cxrlabel_version": __version__, "lang": lang, "label_set": label_set.name,
                  "input": str(reports), **options},
    )
    started = time.perf_counter()
    try:
        with progress_bar(console) as progress:
            task = progress.add_task("mining", total=total, rate=0.0)
            for done, result in enumerate(
                run_labeler(items, lang, label_set, options, workers=workers, batch_size=batch_size), start=1
            ):
                writer.add(result)
                if done % 50 == 0:
                    progress.update(task, completed=done, rate=done / (time.perf_counter() - started))
            done = writer.written + writer.failed
            progress.update(task, completed=done, rate=done / max(time.perf_counter() - started, 1e-9))
    finally:
        summary = writer.close()
    summary["reports_per_second"] = summary["reports_read"] / max(time.perf_counter() - started, 1e-9)
    return summary
