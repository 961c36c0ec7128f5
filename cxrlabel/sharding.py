"""`--shard I/N`: a deterministic part of the input, so N independent jobs (a Slurm array, Ray or Spark tasks) can
each run `mine` or `build` on their part and `cxrlabel merge` joins the results (a build's splits with
`datasets.concatenate_datasets`).

A record belongs to shard `1 + blake2b(key) mod N`: a stable hash of its key alone (not Python's salted `hash`,
not the record's position), so the same record lands in the same shard whatever the input order, the machine or
the run. The key is the report id for `mine` and the patient for `build` (see `patient_key`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from cxrlabel.errors import UserError

Item = TypeVar("Item")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based, as Slurm's SLURM_ARRAY_TASK_ID runs 1..N) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, key: str) -> bool:
        """Whether the record with this key belongs to this shard."""
        return shard_of(key, self.count) == self.index

    def select(self, items: Iterable[Item], key: Callable[[Item], str]) -> Iterator[Item]:
        """The items of this shard, in their input order (streamed: nothing is held in memory)."""
        return (item for item in items if self.holds(key(item)))

    def describe(self, key: str, run: str = "") -> dict:
        """The summary.json entry: which shard, keyed by what, and (mine) the fingerprint of the whole run (inputs,
        options, rules, version; the same for all N shards), which `merge` compares."""
        return {"index": self.index, "count": self.count, "key": key, **({"run": run} if run else {})}


def shard_of(key: str, count: int) -> int:
    """1..count for a record key: the first 8 bytes of its BLAKE2b digest, modulo `count`."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "big") % count


def parse_shard(text: str | None) -> Shard | None:
    """`--shard I/N` (1 <= I <= N) → Shard; None when the option is not given; UserError for anything else."""
    if text is None:
        return None
    index, slash, count = text.strip().partition("/")
    if not slash or not index.strip().isdigit() or not count.strip().isdigit():
        raise UserError(f"--shard {text!r}: expected I/N, e.g. 1/8 (shard I of N, 1 <= I <= N)")
    shard = Shard(int(index), int(count))
    if shard.count < 1 or not 1 <= shard.index <= shard.count:
        raise UserError(f"--shard {text}: expected 1 <= I <= N (shards are numbered 1..N)")
    return shard


def patient_key(report_id: str, patient: str) -> str:
    """The shard key of a build row: its patient (manifest / source patient column, or DICOM PatientID read when
    pairing), else its report (the build then counts each report as its own patient). All images of a patient
    thus land in one shard, and each patient's counts are in one shard only."""
    return "patient:" + patient if patient else "report:" + report_id
