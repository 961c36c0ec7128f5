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
from cxrtrain.gold_boxes import (
    Box,
    DroppedBox,
    GoldRow,
    image_key,
    label_aliases,
    label_resolver,
    label_set_file,
    read_gold_boxes,
    to_stored,
)

IOBB_THRESHOLDS = (0.1, 0.25, 0.5, 0.75, 0.9)


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


OVERLAY_SIDE = 512  # pixels of the image's longer side in an overlay PNG
OVERLAY_TITLE = 28  # pixels above the image (title)
OVERLAY_LEGEND = 200  # pixels right of the image (legend)
GOLD_COLOUR = "#ff0000"
CUT_COLOURS = ["cyan", "yellow", "lime"]


def overlay(image: np.ndarray, heatmap: np.ndarray, boxes: dict[float, list[Box]], title: str, path: Path,
            gold: list[Box] = ()) -> None:
    """The image (longer side OVERLAY_SIDE px, OVERLAY_TITLE px below the top edge, at the left edge) with the
    heatmap in colour, the gold boxes in red and each threshold's boxes (lowest cyan … highest lime), a legend
    on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    height, width = image.shape[:2]
    scale = OVERLAY_SIDE / max(height, width)
    shown_w, shown_h = width * scale, height * scale
    fig_w, fig_h = shown_w + OVERLAY_LEGEND, shown_h + OVERLAY_TITLE
    figure = plt.figure(figsize=(fig_w / 100, fig_h / 100), dpi=100)
    axis = figure.add_axes((0, 0, shown_w / fig_w, shown_h / fig_h))
    axis.imshow(image, cmap="gray", extent=(0, width, height, 0), interpolation="nearest")
    axis.imshow(heatmap, cmap="jet", alpha=0.4, extent=(0, width, height, 0))
    handles = []
    for box in gold:
        axis.add_patch(Rectangle((box.x, box.y), box.w, box.h, fill=False, edgecolor=GOLD_COLOUR, linewidth=2))
    if gold:
        handles.append(Line2D([], [], color=GOLD_COLOUR, linewidth=2, label=f"gold box ({len(gold)})"))
    for rank, cut in enumerate(sorted(boxes)):
        colour = CUT_COLOURS[max(len(CUT_COLOURS) - len(boxes) + rank, 0)]
        for box in boxes[cut]:
            axis.add_patch(Rectangle((box.x, box.y), box.w, box.h, fill=False, edgecolor=colour, linewidth=1.2))
        handles.append(Line2D([], [], color=colour, linewidth=1.2, label=f"heatmap > {cut:g} ({len(boxes[cut])})"))
    axis.set_xlim(0, width)
    axis.set_ylim(height, 0)
    axis.axis("off")
    figure.text(0.01, 1 - 4 / fig_h, title, fontsize=9, va="top")
    figure.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def localisation_png(report: dict, path: Path) -> None:
    """ChestX-ray8's localisation table as an image: per heatmap threshold, rows T(IoBB) = 0.1 … 0.9 accuracy and
    average false positives, one column per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = sorted({label for table in report.values() for label in table.get("iobb>=0.1", {})})
    figure, axes = plt.subplots(len(report), 1, figsize=(2.2 + 1.1 * len(classes), 0.4 + 2.9 * len(report)),
                                squeeze=False)
    for axis, (cut, table) in zip(axes[:, 0], report.items(), strict=True):
        rows, cells = [], []
        for threshold in IOBB_THRESHOLDS:
            scores = table[f"iobb>={threshold}"]
            rows += [f"T(IoBB)={threshold} Acc.", f"T(IoBB)={threshold} AFP"]
            cells += [[f"{scores[c]['accuracy']:.3f}" for c in classes],
                      [f"{scores[c]['avg_false_positives']:.3f}" for c in classes]]
        axis.axis("off")
        axis.set_title(f"{cut} (images with gold boxes per class: "
                       f"{', '.join(str(table['iobb>=0.1'][c]['images']) for c in classes)})", fontsize=9)
        grid = axis.table(cellText=cells, rowLabels=rows, colLabels=classes, loc="center", cellLoc="center")
        grid.auto_set_font_size(False)
        grid.set_fontsize(8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


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
    """One image to draw: its key (gold-box matching), its name (output files), where it comes from (for
    errors.csv), how to read it (decoding happens only when drawn, so one bad image fails alone), and the size of
    the source image before the dataset resized it, when the dataset records it."""

    key: str
    name: str
    where: str
    load: Callable[[], object]
    space: tuple[int, int] | None = None


def read_file_image(path: Path):
    """A PNG / JPEG / DICOM file as an 8-bit grey PIL image (cxrlabel's reader: windowing, MONOCHROME1 ...)."""
    from PIL import Image

    from cxrlabel.imageset.images import read_image

    return Image.fromarray((read_image(path).pixels * 255).round().astype(np.uint8), mode="L")


def image_items(target: str, checkpoint: dict, gold_names: dict[str, str] | None,
                max_images: int) -> tuple[list[ImageItem], list[str]]:
    """The images to draw and the first few names the target has. Without gold boxes: up to `max_images` images
    of one image file, a folder, or a dataset split. With gold boxes (`gold_names`: match key → name in the box
    file): every image whose file name, with or without extension (or, for a split row, its report id or source
    file name), a box names; the first row of a report with several images."""
    from cxrlabel.imageset.images import RASTER_SUFFIXES

    path = Path(target)
    if path.is_file() or path.is_dir():
        files = [path] if path.is_file() else sorted(
            p for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES | {".dcm"})
        examples = [p.name for p in files[:3]]
        if gold_names is not None:
            files = [p for p in files if image_key(p.name) in gold_names]
        else:
            files = files[:max_images]
        return [ImageItem(image_key(p.name), p.name, str(p), lambda p=p: read_file_image(p)) for p in files], examples
    from cxrtrain.data import load_splits

    dataset, _ = load_splits(checkpoint["dataset"])
    if target not in dataset:
        raise UserError(f"{target!r} is neither an image file or folder nor a split ({', '.join(dataset)})")
    split = dataset[target]
    columns = split.column_names
    ids = split["report_id"] if "report_id" in columns else [str(i) for i in range(len(split))]
    sources = split["source_path"] if "source_path" in columns else [""] * len(split)
    sizes = (list(zip(split["original_width"], split["original_height"], strict=True))
             if {"original_width", "original_height"} <= set(columns) else [(None, None)] * len(split))
    examples = [Path(s).name or i for i, s in zip(ids[:3], sources[:3], strict=False)]
    first: dict[str, tuple[int, str]] = {}
    for i in range(len(split)):  # a report with several images: its first image (the key names one image)
        if gold_names is None:
            first.setdefault(ids[i], (i, ids[i]))
            if len(first) == max_images:
                break
            continue
        key = next((k for k in (image_key(ids[i]), image_key(sources[i] or "")) if k in gold_names), None)
        if key is not None:
            first.setdefault(key, (i, gold_names[key]))

    def space(i: int) -> tuple[int, int] | None:
        width, height = sizes[i]
        return (int(width), int(height)) if width and height else None

    return [ImageItem(key, name, f"{target} row {i} ({name})", lambda i=i: split[i]["image"], space(i))
            for key, (i, name) in first.items()], examples


def heatmap_run(run_dir: Path, target: str, bbox: Path | None, thresholds: tuple[float, ...] = (60.0, 180.0),
                max_images: int = 20, top: int = 2, bbox_size: tuple[int, int] | None = None) -> dict:
    """CAM overlays to RUN/heatmaps/ and, with gold boxes, RUN/localisation.json and .png; returns a summary with
    every gold box not used and why (also in RUN/heatmaps/boxes_dropped.csv)."""
    import json

    from cxrlabel.imageset.images import ImageError
    from cxrtrain.data import Preprocessing, image_tensor, model_input, short
    from cxrtrain.evaluate import load_run
    from cxrtrain.train import device_for_run

    device = device_for_run()
    model, checkpoint = load_run(run_dir, device)
    names = checkpoint["label_names"]
    prep = Preprocessing(**checkpoint["config"]["prep"])
    rows, dropped = read_gold_boxes(bbox) if bbox else ([], [])
    resolve = label_resolver(names, label_aliases(label_set_file(checkpoint["dataset"])))
    usable: list[tuple[GoldRow, str]] = []
    for row in rows:
        label = resolve(row.label)
        if label is None:
            dropped.append(DroppedBox(row.line, row.image, row.label, f"class {row.label!r} is not a label of the run"))
        else:
            usable.append((row, label))
    by_key: dict[str, list[tuple[GoldRow, str]]] = {}  # the usable boxes of each image key
    for row, label in usable:
        by_key.setdefault(image_key(row.image), []).append((row, label))
    gold_names = {key: boxes[0][0].image for key, boxes in by_key.items()} if bbox else None
    if bbox and not usable:
        raise UserError(f"{bbox}: no usable box among {len(rows) + len(dropped)} rows (run labels: {', '.join(names)})")
    items, examples = image_items(target, checkpoint, gold_names, max_images)
    if not items:
        hint = (f" that has a gold box: the box file names e.g. {', '.join(list(gold_names.values())[:3])}; "
                f"{target} has e.g. {', '.join(examples) or 'nothing'} (matched by file name with or without "
                "extension, or a split row's report id / source file name)") if bbox else ""
        unknown = sorted({d.label for d in dropped if d.reason.startswith("class ")})
        if unknown:
            hint += f"; boxes of {', '.join(unknown)} were left out (not labels of the run)"
        raise UserError(f"no image to draw from {target!r}{hint}")
    predicted: dict[float, dict] = {cut: {} for cut in thresholds}
    gold: dict[tuple[str, str], list[Box]] = {}
    out = run_dir / "heatmaps"
    out.mkdir(parents=True, exist_ok=True)
    drawn, errors, spaces, warnings = [], [], {}, []
    for item in items[:max_images]:
        try:
            image = item.load()
            tensor = image_tensor(image, prep.crop)
        except Exception as exc:  # cxrlabel's ImageError, PIL's many decoding errors: this image alone fails
            errors.append((item.where, short(exc) if isinstance(exc, ImageError) else
                           f"{exc.__class__.__name__}: {short(exc)}"))
            continue
        drawn.append(item.key)
        batch = model_input(tensor[None], prep, device)
        with torch.no_grad():
            scores = torch.sigmoid(model(batch).float())[0].cpu().numpy()
        cams = cam_for_image(model, batch, (image.height, image.width))
        for row, label in by_key.get(item.key, ()):
            space = bbox_size or row.space or item.space or (image.width, image.height)
            box = to_stored(row.box, space, (image.width, image.height))
            spaces[f"{space[0]}x{space[1]}"] = spaces.get(f"{space[0]}x{space[1]}", 0) + 1
            if box.x + box.w > image.width * 1.02 or box.y + box.h > image.height * 1.02:
                warnings.append(f"line {row.line} ({row.image}, {row.label}): the box ends outside the "
                                f"{image.width}x{image.height} image after scaling from {space[0]}x{space[1]}; "
                                "check --bbox-size")
            gold.setdefault((item.name, label), []).append(box)
        wanted = ({label for (name, label) in gold if name == item.name} if bbox
                  else {names[i] for i in np.argsort(-scores)[:top]})
        background = np.asarray(image.convert("L") if image.mode in ("L", "RGB") else image.convert("F"))
        for label in sorted(wanted):
            k = names.index(label)
            heat = normalise_heatmap(cams[k])
            for cut in thresholds:
                predicted[cut][(item.name, label)] = boxes_from_heatmap(heat, cut)
            overlay(background, heat, {cut: predicted[cut][(item.name, label)] for cut in thresholds},
                    f"{item.name} · {label} · p={scores[k]:.2f}", out / f"{item.name}_{label}.png".replace("/", "_"),
                    gold.get((item.name, label), []))
    drawn_keys, attempted, matched = set(drawn), {i.key for i in items[:max_images]}, {i.key for i in items}
    for key, boxes in by_key.items():
        if key not in drawn_keys:
            reason = (f"image unreadable (see {out / 'errors.csv'})" if key in attempted else
                      f"image beyond --max-images {max_images}" if key in matched else f"image not in {target}")
            dropped += [DroppedBox(row.line, row.image, row.label, reason) for row, _ in boxes]
    dropped.sort(key=lambda d: d.line)
    summary = {"images": len(drawn), "out": str(out), "skipped": len(errors), "errors": str(out / "errors.csv"),
               "gold_boxes": sum(len(b) for b in gold.values()), "box_spaces": spaces, "warnings": warnings,
               "dropped": dropped, "dropped_csv": str(out / "boxes_dropped.csv")}
    write_list(out / "errors.csv", ["image", "reason"], errors)  # the unreadable images and why
    write_list(out / "boxes_dropped.csv", ["line", "image", "label", "reason"],  # every gold box not used and why
               [(d.line, d.image, d.label, d.reason) for d in dropped])
    if bbox and drawn:
        report = {f"heatmap>{cut:g}": localisation_scores(gold, predicted[cut]) for cut in thresholds}
        (run_dir / "localisation.json").write_text(json.dumps(report, indent=2))
        if gold:
            localisation_png(report, run_dir / "localisation.png")
        summary["localisation"] = str(run_dir / "localisation.json")
    return summary


def write_list(path: Path, header: list[str], rows: list[tuple]) -> None:
    """`rows` under `header`, or no file (an earlier run's list is removed) when there are none."""
    if not rows:
        path.unlink(missing_ok=True)
        return
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
