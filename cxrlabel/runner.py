"""Run a labeler over a stream of reports, in batches, optionally across worker processes."""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import islice

from cxrlabel.labelsets import LabelSet
from cxrlabel.registry import Labeler, create_labeler
from cxrlabel.types import ReadError, Report, ReportResult

_worker_labeler: Labeler | None = None


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _init_worker(lang: str, label_set: LabelSet, options: dict) -> None:
    global _worker_labeler
    _worker_labeler = create_labeler(lang, label_set, **options)


def _label_in_worker(batch: list[Report | ReadError]) -> list[ReportResult | ReadError]:
    assert _worker_labeler is not None
    return label_mixed_batch(_worker_labeler, batch)


def label_mixed_batch(labeler: Labeler, batch: list[Report | ReadError]) -> list[ReportResult | ReadError]:
    """Label the Reports of a batch, passing ReadErrors through, order kept."""
    reports = [item for item in batch if isinstance(item, Report)]
    results = iter(labeler.label_batch(reports)) if reports else iter(())
    return [item if isinstance(item, ReadError) else next(results) for item in batch]


def run_labeler(
    items: Iterable[Report | ReadError],
    lang: str,
    label_set: LabelSet,
    options: dict,
    workers: int = 1,
    batch_size: int = 64,
) -> Iterator[ReportResult | ReadError]:
    """Yield one result or error per input item, in input order."""
    if workers <= 1:
        labeler = create_labeler(lang, label_set, **options)
        for batch in _batches(items, batch_size):
            yield from label_mixed_batch(labeler, batch)
        return
    context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    # A bounded window of pending batches keeps memory flat however long the input is
    # (Pool.imap would read the whole input ahead).
    pending: deque = deque()
    with context.Pool(workers, initializer=partial(_init_worker, lang, label_set, options)) as pool:
        for batch in _batches(items, batch_size):
            pending.append(pool.apply_async(_label_in_worker, (batch,)))
            if len(pending) >= 3 * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
