"""The plan of a build: which rows to write (an image each, or text-only rows), from a manifest, a public layout's
table or the DICOM headers under --images; every pairing problem recorded, the pairing checked."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.imageset.images import NOT_AN_IMAGE, is_frontal
from cxrlabel.imageset.layouts import given_split
from cxrlabel.imageset.pairing import FileIndex, ImageRef, from_dicom_tags, from_manifest, image_files
from cxrlabel.imageset.pairing_check import SHOWN, PairingStats, check_pairing
from cxrlabel.imageset.privacy import Pseudonymiser
from cxrlabel.imageset.problems import Problem


@dataclass
class Plan:
    """The rows to write and what planning found (problems, counts, console notes that may name files)."""

    refs: list[ImageRef] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # original paths, for --source-map
    skipped_files: int = 0  # files under --images that are no image (a README, a CSV): counted, not errors
    excluded_views: int = 0  # lateral views dropped by --views frontal
    listed_without_file: int = 0  # rows of a public layout whose image is not under --images (a subset)
    ambiguous_names: int = 0
    patients_in_two_splits: int = 0


@dataclass
class Planner:
    """Pairs the labelled reports with image rows (`source_refs`: a public layout's own table, if any)."""

    labels: dict[str, tuple[str, ...]]
    pseudonymiser: Pseudonymiser
    source_refs: list[ImageRef] | None = None
    given_splits: dict = field(default_factory=dict)  # --split-from lists (file name → split)
    split_from: str = ""  # their names, for the notes
    frontal_only: bool = False
    min_paired: float = 0.5
    collect_sources: bool = False  # keep the original paths (for --source-map only)
    keep: Callable[[ImageRef], bool] | None = None  # --shard: the rows of this shard (pairing is checked on all)

    def plan(self, images: Path | None, manifest: Path | None, progress=None) -> Plan:
        """The rows to write (images to decode, or text-only rows); pairing problems are recorded."""
        if images is not None and not images.is_dir():
            raise UserError(f"{images}: images folder not found")
        result = Plan()
        stats = PairingStats(label_ids=list(islice(self.labels, SHOWN)))
        index = FileIndex(images) if images is not None and (manifest is not None or self.source_refs is not None) \
            else None
        if index is not None:
            stats.image_files, stats.found = len(index.files), index.files[:SHOWN]
        if self.source_refs is not None:
            pairs: Iterable[tuple[ImageRef, str]] = ((ref, "") for ref in self.source_refs)
        elif images is not None and manifest is None:
            files = image_files(images)
            task = progress.add_task("reading DICOM headers", total=len(files)) if progress else None
            pairs = from_dicom_tags(
                images, set(self.labels), (lambda: progress.advance(task)) if progress else None, files)
        elif manifest is not None:
            pairs = ((ref, "") for ref in from_manifest(manifest))
        else:
            result.refs = [ref for ref in (ImageRef(report_id, "") for report_id in self.labels)
                           if self.keep is None or self.keep(ref)]
            return result
        problem = self.pseudonymiser.problem
        seen, paired_reports = set(), set()
        for ref, reason in pairs:
            if reason == NOT_AN_IMAGE:
                result.skipped_files += 1
                continue
            # DICOM-tag pairing: every image file counts, except one whose header is unreadable (a broken file)
            if index is None and images is not None and (not reason or reason.startswith("PNG")):
                stats.image_files += 1
                if len(stats.found) < SHOWN:
                    stats.found.append(ref.relative)
            if self.given_splits and ref.relative:  # --split-from with a manifest / DICOM tags
                ref = replace(ref, split=given_split(ref.relative, self.given_splits))
            if ref.split and ref.report_id in self.labels:
                stats.listed_by_split[ref.split] += 1
            on_disk = index is None
            if index is not None and ref.relative and ref.report_id in self.labels:
                resolved = index.resolve(ref.relative)
                on_disk = resolved is not None
                if resolved is None:
                    stats.note_missing(ref.relative)
                    if self.source_refs is not None:  # a public table lists far more images than a subset holds
                        result.listed_without_file += 1
                        paired_reports.add(ref.report_id)
                        continue
                else:
                    ref = replace(ref, relative=resolved)
            elif ref.report_id and ref.report_id not in self.labels:
                stats.note_unmatched(ref.report_id)
                if index is not None and ref.relative and index.resolve(ref.relative) is None:
                    result.listed_without_file += 1  # neither labelled nor here (the manifest covers more): counted
                    continue
            if self.collect_sources and ref.relative:
                result.sources.append(ref.relative)
            if reason:
                result.problems.append(problem("", ref.relative, reason))
            elif not ref.report_id or not ref.relative:
                result.problems.append(problem(ref.report_id, ref.relative,
                                               "manifest row without a report id or an image path"
                                               if manifest else "image without a report in labels.csv"))
            elif ref.report_id not in self.labels:
                result.problems.append(problem(ref.report_id, ref.relative, "image without a report in labels.csv"))
            elif (key := hashlib.blake2b(f"{ref.report_id}\0{ref.relative}".encode(), digest_size=8).digest()) in seen:
                result.problems.append(problem(ref.report_id, ref.relative, "duplicate manifest row (skipped)"))
            else:
                seen.add(key)
                paired_reports.add(ref.report_id)
                if on_disk:
                    stats.paired_files.add(ref.relative)
                    stats.paired_by_split[ref.split] += bool(ref.split)
                if self.keep is not None and not self.keep(ref):
                    continue  # another shard's row
                if self.frontal_only and ref.view and not is_frontal(ref.view):
                    result.excluded_views += 1  # a lateral view, dropped by --views frontal (not an error)
                    continue
                result.refs.append(ref)
        result.problems += [problem(report_id, "", "report without an image")
                            for report_id in self.labels if report_id not in paired_reports]
        if images is not None:
            result.ambiguous_names = index.ambiguous if index is not None else 0
            if result.ambiguous_names:
                result.notes.append(f"{result.ambiguous_names} listed file names matched several files under "
                                    "--images; the first in path order was used")
            check_pairing(stats, self.min_paired)
        elif not result.refs and self.min_paired > 0:
            check_pairing(stats, self.min_paired)
        self._note_split_overlap(result)
        return result

    def _note_split_overlap(self, result: Plan) -> None:
        """A given split is kept as given; a patient in two of its splits is counted and reported."""
        splits_of: dict[str, set[str]] = {}
        for ref in result.refs:
            if ref.split and ref.patient:
                splits_of.setdefault(ref.patient, set()).add(ref.split)
        shared = {p for p, splits in splits_of.items() if len(splits) > 1}
        result.patients_in_two_splits = len(shared)
        if shared:
            rows = sum(1 for ref in result.refs if ref.patient in shared)
            result.notes.append(f"{len(shared)} of {len(splits_of)} patients ({rows} images) are in more than one "
                                f"split of the given split ({self.split_from}); kept as given")
