"""Never a silent empty build: the share of image files that paired, checked before anything is written.

The refusal names paths and ids on the console only (never in the dataset or errors.csv, which hold hashed
names): a few paths the manifest expected beside a few files that are there, and the likely cause."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.imageset.pairing import openi_name

SHOWN = 5


class PairingError(UserError):
    """Too few images paired: the first line is the error, `details` the console-only explanation."""

    def __init__(self, message: str, details: list[str]):
        super().__init__(message)
        self.details = details


@dataclass
class PairingStats:
    """What pairing saw: image files on disk, files paired, per given split the rows listed and paired, and
    samples for the console (original paths and ids: never written anywhere)."""

    image_files: int = 0
    paired_files: set[str] = field(default_factory=set)
    listed_by_split: Counter = field(default_factory=Counter)
    paired_by_split: Counter = field(default_factory=Counter)
    missing: list[str] = field(default_factory=list)  # expected paths not found (first few)
    unmatched_ids: list[str] = field(default_factory=list)  # manifest report ids not in the labels (first few)
    found: list[str] = field(default_factory=list)  # files under --images (first few)
    label_ids: list[str] = field(default_factory=list)  # report ids of the labels (first few)

    def note_missing(self, relative: str) -> None:
        if len(self.missing) < SHOWN:
            self.missing.append(relative)

    def note_unmatched(self, report_id: str) -> None:
        if len(self.unmatched_ids) < SHOWN and report_id not in self.unmatched_ids:
            self.unmatched_ids.append(report_id)

    @property
    def share(self) -> float:
        return len(self.paired_files) / self.image_files if self.image_files else 0.0


def likely_cause(stats: PairingStats) -> str:
    if not stats.image_files:
        return "the --images folder holds no image file (DICOM, PNG, JPEG)"
    if not stats.missing and not stats.unmatched_ids:
        return ("no DICOM AccessionNumber / StudyInstanceUID matched a report id of the labels (PNG / JPEG files "
                "have no tags at all: give a --manifest or a labels table)")
    if not stats.missing and stats.unmatched_ids:
        return ("the manifest's report ids are not those of the labels (compare the ids above: a prefix, a "
                "different id column, or labels mined from other reports)")
    expected = {Path(p).stem.lower() for p in stats.missing}
    found = {Path(p).stem.lower() for p in stats.found}
    if {openi_name(p) for p in stats.missing} & {openi_name(p) for p in stats.found} or expected & found:
        return "the same names with another extension or spelling (convert the images, or fix the path column)"
    return ("the labels / manifest list other images than the folder holds (another subset or naming scheme, or "
            "--images points at the wrong folder)")


def check_pairing(stats: PairingStats, min_paired: float) -> None:
    """Raise PairingError when under `min_paired` of the image files paired, or when a split that the source
    gives rows paired none. `min_paired` 0 turns the check off."""
    if min_paired <= 0:
        return
    empty = [split for split, listed in sorted(stats.listed_by_split.items())
             if listed and not stats.paired_by_split[split]]
    if stats.image_files and stats.share >= min_paired and not empty:
        return
    paired = len(stats.paired_files)
    message = (f"only {paired} of {stats.image_files} image files paired ({stats.share:.0%}, under "
               f"--min-paired {min_paired:.0%})" if not empty else
               f"no image paired in split {', '.join(empty)} (the source lists "
               f"{', '.join(str(stats.listed_by_split[s]) for s in empty)} rows there)")
    expected = (f"expected (from the labels / manifest): {', '.join(stats.missing)}" if stats.missing else
                f"report ids of the labels: {', '.join(stats.label_ids)}")
    details = [expected, f"found under --images: {', '.join(stats.found) or '(none)'}"]
    if stats.unmatched_ids:
        details.append(f"manifest report ids not in the labels: {', '.join(stats.unmatched_ids)}; "
                       f"label ids: {', '.join(stats.label_ids)}")
    details.append(f"likely cause: {likely_cause(stats)}")
    details.append("nothing was written; --min-paired 0 builds anyway")
    raise PairingError(f"{message}: refusing an (almost) empty build", details)
