"""Streaming helpers for worker pools: fixed-size batches and a bounded window of pending tasks."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from multiprocessing.pool import Pool
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive lists of `size` items (the last one shorter), read lazily."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def bounded_imap(pool: Pool, function: Callable[[Item], Result], tasks: Iterable[Item],
                 window: int) -> Iterator[Result]:
    """`pool.imap` in input order with at most `window` tasks in flight, so neither the input is read ahead
    nor finished results pile up in memory (Pool.imap reads the whole input ahead)."""
    pending: deque = deque()
    for task in tasks:
        pending.append(pool.apply_async(function, (task,)))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()
