"""One shard of the build: images decoded to PNG (in worker processes) and rows streamed to
parquet/<split>/shard-NNNNN.parquet one row group at a time, so memory stays flat in the shard size."""

from __future__ import annotations

import os
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cxrlabel.imageset.images import ImageError, read_image, to_square_png
from cxrlabel.imageset.outdir import OutputFolder
from cxrlabel.imageset.problems import Problem
from cxrlabel.imageset.splits import SPLITS


def decode_image(task: tuple[str, str, int, int]) -> tuple[bytes | None, dict, str]:
    """Worker: (images root, relative path, size, bits) → (PNG bytes or None, DICOM tags, error reason)."""
    root, relative, size, bits = task
    try:
        decoded = read_image(Path(root) / relative)
        return to_square_png(decoded.pixels, size, bits), decoded.tags, ""
    except ImageError as exc:
        return None, {}, str(exc)
    except Exception as exc:  # a broken file must not stop the build: it is reported with its reason
        return None, {}, f"cannot convert: {exc.__class__.__name__}"


def ignore_interrupt() -> None:
    """Worker initializer: Ctrl-C is the main process's to handle (it terminates the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class ShardResult:
    """What a finished shard contributes to the summary and errors.csv (ids already pseudonymised)."""

    rows: dict[str, int] = field(default_factory=dict)
    excluded_views: int = 0
    patient_source: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


class ShardWriter:
    """Streams the rows of one shard into parquet/<split>/shard-NNNNN.parquet, one row group at a time."""

    def __init__(self, folder: OutputFolder, number: int, features, row_group: int):
        self.features, self.row_group = features, row_group
        self.paths = {split: folder.root / "parquet" / split / f"shard-{number:05d}.parquet" for split in SPLITS}
        folder.register(*self.paths.values(), *(path.with_suffix(".tmp") for path in self.paths.values()))
        for path in self.paths.values():  # leftovers of an interrupted attempt at this shard (registered: ours)
            path.unlink(missing_ok=True)
            path.with_suffix(".tmp").unlink(missing_ok=True)
        self.buffers: dict[str, list[dict]] = {split: [] for split in SPLITS}
        self.writers: dict = {}
        self.rows: Counter = Counter()

    def add(self, split: str, row: dict) -> None:
        """A row in the features' storage form (label indices, strings, image as {"bytes", "path"}): written as it
        is; `Dataset.from_generator` validates it against the features when the dataset is converted."""
        self.buffers[split].append(row)
        self.rows[split] += 1
        if len(self.buffers[split]) >= self.row_group:
            self._flush(split)

    def _flush(self, split: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.buffers[split]:
            return
        if split not in self.writers:
            self.paths[split].parent.mkdir(parents=True, exist_ok=True)
            self.writers[split] = pq.ParquetWriter(self.paths[split].with_suffix(".tmp"), self.features.arrow_schema)
        self.writers[split].write_table(pa.Table.from_pylist(self.buffers[split], schema=self.features.arrow_schema))
        self.buffers[split].clear()

    def close(self) -> dict[str, int]:
        for split in SPLITS:
            self._flush(split)
        for split, writer in self.writers.items():
            writer.close()
            os.replace(self.paths[split].with_suffix(".tmp"), self.paths[split])
        return dict(self.rows)
