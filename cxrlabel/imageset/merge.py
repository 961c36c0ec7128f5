"""`cxrlabel merge` for the datasets of `cxrlabel build --shard I/N`: each split is `datasets.concatenate_datasets`
of the shards' splits (shard order 1..N), saved as a build saves its own; the parquet files are copied (named by
shard), errors.csv concatenated, summary.json recomputed (per-split counts from the joined rows, per-shard counts
summed, whole-input counts kept) and the dataset card says it was joined from N shards."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.imageset.card import dataset_card, label_descriptions, rules_checksums
from cxrlabel.imageset.convert import save_dataset, split_summary
from cxrlabel.imageset.dataset import IMAGES_PER_SAVED_FILE
from cxrlabel.imageset.splits import SPLITS
from cxrlabel.merge import ShardFolder, concatenate_files

SUMMED = ("excluded_views", "patients_in_two_splits", "errors", "shards")  # each shard counts its own rows
WHOLE_INPUT = ("reports_in_labels", "skipped_non_image_files", "listed_without_image_file", "ambiguous_file_names")


def _summed(shards: list[ShardFolder], key: str) -> dict:
    total: Counter = Counter()
    for shard in shards:
        total.update(shard.summary[key])
    return dict(total.most_common())


def merged_summary(shards: list[ShardFolder], joined) -> dict:
    """Shard 1's description of the build, with the counts of all shards."""
    first = shards[0].summary
    for shard in shards[1:]:
        for key in WHOLE_INPUT:  # every shard planned the whole input: these agree, or the shards are not one run
            if shard.summary.get(key) != first.get(key):
                raise UserError(f"{shard.folder}: {key} {shard.summary.get(key)!r} differs from {shards[0].folder}'s "
                                f"{first.get(key)!r}")
    summary = {key: value for key, value in first.items() if key != "shard"}
    for key in SUMMED:
        summary[key] = sum(shard.summary[key] for shard in shards)
    summary["errors_by_reason"] = _summed(shards, "errors_by_reason")
    summary["patient_id_from"] = _summed(shards, "patient_id_from")
    summary["splits"] = {split: split_summary(joined[split], first["label_names"]) for split in SPLITS}
    described = first["shard"]
    summary["merged_from"] = {"count": described["count"], "key": described["key"], "run": described["run"]}
    return summary


def _copy_parquet(shards: list[ShardFolder], staging: Path) -> None:
    """parquet/<split>/shard<I>-<name>: every shard's parquet files, named by shard so none clashes."""
    for shard in shards:
        root = shard.folder / "parquet"
        for path in sorted(root.glob("*/*.parquet")):
            target = staging / "parquet" / path.parent.name / f"shard{shard.index:03d}-{path.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def merge_datasets(out: Path, shards: list[ShardFolder]) -> dict:
    """Join checked dataset shards into OUT (new or empty); return the merged summary."""
    from datasets import DatasetDict, concatenate_datasets, load_from_disk
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    parts = [load_from_disk(str(shard.folder)) for shard in shards]  # memory-mapped, not read into memory
    joined = DatasetDict({split: concatenate_datasets([part[split] for part in parts]) for split in SPLITS})
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".merge-partial-"))  # ours alone: removed whatever happens
    try:
        summary = merged_summary(shards, joined)
        save_dataset(joined, staging, IMAGES_PER_SAVED_FILE if summary["images"] else None)
        _copy_parquet(shards, staging)
        concatenate_files("errors.csv", shards, staging / "errors.csv")
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
        lang = summary["labeler"].get("lang", "")
        dataset_card(summary, rules_checksums(lang), label_descriptions(summary["label_set"])).save(
            staging / "README.md")
        del joined, parts
        files = sorted((p for p in staging.rglob("*") if p.is_file()), key=lambda p: (p.name == "summary.json", p))
        for path in files:  # summary.json last: it vouches for the rest
            target = out / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary
