"""Conversion of the finished parquet shards into the saved Hugging Face DatasetDict (`load_from_disk`), and the
per-split counts of the summary. `Dataset.from_generator` reads a split's shard files (the list in `gen_kwargs`)
into an Arrow cache in record batches of `batch_rows` rows: memory stays flat in the number of images. It runs in
one process: with `num_proc` = --workers the conversion took as long on 2 cores (it only copies bytes; the decoding
is done by then) and its forked jobs held more memory (benchmarks/build_throughput.py, see the README)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cxrlabel.imageset.labels import STATES
from cxrlabel.imageset.outdir import OutputFolder
from cxrlabel.imageset.splits import SPLITS


def features_for(label_names: list[str], with_images: bool, text_fields: tuple[str, ...] = ()):
    """The dataset's columns: [image], labels (ClassLabel indices), label_states, ids, view, [texts], source_path."""
    from datasets import ClassLabel, Features, Image, Sequence, Value

    columns = {
        "labels": Sequence(ClassLabel(names=label_names)),
        "label_states": Sequence(Value("string")),
        "report_id": Value("string"),
        "patient_id": Value("string"),
        "view": Value("string"),
        **{field: Value("string") for field in text_fields},
        "source_path": Value("string"),
    }
    return Features({"image": Image(), **columns} if with_images else columns)


def parquet_rows(files: list[str], batch_rows: int) -> Iterator[dict]:
    """The rows of parquet shard files, read `batch_rows` rows at a time (the generator of from_generator)."""
    import pyarrow.parquet as pq

    for file in files:
        with pq.ParquetFile(file) as parquet:
            for batch in parquet.iter_batches(batch_size=batch_rows):
                yield from batch.to_pylist()


def shards_to_dataset(folder: OutputFolder, features, cache_dir: Path, batch_rows: int):
    """A DatasetDict of the splits' parquet shards under <out>/parquet/<split>/ (an empty split gets a zero-row
    parquet file there, so every split has its folder)."""
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetDict

    splits = {}
    for split in SPLITS:
        files = sorted(str(p) for p in (folder.root / "parquet" / split).glob("shard-*.parquet"))
        if files:
            splits[split] = Dataset.from_generator(
                parquet_rows, features=features, cache_dir=str(cache_dir), split=split,
                gen_kwargs={"files": files, "batch_rows": batch_rows}, writer_batch_size=batch_rows)
        else:
            empty = folder.root / "parquet" / split / "empty.parquet"
            folder.register(empty)
            empty.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(features.arrow_schema.empty_table(), empty)
            splits[split] = Dataset.from_dict({name: [] for name in features}, features=features)
    return DatasetDict(splits)


def save_dataset(dataset, path: Path, images_per_file: int | None) -> None:
    """save_to_disk with `images_per_file` rows in each Arrow file of an image dataset: save_to_disk re-embeds a
    batch of images in memory at a time (about 3 × its bytes) and never across files, so this bounds its memory
    whatever the image size (a text-only dataset keeps the default files of up to 500 MB). An empty split gets one
    explicit file, or it cannot be loaded back."""
    num_shards = {split: max(1, -(-part.num_rows // images_per_file)) if images_per_file else 1
                  for split, part in dataset.items() if images_per_file or part.num_rows == 0}
    dataset.save_to_disk(str(path), num_shards=num_shards)


def split_summary(split, label_names: list[str]) -> dict:
    """Rows, patients, reports and per-label state counts of one split, read in Arrow batches."""
    import pyarrow.compute as pc

    counts = np.zeros((len(STATES), len(label_names)), dtype=np.int64)
    without_positive = 0
    distinct = {name: pc.count_distinct(split.data.column(name)).as_py() if split.num_rows else 0
                for name in ("patient_id", "report_id")}
    for batch in split.select_columns(["label_states"]).with_format("arrow").iter(batch_size=10_000):
        states = np.asarray(batch.column("label_states").combine_chunks().flatten().to_pylist(), dtype=object)
        states = states.reshape(-1, len(label_names))
        for index, state in enumerate(STATES):
            counts[index] += (states == state).sum(axis=0)
        without_positive += int((states != "positive").all(axis=1).sum())
    named = {state or "not_mentioned": dict(zip(label_names, (int(c) for c in counts[i]), strict=True))
             for i, state in enumerate(STATES)}
    return {"rows": split.num_rows, "patients": distinct["patient_id"], "reports": distinct["report_id"],
            "rows_without_positive": without_positive, **named}
