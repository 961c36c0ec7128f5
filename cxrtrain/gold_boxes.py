"""Gold boxes for `cxrtrain heatmap --bbox`: reading a ChestX-ray8 / NIH box list, naming each row's image and class
the way the run does (file name with or without extension, label aliases), and mapping box coordinates from the
image size they were drawn on to the stored image."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from cxrlabel.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".tif", ".tiff"}
# NIH's BBox_List_2017.csv: coordinates in the pixels of the released 1024 × 1024 PNGs (not of the DICOMs whose
# size Data_Entry's OriginalImage[Width,Height] columns give: those are 2000-3000 px, the boxes end by 1022).
NIH_BOX_SPACE = (1024, 1024)
NIH_IMAGE_INDEX = re.compile(r"^\d{8}_\d{3}\.png$")
# Spellings in published box files that differ from the label names of the label sets; a label set YAML may add
# its own (`aliases: {Alias: Label}` at the top, or `aliases: [..]` on a label).
BUILTIN_ALIASES = {"Infiltrate": "Infiltration"}  # NIH's box file vs Data_Entry's label


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


@dataclass(frozen=True)
class GoldRow:
    """One row of the box file: its line, the image and class as written, the box in the file's coordinates, and
    the image size those coordinates refer to when the file says so (NIH's own file)."""

    line: int
    image: str
    label: str
    box: Box
    space: tuple[int, int] | None = None


@dataclass(frozen=True)
class DroppedBox:
    line: int
    image: str
    label: str
    reason: str


def image_key(name: str) -> str:
    """The name an image is matched by: the file name without folders and image extensions (`a/b.dcm.png` → `b`)."""
    path = Path(name.strip().replace("\\", "/"))
    while path.suffix.lower() in IMAGE_SUFFIXES:
        path = path.with_suffix("")
    return path.name


def read_gold_boxes(path: Path) -> tuple[list[GoldRow], list[DroppedBox]]:
    """ChestX-ray8 box list (`Image Index, Finding Label, x, y, w, h` after a header row; NIH's `Bbox [x, y, w, h]`
    header works). Rows that cannot be read are returned as dropped, with the reason."""
    rows, dropped = [], []
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None) or []
            nih = len(header) >= 3 and header[2].strip().lower().startswith("bbox [x")
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                image, label = (row + ["", ""])[0].strip(), (row + ["", ""])[1].strip()
                try:
                    x, y, w, h = (float(v) for v in row[2:6])
                except ValueError:
                    dropped.append(DroppedBox(reader.line_num, image, label, "x, y, w, h are not 4 numbers"))
                    continue
                if not image or w <= 0 or h <= 0:
                    dropped.append(DroppedBox(reader.line_num, image, label, "no image name, or w / h not positive"))
                    continue
                space = NIH_BOX_SPACE if nih and NIH_IMAGE_INDEX.match(image) else None
                rows.append(GoldRow(reader.line_num, image, label, Box(x, y, w, h), space))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read the --bbox file ({getattr(exc, 'strerror', None) or exc})") from exc
    return rows, dropped


def _fold(name: str) -> str:
    """Case, spaces, underscores and hyphens ignored: `Pleural Thickening` = `Pleural_Thickening`."""
    return re.sub(r"[\W_]+", "", name).casefold()


def label_aliases(label_set_file: Path | None) -> dict[str, str]:
    """Alias → label name: the built-in table, then the label set's own `aliases` (they win)."""
    aliases = dict(BUILTIN_ALIASES)
    if label_set_file is None or not label_set_file.is_file():
        return aliases
    from cxrlabel.resources import load_yaml

    data = load_yaml(label_set_file) or {}
    declared = data.get("aliases") if isinstance(data, dict) else None
    if isinstance(declared, dict):
        aliases.update({str(alias): str(name) for alias, name in declared.items()})
    for label in (data.get("labels") or []) if isinstance(data, dict) else []:
        if isinstance(label, dict) and isinstance(label.get("aliases"), list):
            aliases.update({str(alias): str(label["name"]) for alias in label["aliases"]})
    return aliases


def label_set_file(dataset_dir: str) -> Path | None:
    """The label set YAML a dataset was built with (its summary.json `label_set`: a shipped name or a path)."""
    import json

    from cxrlabel.resources import rules_path

    try:
        name = json.loads((Path(dataset_dir) / "summary.json").read_text(encoding="utf-8")).get("label_set") or ""
    except (OSError, ValueError, AttributeError):
        return None
    if not name:
        return None
    return Path(name) if Path(name).suffix else rules_path("labelsets", f"{name}.yml")


def label_resolver(names: list[str], aliases: dict[str, str]):
    """A function: a box file's class → the run's label name, or None when the run has no such label."""
    by_fold = {_fold(name): name for name in names}
    by_fold.update({_fold(alias): by_fold[_fold(name)] for alias, name in aliases.items()
                    if _fold(name) in by_fold and _fold(alias) not in by_fold})
    return lambda label: by_fold.get(_fold(label))


def parse_box_size(text: str) -> tuple[int, int]:
    """`--bbox-size`: `N` (square) or `WxH`."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) not in (1, 2) or min(size) <= 0:
        raise UserError(f"--bbox-size {text!r}: give N or WxH in pixels, e.g. 1024 or 2048x2500")
    return (size[0], size[-1])


def to_stored(box: Box, space: tuple[int, int], stored: tuple[int, int]) -> Box:
    """A box drawn on a `space` (width, height) image, on the stored `stored` image: resized keeping the aspect
    ratio and centred (as `cxrlabel build` pads to a square; a plain resize of the same aspect is the same map)."""
    scale = min(stored[0] / space[0], stored[1] / space[1])
    left = (stored[0] - round(space[0] * scale)) // 2
    top = (stored[1] - round(space[1] * scale)) // 2
    return Box(left + box.x * scale, top + box.y * scale, box.w * scale, box.h * scale)
