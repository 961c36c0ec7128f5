"""Dataset access: a cxrlabel dataset on disk → normalised 3-channel tensors and multi-hot targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

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


def load_splits(path: str):
    from datasets import load_from_disk

    dataset = load_from_disk(path)
    if "image" not in dataset["train"].features:
        raise ValueError(f"{path}: the dataset has no image column (a text-only build cannot be trained on)")
    names = dataset["train"].features["labels"].feature.names
    return dataset, list(names)


def multi_hot(indices: list[int], n_labels: int) -> torch.Tensor:
    target = torch.zeros(n_labels)
    target[list(indices)] = 1.0
    return target


def image_tensor(image, size: int) -> torch.Tensor:
    """PIL image (8/16-bit grayscale or RGB) → float (1, size, size) in [0, 1], resized with bilinear filtering."""
    array = np.asarray(image.convert("F") if image.mode not in ("L", "RGB") else image.convert("L"), dtype=np.float32)
    peak = 65535.0 if image.mode.startswith("I") else 255.0
    tensor = torch.from_numpy(array / peak)[None, None]
    return F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False)[0]


def normalise(tensor: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    """Grayscale → 3 channels, then ImageNet-style normalisation."""
    rgb = tensor.expand(3, -1, -1)
    mean = torch.tensor(prep.mean).view(3, 1, 1)
    std = torch.tensor(prep.std).view(3, 1, 1)
    return (rgb - mean) / std


def random_crop(tensor: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    _, height, width = tensor.shape
    top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
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
    """train: random crop; eval: centre crop, or five crops stacked (the model averages them)."""

    def __init__(self, split, n_labels: int, prep: Preprocessing, train: bool, seed: int = 0):
        self.split, self.n_labels, self.prep, self.train = split, n_labels, prep, train
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.split.num_rows

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.split[int(index)]
        tensor = normalise(image_tensor(row["image"], self.prep.resize), self.prep)
        if self.train:
            tensor = random_crop(tensor, self.prep.crop, self.generator)
        elif self.prep.test_crops == "five":
            tensor = five_crops(tensor, self.prep.crop)
        else:
            tensor = center_crop(tensor, self.prep.crop)
        return tensor, multi_hot(row["labels"], self.n_labels)


def label_matrix(split, n_labels: int) -> np.ndarray:
    matrix = np.zeros((split.num_rows, n_labels), dtype=np.float32)
    for row, indices in enumerate(split["labels"]):
        matrix[row, list(indices)] = 1.0
    return matrix
