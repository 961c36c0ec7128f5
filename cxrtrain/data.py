"""Dataset access: a cxrlabel dataset on disk → grey crops (workers) → normalised 3-channel batches (device).

Workers decode, resize and crop, and hand over one grey float16 channel per image; the expansion to 3 channels and
the normalisation happen batched on the training device (`model_input`), which moves 6× fewer bytes through the
DataLoader than 3-channel float32 tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from cxrlabel.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Preprocessing:
    """Everything needed to reproduce the input pipeline; saved with the run."""

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    test_crops: str = "center"  # center | five


def load_splits(path: str):
    """The DatasetDict saved by `cxrlabel build` and its label names (from the `labels` feature)."""
    from datasets import DatasetDict, load_from_disk

    try:
        dataset = load_from_disk(path)
    except FileNotFoundError as exc:
        raise UserError(f"{path}: not a dataset folder saved by `cxrlabel build` ({exc})") from exc
    if not isinstance(dataset, DatasetDict) or not set(SPLITS) <= set(dataset):
        raise UserError(f"{path}: expected the splits {', '.join(SPLITS)}")
    features = dataset["train"].features
    if "image" not in features:
        raise UserError(f"{path}: the dataset has no image column (a text-only build cannot be trained on)")
    if "labels" not in features or not hasattr(getattr(features["labels"], "feature", None), "names"):
        raise UserError(f"{path}: the `labels` column must be a Sequence(ClassLabel) of the positive labels")
    return dataset, list(features["labels"].feature.names)


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
    → (grey float16 crop, multi-hot float target).

    train: random crop (1, crop, crop); eval: centre crop, or five crops (5, 1, crop, crop) that are averaged.
    """

    def __init__(self, split, n_labels: int, prep: Preprocessing, train: bool):
        if hasattr(split, "select_columns"):
            split = split.select_columns(["image", "labels"])
        self.split, self.n_labels, self.prep, self.train = split, n_labels, prep, train

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.split[int(index)]
        tensor = image_tensor(row["image"], self.prep.resize)
        if self.train:
            tensor = random_crop(tensor, self.prep.crop)
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
