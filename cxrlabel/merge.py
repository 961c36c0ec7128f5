"""`cxrlabel merge OUT SHARD_DIR...`: join the output folders of `cxrlabel mine --shard I/N` (or of `cxrlabel build
--shard I/N`: cxrlabel/imageset/merge.py) into one.

Every check runs before anything is written: the folders must be finished shards 1..N of one run (same N, inputs,
options and version: the fingerprint each shard's summary.json records), each given once. Mined labels:
labels.csv, mentions.jsonl and errors.csv are concatenated in shard order 1..N (each shard's rows in input order;
the header once), streamed, so memory stays flat; summary.json counts are summed. OUT must be new, empty or an
earlier merge's output (whose four files are then replaced, as `mine` replaces its own); nothing else in it is
touched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.extras import missing_extra
from cxrlabel.writers import STATES, STREAMS, SUMMARY

MERGED_FILES = (*STREAMS, SUMMARY)
COMPARED = ("cxrlabel_version", "lang", "label_set", "parser", "input")  # named in the error when they differ
HEADED = ("labels.csv", "errors.csv")  # CSV files: the header is written once


@dataclass(frozen=True)
class ShardFolder:
    """A finished `mine --shard` or `build --shard` output folder and its summary.json."""

    folder: Path
    summary: dict

    @property
    def is_dataset(self) -> bool:
        return (self.folder / "dataset_dict.json").is_file()

    @property
    def index(self) -> int:
        return self.summary["shard"]["index"]

    @property
    def count(self) -> int:
        return self.summary["shard"]["count"]


def read_shard_folder(folder: Path) -> ShardFolder:
    """The folder's summary, once it is shown to be a finished shard with its three files."""
    if not folder.is_dir():
        raise UserError(f"{folder}: folder not found")
    try:
        summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"{folder}: no readable summary.json of `cxrlabel mine`") from None
    shard = summary.get("shard") if isinstance(summary, dict) else None
    if not isinstance(shard, dict) or not {"index", "count", "run"} <= set(shard):
        raise UserError(f"{folder}: not the output of `cxrlabel mine --shard I/N` or `cxrlabel build --shard I/N` "
                        "(its summary.json names no shard)")
    found = ShardFolder(folder, summary)
    if not found.is_dataset and summary.get("complete") is not True:  # (a build writes summary.json last)
        raise UserError(f"{folder}: shard {shard['index']}/{shard['count']} did not finish; run it again (--resume)")
    missing = [name for name in ("errors.csv",) if not (folder / name).is_file()] if found.is_dataset else \
        [name for name in STREAMS if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{folder}: {missing[0]} is missing")
    return found


def check_shard_set(shards: list[ShardFolder]) -> None:
    """Shards 1..N of one run, each once; a UserError names the first problem."""
    first = shards[0]
    for other in shards[1:]:
        if other.is_dataset != first.is_dataset:
            kinds = {True: "a dataset (cxrlabel build)", False: "mined labels (cxrlabel mine)"}
            raise UserError(f"{other.folder} holds {kinds[other.is_dataset]}, {first.folder} {kinds[first.is_dataset]}")
        for key in COMPARED:
            if other.summary.get(key) != first.summary.get(key):
                raise UserError(f"{other.folder}: {key} {other.summary.get(key)!r} differs from "
                                f"{first.folder}'s {first.summary.get(key)!r}; all shards must come from one run")
        if other.count != first.count:
            raise UserError(f"{other.folder}: a shard of {other.count}, {first.folder} one of {first.count}")
        if other.summary["shard"]["run"] != first.summary["shard"]["run"]:
            raise UserError(f"{other.folder}: other inputs, options or rules than {first.folder}; all shards must "
                            "come from one run")
    seen: dict[int, Path] = {}
    for shard in shards:
        if shard.index in seen:
            raise UserError(f"shard {shard.index}/{shard.count} given twice: {seen[shard.index]} and {shard.folder}")
        seen[shard.index] = shard.folder
    missing = [str(index) for index in range(1, first.count + 1) if index not in seen]
    if missing:
        raise UserError(f"shard(s) {', '.join(missing)} of {first.count} missing; give all {first.count} shard "
                        "folders")


def check_out(out: Path, datasets: bool = False) -> None:
    """OUT may be new, empty, or (mined labels) the output of an earlier merge (only its four files there)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not entries:
        return
    if datasets:
        raise UserError(f"{out}: folder is not empty; choose a new or empty folder for the merged dataset")
    try:
        earlier = "merged_from" in json.loads((out / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        earlier = False
    if not earlier or not set(entries) <= set(MERGED_FILES):
        raise UserError(f"{out}: folder is not empty and holds no earlier merge; choose a new or empty folder")


def merged_summary(shards: list[ShardFolder]) -> dict:
    """Shard 1's run description with the record counts, seconds and label counts of all shards summed."""
    summary = {key: value for key, value in shards[0].summary.items() if key not in ("shard", "counts")}
    for key in ("reports_read", "reports_written", "reports_failed"):
        summary[key] = sum(shard.summary[key] for shard in shards)
    summary["seconds"] = round(sum(shard.summary.get("seconds", 0.0) for shard in shards), 3)
    counts: dict[str, Counter] = {}
    for shard in shards:
        for name, states in shard.summary["counts"].items():
            counts.setdefault(name, Counter()).update(states)
    summary["counts"] = {name: {state: counts[name][state] for state in STATES} for name in counts}
    described = shards[0].summary["shard"]
    summary["merged_from"] = {"count": described["count"], "key": described.get("key", ""), "run": described["run"]}
    return summary


def concatenate_files(name: str, shards: list[ShardFolder], target: Path) -> None:
    """One file of all shards, in shard order; a CSV's header once (and the same in every shard)."""
    header = None
    with open(target, "wb") as output:
        for shard in shards:
            with open(shard.folder / name, "rb") as source:
                if name in HEADED:
                    line = source.readline()
                    if header is not None and line != header:
                        raise UserError(f"{shard.folder / name}: its header differs from {shards[0].folder / name}'s")
                    if header is None:
                        header = line
                        output.write(line)
                shutil.copyfileobj(source, output, 1 << 20)
        output.flush()
        os.fsync(output.fileno())


def merge_shards(out: Path, folders: list[Path]) -> dict:
    """Merge the shard folders (all of `mine` or all of `build`) into OUT; return the merged summary. Nothing reaches
    OUT unless all is well."""
    out = Path(out)
    if not folders:
        raise UserError("give the shard folders to merge")
    shards = sorted((read_shard_folder(Path(folder)) for folder in folders), key=lambda shard: shard.index)
    check_shard_set(shards)
    check_out(out, datasets=shards[0].is_dataset)
    if shards[0].is_dataset:
        missing = missing_extra("build", "cxrlabel merge of `cxrlabel build` shards")
        if missing:
            raise UserError(missing)
        from cxrlabel.imageset.merge import merge_datasets

        return merge_datasets(out, shards)
    return merge_mined(out, shards)


def merge_mined(out: Path, shards: list[ShardFolder]) -> dict:
    """Join checked shards of `mine` into OUT (checked too)."""
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out, prefix=".merge-partial-"))  # ours alone: removed whatever happens
    try:
        for name in STREAMS:
            concatenate_files(name, shards, work / name)
        summary = merged_summary(shards)
        (work / SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
        for name in MERGED_FILES:  # summary.json last: it vouches for the other three
            os.replace(work / name, out / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary
