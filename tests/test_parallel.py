"""cxrlabel.parallel: lazy batches and the bounded task window shared by `mine` and `build`."""

from __future__ import annotations

import multiprocessing as mp
from itertools import count

from cxrlabel.parallel import batches, bounded_imap


def _square(value: int) -> int:
    return value * value


def test_batches_split_in_order_with_a_short_last_batch():
    assert list(batches(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batches([], 3)) == []


def test_batches_read_the_input_lazily():
    first = next(batches(count(), 4))  # an endless input: only the first batch is read
    assert first == [0, 1, 2, 3]


def test_bounded_imap_keeps_input_order_and_reads_at_most_window_ahead():
    read: list[int] = []

    def tasks():
        for value in range(20):
            read.append(value)
            yield value

    with mp.get_context("spawn").Pool(2) as pool:
        results = bounded_imap(pool, _square, tasks(), window=3)
        assert next(results) == 0
        assert len(read) == 3  # the window, not the whole input, was submitted before the first result
        assert list(results) == [v * v for v in range(1, 20)]
