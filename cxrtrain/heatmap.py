"""`cxrtrain heatmap`: class activation maps, boxes from thresholded heatmaps, localisation accuracy."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

IOBB_THRESHOLDS = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return self.w * self.h

    def intersection(self, other: Box) -> float:
        width = min(self.x + self.w, other.x + other.w) - max(self.x, other.x)
        height = min(self.y + self.h, other.y + other.h) - max(self.y, other.y)
        return max(width, 0.0) * max(height, 0.0)


def iobb(gold: Box, predicted: Box) -> float:
    """Intersection over the predicted (detected) box area, as ChestX-ray8."""
    return gold.intersection(predicted) / predicted.area if predicted.area else 0.0


def iou(gold: Box, predicted: Box) -> float:
    overlap = gold.intersection(predicted)
    union = gold.area + predicted.area - overlap
    return overlap / union if union else 0.0


def normalise_heatmap(cam: np.ndarray) -> np.ndarray:
    """Scale a heatmap to [0, 255]."""
    low, high = float(cam.min()), float(cam.max())
    return (cam - low) / (high - low) * 255.0 if high > low else np.zeros_like(cam, dtype=float)


def boxes_from_heatmap(heatmap: np.ndarray, threshold: float) -> list[Box]:
    """Bounding boxes of the connected regions of a [0, 255] heatmap above `threshold`."""
    regions, _ = ndimage.label(heatmap > threshold)
    boxes = []
    for rows, cols in ndimage.find_objects(regions):
        boxes.append(Box(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start))
    return boxes


def cam_for_image(model, tensor: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """CAMs of one normalised image (C, H, W), upsampled to `size` (height, width): (K, H, W)."""
    cams = model.cam(tensor[None])
    return F.interpolate(cams.float(), size=size, mode="bilinear", align_corners=False)[0].cpu().numpy()


def overlay(image: np.ndarray, heatmap: np.ndarray, boxes: list[Box], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    figure, axis = plt.subplots(figsize=(5, 5))
    axis.imshow(image, cmap="gray")
    axis.imshow(heatmap, cmap="jet", alpha=0.4)
    for box in boxes:
        axis.add_patch(Rectangle((box.x, box.y), box.w, box.h, fill=False, edgecolor="lime", linewidth=1.5))
    axis.set_title(title, fontsize=9)
    axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def read_gold_boxes(path: Path) -> dict[tuple[str, str], list[Box]]:
    """ChestX-ray8 BBox list: Image Index, Finding Label, x, y, w, h (header 'Bbox [x' ... accepted)."""
    boxes: dict[tuple[str, str], list[Box]] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            if len(row) >= 6 and row[0].strip():
                x, y, w, h = (float(v) for v in row[2:6])
                boxes.setdefault((row[0].strip(), row[1].strip()), []).append(Box(x, y, w, h))
    return boxes


def localisation_scores(gold: dict[tuple[str, str], list[Box]], predicted: dict[tuple[str, str], list[Box]],
                        n_images: int) -> dict:
    """Per class: accuracy (gold boxes hit by a predicted box with IoBB ≥ T) and average false positives per
    image (predicted boxes below T), at each T(IoBB) and at the same thresholds of IoU."""
    classes = sorted({label for _, label in gold})
    result = {}
    for measure, fn in (("iobb", iobb), ("iou", iou)):
        for threshold in IOBB_THRESHOLDS:
            per_class = {}
            for label in classes:
                keys = [k for k in gold if k[1] == label]
                hits = sum(any(fn(g, p) >= threshold for p in predicted.get(k, [])) for k in keys for g in gold[k])
                total = sum(len(gold[k]) for k in keys)
                false_positives = sum(not any(fn(g, p) >= threshold for g in gold.get(k, []))
                                      for k in predicted if k[1] == label for p in predicted[k])
                per_class[label] = {"accuracy": hits / total if total else None,
                                    "avg_false_positives": false_positives / max(n_images, 1)}
            result[f"{measure}>={threshold}"] = per_class
    return result
