"""Dataset access: a cxrlabel dataset on disk → grey crops (workers) → normalised 3-channel batches (device).

Workers decode, resize and crop, and hand over one grey float16 channel per image; the expansion to 3 channels and
the normalisation happen batched on the training device (`model_input`), which moves 6× fewer bytes through the
DataLoader than 3-channel float32 tensors.

A row whose image cannot be decoded does not stop the run: the dataset returns a `SkippedRow` naming it (split,
index, report id, source path, reason), `collate_rows` leaves it out of the batch and hands it to the main process,
and a `SkipLog` counts it, lists it in errors.csv, or with `--strict` stops the run with a one-line error.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import astuple, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, default_collate

from cxrlabel.errors import UserError
from cxrlabel.imageset.splits import SPLITS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """Everything needed to reproduce the input pipeline; saved with the run."""

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    test_crops: str = "center"  # center | five
    flip: bool = False  # random horizontal flip of training crops (CheXNet's augmentation)


def load_splits(path: str):
    """The DatasetDict saved by `cxrlabel build` and its label names (from the `labels` feature)."""
    from datasets import DatasetDict, load_from_disk

    try:
        dataset = load_from_disk(path)
    except FileNotFoundError as exc:
        raise UserError(f"{path}: not a dataset folder saved by `cxrlabel build` ({exc})") from exc
    except Exception as exc:  # a damaged or foreign folder: datasets fails in many ways (IndexError, ValueError ...)
        raise UserError(f"{path}: the dataset cannot be read ({exc.__class__.__name__}: {short(exc)}); "
                        "rebuild it with `cxrlabel build`") from exc
    if not isinstance(dataset, DatasetDict) or not set(SPLITS) <= set(dataset):
        raise UserError(f"{path}: expected the splits {', '.join(SPLITS)}")
    features = dataset["train"].features
    if "image" not in features:
        raise UserError(f"{path}: the dataset has no image column (a text-only build cannot be trained on)")
    if "labels" not in features or not hasattr(getattr(features["labels"], "feature", None), "names"):
        raise UserError(f"{path}: the `labels` column must be a Sequence(ClassLabel) of the positive labels")
    return dataset, list(features["labels"].feature.names)


def check_training_splits(dataset, names: list[str], path: str) -> tuple[np.ndarray, list[str]]:
    """Refuse a dataset that cannot be trained on (no label names, an empty train or validation split, no positive
    label in train) before anything is written; returns the train split's label matrix and warnings about a
    validation split on which no AUC can be computed."""
    if not names:
        raise UserError(f"{path}: the `labels` feature names no label; rebuild with a label set")
    for split in ("train", "validation"):
        if len(dataset[split]) == 0:
            raise UserError(f"{path}: the {split} split is empty; rebuild with more patients or other "
                            "`cxrlabel build --split` ratios (e.g. 70/10/20)")
    train = label_matrix(dataset["train"], len(names))
    if not train.any():
        raise UserError(f"{path}: no train row has a positive label; nothing to learn (check the labels)")
    valid = label_matrix(dataset["validation"], len(names))
    if not any(0 < valid[:, k].sum() < len(valid) for k in range(len(names))):
        return train, [f"warning: no label of the {len(valid)} validation rows has both positives and negatives, so "
                       "the validation AUC is undefined and best.pt is simply the first epoch; rebuild with a larger "
                       "validation share (`cxrlabel build --split`)"]
    return train, []


def short(exc: BaseException, limit: int = 160) -> str:
    """An exception's message on one line, cut to `limit` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class SkippedRow:
    """A dataset row whose image could not be decoded (picklable: DataLoader workers hand it over)."""

    split: str
    row: int
    report_id: str
    source_path: str
    reason: str

    def describe(self) -> str:
        ids = [f"{name} {value}" for name, value in (("report id", self.report_id), ("source", self.source_path))
               if value]
        return (f"{self.split} row {self.row}" + (f" ({', '.join(ids)})" if ids else "")
                + f": unreadable image ({self.reason})")


def collate_rows(batch: list) -> tuple[torch.Tensor | None, torch.Tensor | None, list[SkippedRow]]:
    """(images, targets, skipped rows): the readable rows stacked (None when none is), the others listed."""
    skipped = [item for item in batch if isinstance(item, SkippedRow)]
    readable = [item for item in batch if not isinstance(item, SkippedRow)]
    if not readable:
        return None, None, skipped
    images, targets = default_collate(readable)
    return images, targets, skipped


@dataclass
class SkipLog:
    """The skipped rows a command met: counted per split (each time a row is drawn), each distinct row listed once;
    with `strict` the first one stops the command."""

    strict: bool = False
    drawn: Counter = field(default_factory=Counter)
    rows: dict[tuple[str, int], SkippedRow] = field(default_factory=dict)

    def note(self, skipped: list[SkippedRow], log=None) -> None:
        for row in skipped:
            if self.strict:
                raise UserError(f"{row.describe()}; stopped by --strict (without it the row is skipped, counted "
                                "and listed)")
            self.drawn[row.split] += 1
            if (row.split, row.row) not in self.rows:
                self.rows[(row.split, row.row)] = row
                if log:
                    log(f"skipped {row.describe()}")

    @classmethod
    def merged(cls, parts: list[SkipLog]) -> SkipLog:
        """One log with the draws and rows of all `parts` (ranks, splits, an earlier run)."""
        union = cls(parts[0].strict)
        for part in parts:
            union.drawn.update(part.drawn)
            union.rows.update(part.rows)
        return union

    def read_csv(self, path: Path) -> None:
        """Add the rows an earlier (interrupted) run listed in its errors.csv."""
        if path.exists():
            with open(path, newline="", encoding="utf-8") as handle:
                for line in csv.DictReader(handle):
                    row = SkippedRow(**{**line, "row": int(line["row"])})
                    self.rows.setdefault((row.split, row.row), row)

    def write_csv(self, path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([f.name for f in fields(SkippedRow)])
            writer.writerows(astuple(row) for row in self.rows.values())

    def summary(self) -> str:
        return (f"{len(self.rows)} row(s) with an unreadable image skipped ("
                + ", ".join(f"{split} {count}×" for split, count in sorted(self.drawn.items())) + ")")


def multi_hot(indices: list[int], n_labels: int) -> torch.Tensor:
    target = torch.zeros(n_labels)
    target[list(indices)] = 1.0
    return target


def image_tensor(image, size: int) -> torch.Tensor:
    """PIL image (8/16-bit grayscale or RGB) → float (1, size, size) in [0, 1], resized (bilinear, antialiased)."""
    array = np.asarray(image.convert("F") if image.mode not in ("L", "RGB") else image.convert("L"), dtype=np.float32)
    peak = 65535.0 if image.mode.startswith("I") else 255.0
    tensor = torch.from_numpy(array / peak)[None, None]
    return F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


def model_input(images: torch.Tensor, prep: Preprocessing, device: torch.device) -> torch.Tensor:
    """Grey batch (B, 1, H, W) in [0, 1] → normalised (B, 3, H, W) float32 on `device` (channels_last on CUDA)."""
    images = images.to(device, non_blocking=True).float().expand(-1, 3, -1, -1)
    mean = torch.tensor(prep.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(prep.std, device=device).view(1, 3, 1, 1)
    images = (images - mean) / std
    return images.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else images


def random_crop(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """A random size×size window, drawn from torch's RNG (seeded by the run, or per DataLoader worker)."""
    _, height, width = tensor.shape
    top = int(torch.randint(0, height - size + 1, (1,)))
    left = int(torch.randint(0, width - size + 1, (1,)))
    return tensor[:, top:top + size, left:left + size]


def center_crop(tensor: torch.Tensor, size: int) -> torch.Tensor:
    _, height, width = tensor.shape
    top, left = (height - size) // 2, (width - size) // 2
    return tensor[:, top:top + size, left:left + size]


def five_crops(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """Four corners and the centre (Dong et al.'s test-time averaging): (5, C, size, size)."""
    _, height, width = tensor.shape
    corners = [(0, 0), (0, width - size), (height - size, 0), (height - size, width - size)]
    crops = [tensor[:, t:t + size, lft:lft + size] for t, lft in corners] + [center_crop(tensor, size)]
    return torch.stack(crops)


class ChestXrayDataset(Dataset):
    """Rows {"image": PIL image, "labels": positive label indices} (a `datasets` split or any sequence of them)
    → (grey float16 crop, multi-hot float target), or a `SkippedRow` when the row's image cannot be decoded.

    train: random crop (1, crop, crop), flipped left-right half the time with `prep.flip`; eval: centre crop, or
    five crops (5, 1, crop, crop) that are averaged.
    `name` is the split's name, used with the split's report_id / source_path columns to name skipped rows.
    """

    def __init__(self, split, n_labels: int, prep: Preprocessing, train: bool, name: str = ""):
        # read only when a row is skipped (a view of the split's Arrow table: nothing is loaded here)
        columns = [c for c in ("report_id", "source_path") if c in getattr(split, "column_names", [])]
        self.ids = split.select_columns(columns) if columns else None
        if hasattr(split, "select_columns"):
            split = split.select_columns(["image", "labels"])
        self.split, self.n_labels, self.prep, self.train, self.name = split, n_labels, prep, train, name

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor] | SkippedRow:
        try:
            row = self.split[int(index)]
            tensor = image_tensor(row["image"], self.prep.resize)
        except Exception as exc:  # any decoding failure belongs to this row alone (PIL raises many types)
            ids = self.ids[int(index)] if self.ids is not None else {}
            return SkippedRow(self.name, int(index), ids.get("report_id") or "", ids.get("source_path") or "",
                              f"{exc.__class__.__name__}: {short(exc)}")
        if self.train:
            tensor = random_crop(tensor, self.prep.crop)
            if self.prep.flip and bool(torch.rand(()) < 0.5):
                tensor = tensor.flip(-1)
        elif self.prep.test_crops == "five":
            tensor = five_crops(tensor, self.prep.crop)
        else:
            tensor = center_crop(tensor, self.prep.crop)
        return tensor.to(torch.float16), multi_hot(row["labels"], self.n_labels)


def label_matrix(split, n_labels: int) -> np.ndarray:
    matrix = np.zeros((len(split), n_labels), dtype=np.float32)
    for row, indices in enumerate(split["labels"]):
        matrix[row, list(indices)] = 1.0
    return matrix
