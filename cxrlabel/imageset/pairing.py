"""Pair reports with images: a manifest CSV (report id → image path, view, patient) or DICOM header tags."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.imageset.images import NOT_AN_IMAGE, RASTER_SUFFIXES, looks_like_dicom, read_dataset, view_from_code
from cxrlabel.readers import REPORT_ID_COLUMNS, find_column

PATH_COLUMNS = ("path", "filename", "file", "image", "image_path", "file_name", "image_filename", "image index")
REPORT_COLUMNS = tuple(c for c in REPORT_ID_COLUMNS if c not in PATH_COLUMNS)  # `filename` is an image here
VIEW_COLUMNS = ("view", "projection", "view_position", "viewposition")
PATIENT_COLUMNS = ("patient_id", "patient", "subject_id", "subject")
IMAGE_SUFFIXES = (*RASTER_SUFFIXES, ".dcm", ".dicom")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image of one report. `relative` (path under the images root) is never written to the dataset."""

    report_id: str
    relative: str
    view: str = ""
    patient: str = ""
    split: str = ""  # train / validation / test when the source gives it; "" = split by patient


def _column(columns: list[str], choices: tuple[str, ...], what: str, where: Path, required: bool = True) -> str | None:
    found = find_column(columns, choices)
    if found is None and required:
        raise UserError(f"{where}: no {what} column (one of {', '.join(choices)}; columns: {', '.join(columns)})")
    return found


def from_manifest(manifest: Path) -> Iterator[ImageRef]:
    """Rows of a manifest like OpenI's projections.csv (uid, filename, projection; optional patient column)."""
    if not manifest.is_file():
        raise UserError(f"{manifest}: manifest not found")
    with open(manifest, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t" if manifest.suffix.lower() in (".tsv", ".tab") else ",")
        columns = reader.fieldnames or []
        report = _column(columns, REPORT_COLUMNS, "report id", manifest)
        path = _column(columns, PATH_COLUMNS, "image path", manifest)
        view = _column(columns, VIEW_COLUMNS, "view", manifest, required=False)
        patient = _column(columns, PATIENT_COLUMNS, "patient", manifest, required=False)
        for row in reader:
            yield ImageRef(str(row.get(report) or "").strip(), str(row.get(path) or "").strip(),
                           str(row.get(view) or "").strip() if view else "",
                           str(row.get(patient) or "").strip() if patient else "")


def image_files(images: Path) -> list[Path]:
    """Every non-hidden file under the images root, in a stable order."""
    return sorted(p for p in images.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(images).parts))


def from_dicom_tags(images: Path, report_ids: set[str], advance: Callable[[], None] | None = None,
                    files: list[Path] | None = None) -> Iterator[tuple[ImageRef, str]]:
    """(ref, problem) for every file under `images`: AccessionNumber, then StudyInstanceUID, matched to report
    ids. The problem is "" when the header was read, NOT_AN_IMAGE for a file that is no image (a README, a CSV:
    counted, not an error); the ref's report id is "" when no tag matched. `files`: image_files(images), when the
    caller has listed them already."""
    for path in image_files(images) if files is None else files:
        relative = str(path.relative_to(images))
        if advance:
            advance()
        if path.suffix.lower() in RASTER_SUFFIXES:
            yield ImageRef("", relative), "PNG/JPEG has no DICOM tags to pair it (give a --manifest)"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                header = read_dataset(path, stop_before_pixels=True)
        except Exception as exc:  # no DICOM (sniffed only on failure: a DICOM file is opened once), or a broken
            # header: reported with the reason, the build goes on
            yield ImageRef("", relative), (f"unreadable DICOM header: {exc.__class__.__name__}"
                                           if looks_like_dicom(path) else NOT_AN_IMAGE)
            continue
        candidates = [str(header.get(tag, "") or "").strip() for tag in ("AccessionNumber", "StudyInstanceUID")]
        key = next((value for value in candidates if value and value in report_ids), "")
        view = str(header.get("ViewPosition", "") or "").strip() or view_from_code(header)
        yield ImageRef(key, relative, view, str(header.get("PatientID", "") or "").strip()), ""


def openi_name(name: str) -> str:
    """One spelling for Open-i's two file-name variants: `CXR3_IM-1384-1001.png` (the Open-i PNGs) and
    `3_IM-1384-1001.dcm.png` (indiana_projections.csv) both become `3_im-1384-1001`."""
    stem = Path(name).name.lower()
    for suffix in (".png", ".jpg", ".jpeg", ".dcm"):
        stem = stem.removesuffix(suffix)
    return stem.removeprefix("cxr")


class FileIndex:
    """The image files under an images root, to find a manifest's path there: as written, under a prefix of it
    stripped (a root inside the layout's top folder), below the root (a root above it), by its file name alone
    when that is unique (NIH's images_001/images/ folders), or by its Open-i spelling."""

    def __init__(self, root: Path):
        self.root = root
        self.files = [p.relative_to(root).as_posix() for p in image_files(root)
                      if p.suffix.lower() in IMAGE_SUFFIXES or (not p.suffix and looks_like_dicom(p))]
        self.present = set(self.files)
        self.by_name: dict[str, list[str]] = {}
        self.by_openi: dict[str, list[str]] = {}
        for relative in self.files:
            self.by_name.setdefault(Path(relative).name, []).append(relative)
            self.by_openi.setdefault(openi_name(relative), []).append(relative)
        self.ambiguous = 0  # names resolved to the first of several files with that name

    def resolve(self, expected: str) -> str | None:
        """The file's path relative to the root, or None when it is not there."""
        expected = expected.replace("\\", "/").lstrip("/")
        parts = expected.split("/")
        for start in range(len(parts)):
            candidate = "/".join(parts[start:])
            if candidate in self.present:
                return candidate
        for candidates in (self.by_name.get(parts[-1], []), self.by_openi.get(openi_name(expected), [])):
            below = [c for c in candidates if c.endswith("/" + expected)]
            chosen = below or candidates
            if chosen:
                self.ambiguous += len(chosen) > 1
                return chosen[0]
        return None
