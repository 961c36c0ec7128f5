"""Run a labeler over a stream of reports, in batches, optionally across worker processes."""

from __future__ import annotations

import gc
import multiprocessing as mp
import signal
from collections.abc import Iterable, Iterator
from functools import partial

import yaml

from cxrlabel.errors import UserError
from cxrlabel.labelsets import LabelSet
from cxrlabel.parallel import batches, bounded_imap
from cxrlabel.registry import Labeler, create_labeler
from cxrlabel.types import LabelError, ReadError, RecordError, Report, ReportResult

# Failures of the set-up (rules, models, files), not of one record: they stop the run.
SETUP_ERRORS = (UserError, OSError, ImportError, yaml.YAMLError)
REASON_CHARS = 200

_worker_labeler: Labeler | None = None
_worker_setup_error: UserError | None = None


def freeze_startup_objects() -> None:
    """Move every object alive now (models, rules, vocabularies of the labeler just built) out of the garbage
    collector's scans: they live as long as the run, and scanning them again on every full collection cost up to
    15 % of the labelling time (how much depended on when those collections fell). `gc.unfreeze()` undoes it."""
    gc.collect()
    gc.freeze()


def _init_worker(lang: str, label_set: LabelSet, options: dict) -> None:
    """Build this worker's labeler; a failure is kept for the first task (a raising initializer would make
    the pool start new workers for ever)."""
    global _worker_labeler, _worker_setup_error
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops the run
    try:
        _worker_labeler = create_labeler(lang, label_set, **options)
        freeze_startup_objects()  # for the life of this worker process
    except UserError as exc:
        _worker_setup_error = exc
    except Exception as exc:
        _worker_setup_error = UserError(f"the labeler cannot start: {type(exc).__name__}: {' '.join(str(exc).split())}")


def _label_in_worker(batch: list[Report | ReadError]) -> list[ReportResult | RecordError]:
    if _worker_setup_error is not None:
        raise _worker_setup_error
    assert _worker_labeler is not None
    return label_mixed_batch(_worker_labeler, batch)


def _failure_reason(exc: Exception) -> str:
    message = str(exc).strip().splitlines()
    return f"labelling failed: {type(exc).__name__}: {message[0] if message else ''}"[:REASON_CHARS]


def _label_one(labeler: Labeler, report: Report) -> ReportResult | RecordError:
    try:
        (result,) = labeler.label_batch([report])
    except SETUP_ERRORS:
        raise
    except Exception as exc:  # a failure on this record: it goes to errors.csv, the run goes on
        return LabelError(report.id, _failure_reason(exc), report.source)
    return result


def label_reports(labeler: Labeler, reports: list[Report]) -> list[ReportResult | RecordError]:
    """Label a batch; when it raises, label its reports one by one so only the failing ones become errors."""
    try:
        return labeler.label_batch(reports)
    except SETUP_ERRORS:
        raise
    except Exception:
        return [_label_one(labeler, report) for report in reports]


def label_mixed_batch(labeler: Labeler, batch: list[Report | ReadError]) -> list[ReportResult | RecordError]:
    """Label the Reports of a batch, passing ReadErrors through, order kept."""
    reports = [item for item in batch if isinstance(item, Report)]
    results = iter(label_reports(labeler, reports)) if reports else iter(())
    return [item if isinstance(item, ReadError) else next(results) for item in batch]


def run_batches(items: Iterable[Report | ReadError], lang: str, label_set: LabelSet, options: dict,
                workers: int = 1, batch_size: int = 64) -> Iterator[list[ReportResult | RecordError]]:
    """Yield, per batch of input items and in input order, one result or error per item."""
    if workers <= 1:
        labeler = create_labeler(lang, label_set, **options)
        freeze_startup_objects()
        try:
            for batch in batches(items, batch_size):
                yield label_mixed_batch(labeler, batch)
        finally:  # this process goes on after the run: its objects are the collector's again
            gc.unfreeze()
        return
    context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    # A bounded window of pending batches keeps memory flat however long the input is.
    with context.Pool(workers, initializer=partial(_init_worker, lang, label_set, options)) as pool:
        yield from bounded_imap(pool, _label_in_worker, batches(items, batch_size), 3 * workers)


def run_labeler(items: Iterable[Report | ReadError], lang: str, label_set: LabelSet, options: dict,
                workers: int = 1, batch_size: int = 64) -> Iterator[ReportResult | RecordError]:
    """Yield one result or error per input item, in input order."""
    for results in run_batches(items, lang, label_set, options, workers=workers, batch_size=batch_size):
        yield from results
