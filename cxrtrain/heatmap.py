"""`cxrtrain heatmap`: class activation maps, boxes from thresholded heatmaps, localisation accuracy.

An image that cannot be read or decoded is skipped and listed with the reason in RUN/heatmaps/errors.csv; the
others are drawn."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from cxrlabel.errors import UserError

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


def cam_for_image(model, batch: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """CAMs of one normalised image (1, C, H, W), upsampled to `size` (height, width): (K, H, W)."""
    cams = model.cam(batch)
    return F.interpolate(cams.float(), size=size, mode="bilinear", align_corners=False)[0].cpu().numpy()


def overlay(image: np.ndarray, heatmap: np.ndarray, boxes: dict[float, list[Box]], title: str, path: Path) -> None:
    """The image with the heatmap in colour and each threshold's boxes (lowest cyan … highest lime)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    figure, axis = plt.subplots(figsize=(5, 5))
    axis.imshow(image, cmap="gray")
    axis.imshow(heatmap, cmap="jet", alpha=0.4)
    colours = ["cyan", "yellow", "lime"]
    for rank, cut in enumerate(sorted(boxes)):
        colour = colours[max(len(colours) - len(boxes) + rank, 0)]
        for box in boxes[cut]:
            axis.add_patch(Rectangle((box.x, box.y), box.w, box.h, fill=False, edgecolor=colour, linewidth=1.2))
    axis.set_title(title, fontsize=9)
    axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def read_gold_boxes(path: Path) -> dict[tuple[str, str], list[Box]]:
    """ChestX-ray8 BBox list: Image Index, Finding Label, x, y, w, h after a header row (its 'Bbox [x', 'y', 'w',
    'h]' header works), in the pixel coordinates of the images the heatmaps are drawn on."""
    boxes: dict[tuple[str, str], list[Box]] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            for row in reader:
                if len(row) >= 6 and row[0].strip():
                    try:
                        x, y, w, h = (float(v) for v in row[2:6])
                    except ValueError:
                        raise UserError(f"{path}:{reader.line_num}: x, y, w, h must be numbers") from None
                    boxes.setdefault((row[0].strip(), row[1].strip()), []).append(Box(x, y, w, h))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read the --bbox file ({getattr(exc, 'strerror', None) or exc})") from exc
    return boxes


def localisation_scores(gold: dict[tuple[str, str], list[Box]],
                        predicted: dict[tuple[str, str], list[Box]]) -> dict:
    """ChestX-ray8's localisation table for the images that have gold boxes: per class, the accuracy (share of gold
    boxes hit by a predicted box of that class with overlap ≥ T) and the average false positives (predicted boxes
    overlapping no gold box by ≥ T, per image with a gold box of the class), at each T for IoBB and for IoU."""
    classes = sorted({label for _, label in gold})
    result = {}
    for measure, fn in (("iobb", iobb), ("iou", iou)):
        for threshold in IOBB_THRESHOLDS:
            per_class = {}
            for label in classes:
                keys = [k for k in gold if k[1] == label]
                hits = sum(any(fn(g, p) >= threshold for p in predicted.get(k, [])) for k in keys for g in gold[k])
                false_positives = sum(not any(fn(g, p) >= threshold for g in gold[k])
                                      for k in keys for p in predicted.get(k, []))
                per_class[label] = {"accuracy": hits / sum(len(gold[k]) for k in keys),
                                    "avg_false_positives": false_positives / len(keys), "images": len(keys)}
            result[f"{measure}>={threshold}"] = per_class
    return result


@dataclass(frozen=True)
class ImageItem:
    """One image to draw: its key (gold-box matching, output name), where it comes from (for errors.csv), and how
    to read it (decoding happens only when drawn, so one bad image fails alone)."""

    key: str
    where: str
    load: Callable[[], object]


def read_file_image(path: Path):
    """A PNG / JPEG / DICOM file as an 8-bit grey PIL image (cxrlabel's reader: windowing, MONOCHROME1 ...)."""
    from PIL import Image

    from cxrlabel.build.images import read_image

    return Image.fromarray((read_image(path).pixels * 255).round().astype(np.uint8), mode="L")


def image_items(target: str, checkpoint: dict, gold_keys: set[str], max_images: int) -> list[ImageItem]:
    """The images to draw: one image file, the images of a folder, or rows of a dataset split (key = the file
    name, or the report id / source file name of a row; with gold boxes, only the images they name)."""
    from cxrlabel.build.images import RASTER_SUFFIXES

    path = Path(target)
    if path.is_file() or path.is_dir():
        files = [path] if path.is_file() else sorted(
            p for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES | {".dcm"})
        files = [p for p in files if p.name in gold_keys][:max_images] if gold_keys else files[:max_images]
        return [ImageItem(p.name, str(p), lambda p=p: read_file_image(p)) for p in files]
    from cxrtrain.data import load_splits

    dataset, _ = load_splits(checkpoint["dataset"])
    if target not in dataset:
        raise UserError(f"{target!r} is neither an image file or folder nor a split ({', '.join(dataset)})")
    split = dataset[target]
    keys = split["report_id"] if "report_id" in split.column_names else [str(i) for i in range(len(split))]
    if gold_keys:
        names = [Path(s).name for s in split["source_path"]] if "source_path" in split.column_names else keys
        wanted = [i for i in range(len(split)) if keys[i] in gold_keys or names[i] in gold_keys][:max_images]
        keys = [keys[i] if keys[i] in gold_keys else names[i] for i in range(len(split))]
    else:
        wanted = list(range(min(max_images, len(split))))
    first = {}
    for i in wanted:  # a report with several images: its first image (the key names one image)
        first.setdefault(keys[i], i)
    return [ImageItem(key, f"{target} row {i} ({key})", lambda i=i: split[i]["image"]) for key, i in first.items()]


def heatmap_run(run_dir: Path, target: str, bbox: Path | None, thresholds: tuple[float, ...] = (60.0, 180.0),
                max_images: int = 20, top: int = 2) -> dict:
    """CAM overlays to RUN/heatmaps/ and, with gold boxes, RUN/localisation.json; returns a summary."""
    import json

    from cxrlabel.build.images import ImageError
    from cxrtrain.data import Preprocessing, image_tensor, model_input, short
    from cxrtrain.evaluate import load_run
    from cxrtrain.train import device_for_run

    device = device_for_run()
    model, checkpoint = load_run(run_dir, device)
    names = checkpoint["label_names"]
    prep = Preprocessing(**checkpoint["config"]["prep"])
    gold = read_gold_boxes(bbox) if bbox else {}
    items = image_items(target, checkpoint, {key for key, _ in gold}, max_images)
    if not items:
        raise UserError(f"no image to draw from {target!r}" + (" that has a gold box" if gold else ""))
    predicted: dict[float, dict] = {cut: {} for cut in thresholds}
    out = run_dir / "heatmaps"
    out.mkdir(parents=True, exist_ok=True)
    drawn, errors = [], []
    for item in items:
        try:
            image = item.load()
            tensor = image_tensor(image, prep.crop)
        except Exception as exc:  # cxrlabel's ImageError, PIL's many decoding errors: this image alone fails
            errors.append((item.where, short(exc) if isinstance(exc, ImageError) else
                           f"{exc.__class__.__name__}: {short(exc)}"))
            continue
        key = item.key
        drawn.append(key)
        batch = model_input(tensor[None], prep, device)
        with torch.no_grad():
            scores = torch.sigmoid(model(batch).float())[0].cpu().numpy()
        cams = cam_for_image(model, batch, (image.height, image.width))
        wanted = {label for (k, label) in gold if k == key} or {names[i] for i in np.argsort(-scores)[:top]}
        background = np.asarray(image.convert("L") if image.mode in ("L", "RGB") else image.convert("F"))
        for label in sorted(wanted & set(names)):
            k = names.index(label)
            heat = normalise_heatmap(cams[k])
            for cut in thresholds:
                predicted[cut][(key, label)] = boxes_from_heatmap(heat, cut)
            overlay(background, heat, {cut: predicted[cut][(key, label)] for cut in thresholds},
                    f"{key} · {label} · p={scores[k]:.2f}", out / f"{key}_{label}.png".replace("/", "_"))
    summary = {"images": len(drawn), "out": str(out), "skipped": len(errors), "errors": str(out / "errors.csv")}
    write_errors(out / "errors.csv", errors)
    if gold and drawn:
        gold_seen = {k: boxes for k, boxes in gold.items() if k[0] in set(drawn) and k[1] in names}
        report = {f"heatmap>{cut:g}": localisation_scores(gold_seen, predicted[cut]) for cut in thresholds}
        (run_dir / "localisation.json").write_text(json.dumps(report, indent=2))
        summary["localisation"] = str(run_dir / "localisation.json")
    return summary


def write_errors(path: Path, errors: list[tuple[str, str]]) -> None:
    """The unreadable images and why, or no file (an earlier run's list is removed) when all were read."""
    if not errors:
        path.unlink(missing_ok=True)
        return
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "reason"])
        writer.writerows(errors)
