"""Pair reports with images: a manifest CSV (report id → image path, view) or DICOM tags."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from cxrlabel.errors import UserError

REPORT_COLUMNS = ("report_id", "uid", "id", "accession", "study_id")
PATH_COLUMNS = ("path", "filename", "file", "image", "image_path")
VIEW_COLUMNS = ("view", "projection", "view_position", "viewposition")
PATIENT_COLUMNS = ("patient_id", "patient", "subject_id")


@dataclass(frozen=True)
class ImageRef:
    report_id: str
    path: Path
    relative: str  # path relative to the images root (never written to the dataset)
    view: str = ""
    patient: str = ""
    error: str = ""  # why the file could not be paired (unreadable header)


def _column(columns: list[str], choices: tuple[str, ...], what: str, where: Path, required: bool = True) -> str | None:
    lowered = {c.lower(): c for c in columns}
    for choice in choices:
        if choice in lowered:
            return lowered[choice]
    if required:
        raise UserError(f"{where}: no {what} column (one of {', '.join(choices)}; columns: {', '.join(columns)})")
    return None


def from_manifest(manifest: Path, images: Path) -> list[ImageRef]:
    """Rows of a manifest like OpenI's projections.csv: uid,filename,projection (+ optional patient_id)."""
    if not manifest.is_file():
        raise UserError(f"{manifest}: manifest not found")
    with open(manifest, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        report = _column(columns, REPORT_COLUMNS, "report id", manifest)
        path = _column(columns, PATH_COLUMNS, "image path", manifest)
        view = _column(columns, VIEW_COLUMNS, "view", manifest, required=False)
        patient = _column(columns, PATIENT_COLUMNS, "patient", manifest, required=False)
        return [
            ImageRef(str(row[report]).strip(), images / row[path], row[path], (row.get(view) or "") if view else "",
                     (row.get(patient) or "") if patient else "")
            for row in reader
        ]


def from_dicom_tags(images: Path, report_ids: set[str]) -> list[ImageRef]:
    """Every DICOM file under `images` whose AccessionNumber or StudyInstanceUID is a report id."""
    import pydicom

    refs = []
    for path in sorted(p for p in images.rglob("*") if p.is_file()):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # not DICOM, or a broken header: reported with the reason
            refs.append(ImageRef("", path, str(path.relative_to(images)),
                                 error=f"unreadable DICOM header: {exc.__class__.__name__}"))
            continue
        key = next((str(getattr(header, tag, "")) for tag in ("AccessionNumber", "StudyInstanceUID")
                    if str(getattr(header, tag, "")) in report_ids), "")
        refs.append(ImageRef(key, path, str(path.relative_to(images)), str(getattr(header, "ViewPosition", "") or ""),
                             str(getattr(header, "PatientID", "") or "")))
    return refs
