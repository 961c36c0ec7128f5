"""Training-time augmentation: random crops, and the left-right flip of `--flip` (CheXNet's augmentation)."""

import numpy as np
import torch
from PIL import Image

from cxrtrain.data import ChestXrayDataset, Preprocessing


def _left_bright_image() -> Image.Image:
    """A 32×32 grey image whose left half is white and right half black, so a flip is visible."""
    array = np.zeros((32, 32), dtype=np.uint8)
    array[:, :16] = 255
    return Image.fromarray(array, mode="L")


def _left_half_brighter(prep: Preprocessing, draws: int = 40) -> list[bool]:
    torch.manual_seed(0)
    dataset = ChestXrayDataset([{"image": _left_bright_image(), "labels": [0]}], 2, prep, train=True)
    sides = []
    for _ in range(draws):
        crop, target = dataset[0]
        assert crop.shape == (1, 24, 24) and target.tolist() == [1.0, 0.0]
        sides.append(bool(crop[0, :, :12].mean() > crop[0, :, 12:].mean()))
    return sides


def test_flip_mirrors_about_half_the_training_crops():
    sides = _left_half_brighter(Preprocessing(resize=32, crop=24, flip=True))
    assert 10 <= sides.count(False) <= 30  # mirrored draws: the bright half is now on the right


def test_no_flip_keeps_every_crop_the_right_way_round():
    assert all(_left_half_brighter(Preprocessing(resize=32, crop=24)))


def test_evaluation_never_flips():
    dataset = ChestXrayDataset([{"image": _left_bright_image(), "labels": []}], 2,
                               Preprocessing(resize=32, crop=24, flip=True), train=False)
    crops = [dataset[0][0] for _ in range(10)]
    assert all(torch.equal(crop, crops[0]) for crop in crops)
    assert crops[0][0, :, :12].mean() > crops[0][0, :, 12:].mean()
