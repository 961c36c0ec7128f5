"""Build a Hugging Face dataset from mined labels (+ images): streamed, sharded, resumable, patient-split, PHI-free.

Memory stays flat in the number of images: the plan keeps one small record per image, de-identified report texts
(only with --text) wait in an SQLite table whose file is unlinked as soon as it is opened (nothing is left on disk
by any exit, SIGKILL included), each shard streams its rows to parquet in row groups of `row_group` rows (a few MB
of PNGs), and the final `save_to_disk` reads the parquet shards back through a memory-mapped Arrow cache.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from itertools import islice
from pathlib import Path

import numpy as np

from cxrlabel import __version__
from cxrlabel.errors import UserError
from cxrlabel.imageset.deid import Deidentifier, has_cjk
from cxrlabel.imageset.images import NOT_AN_IMAGE, ImageError, is_frontal, read_image, to_square_png
from cxrlabel.imageset.layouts import UNCERTAIN_TO, detect_source, given_split, header_of, load_source, read_split_files
from cxrlabel.imageset.outdir import WORK, OutputFolder
from cxrlabel.imageset.pairing import FileIndex, ImageRef, from_dicom_tags, from_manifest, image_files
from cxrlabel.imageset.pairing_check import SHOWN, PairingStats, check_pairing
from cxrlabel.imageset.privacy import pseudonymous_patient, pseudonymous_report, rekeyed_path, scrub
from cxrlabel.imageset.splits import SPLITS, assign_split
from cxrlabel.parallel import batches, bounded_imap
from cxrlabel.readers import iter_reports
from cxrlabel.resources import rules_dir
from cxrlabel.types import ReadError, Report

STATE_NAMES = {"1": "positive", "0": "negative", "-1": "uncertain", "": ""}
STATES = ("positive", "negative", "uncertain", "")
TEXT_FIELDS = ("findings", "impression")


@dataclass(frozen=True)
class BuildOptions:
    out: Path
    size: int = 1024
    bits: int = 8
    frontal_only: bool = False
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
    seed: int = 0
    salt: str = ""
    workers: int = 1
    shard_size: int = 1000
    resume: bool = False
    hash_report_ids: bool | None = None  # None: hashed when report ids come from DICOM tags
    text_fields: tuple[str, ...] = ()  # report text stored (de-identified): none by default
    overwrite: bool = False  # build in a non-empty folder not written by a build (its files are kept)
    source: str = "auto"  # labels layout: mined / nih / chexpert / mimic / table (auto: from the header)
    split_from: tuple[Path, ...] = ()  # split lists / CSVs that give the split (kept as given)
    uncertain: str = "ignore"  # uncertain labels: kept (ignore), made negative (zeros) or positive (ones)
    min_paired: float = 0.5  # refuse when fewer image files pair, or a given split pairs none (0: off)
    row_group: int = 32


@dataclass(frozen=True, slots=True)
class Problem:
    report_id: str
    source: str  # re-keyed file name, never the original path
    reason: str


def _state(value: str) -> str | None:
    value = value.strip()
    if value in STATE_NAMES:
        return STATE_NAMES[value]
    try:
        number = float(value)  # 1.0 / -1.0 as pandas writes them
    except ValueError:
        return None
    return STATE_NAMES.get(str(int(number))) if number.is_integer() else None


def read_labels(path: Path) -> tuple[list[str], dict[str, tuple[str, ...]], list[Problem]]:
    """labels.csv of `cxrlabel mine`: label names (column order), per report id the state per label, problems."""
    if not path.is_file():
        raise UserError(f"{path}: labels file not found (run `cxrlabel mine` first)")
    problems: list[Problem] = []
    rows: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or header[0].strip() != "id" or len(header) < 2:
            raise UserError(f"{path}: expected the labels.csv of `cxrlabel mine` (id + one column per label)")
        names = [name.strip() for name in header[1:]]
        if len(set(names)) != len(names) or not all(names):
            raise UserError(f"{path}: label columns must be named and distinct")
        for line, row in enumerate(reader, start=2):
            if not row or not row[0].strip():
                if any(cell.strip() for cell in row):
                    problems.append(Problem("", "", f"labels.csv line {line}: no report id"))
                continue
            report_id = row[0].strip()
            states = [_state(value) for value in row[1:]]
            if len(states) != len(names) or None in states:
                problems.append(Problem(report_id, "", f"labels.csv line {line}: expected {len(names)} values "
                                                       "of 1 / 0 / -1 / empty"))
            elif report_id in rows:
                problems.append(Problem(report_id, "", f"labels.csv line {line}: duplicate report id (first kept)"))
            else:
                rows[report_id] = tuple(states)
    return names, rows, problems


def parse_text_fields(text: str) -> tuple[str, ...]:
    """`--text findings,impression` → the fields, in dataset order; ValueError for an unknown one."""
    fields = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = fields - set(TEXT_FIELDS)
    if unknown:
        raise ValueError(f"--text takes {' and / or '.join(TEXT_FIELDS)} (comma-separated), not {sorted(unknown)[0]}")
    return tuple(field for field in TEXT_FIELDS if field in fields)


def features_for(label_names: list[str], with_images: bool, text_fields: tuple[str, ...] = ()):
    from datasets import ClassLabel, Features, Image, Sequence, Value

    columns = {
        "labels": Sequence(ClassLabel(names=label_names)),
        "label_states": Sequence(Value("string")),
        "report_id": Value("string"),
        "patient_id": Value("string"),
        "view": Value("string"),
        **{field: Value("string") for field in text_fields},
        "source_path": Value("string"),
    }
    return Features({"image": Image(), **columns} if with_images else columns)


def _decode(task: tuple[str, str, int, int]) -> tuple[bytes | None, dict, str]:
    """Worker: (images root, relative path, size, bits) → (PNG bytes or None, DICOM tags, error reason)."""
    root, relative, size, bits = task
    try:
        decoded = read_image(Path(root) / relative)
        return to_square_png(decoded.pixels, size, bits), decoded.tags, ""
    except ImageError as exc:
        return None, {}, str(exc)
    except Exception as exc:  # a broken file must not stop the build: it is reported with its reason
        return None, {}, f"cannot convert: {exc.__class__.__name__}"


def _ignore_interrupt() -> None:
    """Worker initializer: Ctrl-C is the main process's to handle (it terminates the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def rules_checksums(lang: str = "") -> dict[str, str]:
    """sha256 (16 hex digits) of the rule files a labeler of `lang` reads (all languages when unknown)."""
    root = rules_dir()
    suffixes = (".yml", ".yaml", ".txt", ".tsv", ".json")
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in suffixes]
    if lang:
        files = [p for p in files if p.relative_to(root).parts[0] in (lang, "labelsets")]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in files}


def report_texts(report: Report, lang: str) -> tuple[str, str]:
    """(findings, impression) of a report: its section columns (a Chinese 诊断 / diagnosis is the impression);
    English free text split at its FINDINGS: / IMPRESSION: headers; otherwise the whole text as findings."""
    if report.sections:
        return (report.sections.get("findings", ""),
                report.sections.get("impression") or report.sections.get("diagnosis", ""))
    if lang == "en":
        from cxrlabel.en.sections import split_sections

        parts: dict[str, list[str]] = {}
        for section in split_sections(report):
            parts.setdefault(section.name, []).append(section.text.strip())
        if "findings" in parts or "impression" in parts:
            return "\n".join(parts.get("findings", [])), "\n".join(parts.get("impression", []))
    return report.text, ""


class TextStore:
    """De-identified findings / impression per report id, in an SQLite table whose file is unlinked (and its private
    folder removed) right after opening: flat memory for any number of reports, and nothing on disk after any
    exit. The text is de-identified before it is written."""

    def __init__(self, fields: tuple[str, ...] = ()):
        self.fields = fields
        folder = tempfile.mkdtemp(prefix="cxrlabel-texts-")  # mode 0700, outside the dataset folder
        path = os.path.join(folder, "texts.sqlite")
        try:
            self.db = sqlite3.connect(path)
            self.db.execute("PRAGMA journal_mode=OFF")  # no journal file beside the unlinked database
            self.db.execute("PRAGMA temp_store=MEMORY")
            self.db.execute("CREATE TABLE texts (id TEXT PRIMARY KEY, findings TEXT, impression TEXT)")
        finally:
            Path(path).unlink(missing_ok=True)
            os.rmdir(folder)
        self.deid = Deidentifier()

    def load(self, reports: Path, wanted: dict, lang: str = "") -> list[Problem]:
        problems, batch = [], []
        for item in iter_reports(reports):
            if isinstance(item, ReadError):  # the record's file name may be a patient's: re-keyed by the caller
                problems.append(Problem("", item.source, f"--reports record: {item.reason}"))
            elif item.id in wanted:
                findings, impression = report_texts(item, lang)
                if has_cjk(findings + impression):
                    problems.append(Problem(item.id, "", "report text not stored: Chinese text cannot be "
                                                         "de-identified"))
                    continue
                batch.append((item.id, findings if "findings" in self.fields else "",
                              impression if "impression" in self.fields else ""))
                if len(batch) >= 1000:
                    self._insert(batch)
                    batch.clear()
        self._insert(batch)
        self.db.commit()
        return problems

    def _insert(self, batch: list[tuple[str, str, str]]) -> None:
        texts = self.deid.clean_many([text for _, *pair in batch for text in pair]) if batch else []
        self.db.executemany("INSERT OR IGNORE INTO texts VALUES (?, ?, ?)",
                            [(key, texts[2 * i], texts[2 * i + 1]) for i, (key, _, _) in enumerate(batch)])

    def get(self, report_id: str) -> tuple[str, str]:
        row = self.db.execute("SELECT findings, impression FROM texts WHERE id = ?", (report_id,)).fetchone()
        return (row[0], row[1]) if row else ("", "")

    def close(self) -> None:
        self.db.close()


class ShardWriter:
    """Streams the rows of one shard into parquet/<split>/shard-NNNNN.parquet, one row group at a time."""

    def __init__(self, folder: OutputFolder, number: int, features, row_group: int):
        self.features, self.row_group = features, row_group
        self.paths = {split: folder.root / "parquet" / split / f"shard-{number:05d}.parquet" for split in SPLITS}
        folder.register(*self.paths.values(), *(path.with_suffix(".tmp") for path in self.paths.values()))
        for path in self.paths.values():  # leftovers of an interrupted attempt at this shard (registered: ours)
            path.unlink(missing_ok=True)
            path.with_suffix(".tmp").unlink(missing_ok=True)
        self.buffers: dict[str, list[dict]] = {split: [] for split in SPLITS}
        self.writers: dict = {}
        self.rows: Counter = Counter()

    def add(self, split: str, row: dict) -> None:
        self.buffers[split].append(self.features.encode_example(row))
        self.rows[split] += 1
        if len(self.buffers[split]) >= self.row_group:
            self._flush(split)

    def _flush(self, split: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.buffers[split]:
            return
        if split not in self.writers:
            self.paths[split].parent.mkdir(parents=True, exist_ok=True)
            self.writers[split] = pq.ParquetWriter(self.paths[split].with_suffix(".tmp"), self.features.arrow_schema)
        self.writers[split].write_table(pa.Table.from_pylist(self.buffers[split], schema=self.features.arrow_schema))
        self.buffers[split].clear()

    def close(self) -> dict[str, int]:
        for split in SPLITS:
            self._flush(split)
        for split, writer in self.writers.items():
            writer.close()
            os.replace(self.paths[split].with_suffix(".tmp"), self.paths[split])
        return dict(self.rows)


class DatasetBuilder:
    def __init__(self, labels_csv: Path, options: BuildOptions, reports: Path | None = None,
                 manifest: Path | None = None):
        self.options = options
        self.labels_csv = labels_csv
        self.kind = detect_source(labels_csv) if options.source == "auto" else options.source
        if self.kind == "openi":
            if manifest is None:
                raise UserError("--source openi: give Open-i's projections.csv as --manifest")
            self.kind = "mined"
        self.source_refs: list[ImageRef] | None = None  # image rows of a public layout / table (no manifest)
        self.notes: list[str] = []  # console notes (may name files: never written to the dataset)
        self.given_splits = read_split_files(options.split_from) if self.kind == "mined" else {}  # --split-from
        if self.kind == "mined":
            self.label_names, self.labels, self.problems = read_labels(labels_csv)
            self.labels = {key: tuple(UNCERTAIN_TO[options.uncertain] if s == "uncertain" else s for s in states)
                           for key, states in self.labels.items()}
            summary = labels_csv.parent / "summary.json"
            try:
                mined = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else {}
            except ValueError:
                mined = {}  # not the summary of `cxrlabel mine`: the card says "unknown"
            self.labeler = {key: str(mined[key]) for key in ("cxrlabel_version", "lang", "label_set", "parser")
                            if key in mined}
            self.source_name = "reports mined by `cxrlabel mine`" + (" (Open-i manifest)" if manifest and
                                                                     _is_openi(manifest) else "")
            self.split_from = ", ".join(p.name for p in options.split_from)
        else:
            loaded = load_source(self.kind, labels_csv, options.split_from, options.uncertain, manifest)
            self.label_names, self.labels, self.source_refs = loaded.names, loaded.labels, loaded.refs
            self.problems = [Problem(key, "", reason) for key, reason in loaded.problems]
            self.labeler = {"label_set": loaded.label_set} if loaded.label_set else {}
            self.source_name, self.split_from = loaded.description, loaded.split_from
            self.notes += loaded.notes
        if not self.labels:
            raise UserError(f"{labels_csv}: no labelled report")
        self.descriptions = label_descriptions(self.labeler.get("label_set", ""))
        self.reports = reports
        self.work = options.out / WORK
        self.folder: OutputFolder | None = None
        self.hash_ids = bool(options.hash_report_ids)
        self.excluded_views = 0
        self.skipped_files = 0  # files under --images that are no image (a README, a CSV): counted, not errors
        self.patient_source: Counter = Counter()
        self.sources: list[str] | None = None  # original paths, collected only for --source-map
        self.patient_origin = "manifest"  # where ImageRef.patient comes from: the manifest or the DICOM header
        self.listed_without_file = 0  # rows of a public layout whose image is not under --images (a subset)
        self.ambiguous_names = 0
        self.patients_in_two_splits = 0

    # -- privacy helpers -------------------------------------------------------------------------------------
    def _report_key(self, report_id: str) -> str:
        return pseudonymous_report(report_id, self.options.salt) if self.hash_ids else report_id

    def _problem(self, report_id: str, relative: str, reason: str) -> Problem:
        source = rekeyed_path(relative, self.options.salt) if relative else ""
        secrets = (relative, *Path(relative).parts, Path(relative).stem) if relative else ()
        return Problem(self._report_key(report_id) if report_id else "", source, scrub(reason, *secrets))

    # -- planning --------------------------------------------------------------------------------------------
    def plan(self, images: Path | None, manifest: Path | None, progress=None) -> list[ImageRef]:
        """The rows to write (images to decode, or text-only rows); pairing problems are recorded."""
        if images is not None and not images.is_dir():
            raise UserError(f"{images}: images folder not found")
        self.patient_origin = "manifest" if manifest is not None or self.source_refs is not None \
            else "DICOM PatientID"
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
            return [ImageRef(report_id, "") for report_id in self.labels]
        planned, seen, paired_reports = [], set(), set()
        for ref, problem in pairs:
            if problem == NOT_AN_IMAGE:
                self.skipped_files += 1
                continue
            # DICOM-tag pairing: every image file counts, except one whose header is unreadable (a broken file)
            if index is None and images is not None and (not problem or problem.startswith("PNG")):
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
                        self.listed_without_file += 1
                        paired_reports.add(ref.report_id)
                        continue
                else:
                    ref = replace(ref, relative=resolved)
            elif ref.report_id and ref.report_id not in self.labels:
                stats.note_unmatched(ref.report_id)
                if index is not None and ref.relative and index.resolve(ref.relative) is None:
                    self.listed_without_file += 1  # neither labelled nor here (the manifest covers more): counted
                    continue
            if self.sources is not None and ref.relative:
                self.sources.append(ref.relative)
            if problem:
                self.problems.append(self._problem("", ref.relative, problem))
            elif not ref.report_id or not ref.relative:
                self.problems.append(self._problem(ref.report_id, ref.relative,
                                                   "manifest row without a report id or an image path"
                                                   if manifest else "image without a report in labels.csv"))
            elif ref.report_id not in self.labels:
                self.problems.append(self._problem(ref.report_id, ref.relative, "image without a report in labels.csv"))
            elif (key := hashlib.blake2b(f"{ref.report_id}\0{ref.relative}".encode(), digest_size=8).digest()) in seen:
                self.problems.append(self._problem(ref.report_id, ref.relative, "duplicate manifest row (skipped)"))
            else:
                seen.add(key)
                paired_reports.add(ref.report_id)
                if on_disk:
                    stats.paired_files.add(ref.relative)
                    stats.paired_by_split[ref.split] += bool(ref.split)
                if self.options.frontal_only and ref.view and not is_frontal(ref.view):
                    self.excluded_views += 1  # a lateral view, dropped by --views frontal (not an error)
                    continue
                planned.append(ref)
        for report_id in self.labels:
            if report_id not in paired_reports:
                self.problems.append(self._problem(report_id, "", "report without an image"))
        if images is not None:
            self.ambiguous_names = index.ambiguous if index is not None else 0
            if self.ambiguous_names:
                self.notes.append(f"{self.ambiguous_names} listed file names matched several files under --images; "
                                  "the first in path order was used")
            check_pairing(stats, self.options.min_paired)
        elif not planned and self.options.min_paired > 0:
            check_pairing(stats, self.options.min_paired)
        self._note_split_overlap(planned)
        return planned

    def _note_split_overlap(self, planned: list[ImageRef]) -> None:
        """A given split is kept as given; a patient in two of its splits is counted and reported."""
        splits_of: dict[str, set[str]] = {}
        for ref in planned:
            if ref.split and ref.patient:
                splits_of.setdefault(ref.patient, set()).add(ref.split)
        shared = [p for p, splits in splits_of.items() if len(splits) > 1]
        self.patients_in_two_splits = len(shared)
        if shared:
            shared_set = set(shared)
            rows = sum(1 for ref in planned if ref.patient in shared_set)
            self.notes.append(f"{len(shared)} of {len(splits_of)} patients ({rows} images) are in more than one "
                              f"split of the given split ({self.split_from}); kept as given")

    def _fingerprint(self, refs: list[ImageRef], with_images: bool) -> str:
        digest = hashlib.sha256()
        settings = {k: v for k, v in asdict(self.options).items() if k not in ("out", "workers", "resume")}
        digest.update(json.dumps({**settings, "images": with_images, "version": __version__}, default=str).encode())
        for path in (self.labels_csv, self.reports):
            if path is not None and path.is_file():
                with open(path, "rb") as handle:  # in 1 MiB blocks: a large reports file is not read whole
                    while block := handle.read(1 << 20):
                        digest.update(block)
        for ref in refs:
            digest.update("\0".join((ref.report_id, ref.relative, ref.view, ref.patient, ref.split, "\n")).encode())
        return digest.hexdigest()

    def _prepare(self, fingerprint: str) -> None:
        """Keep the finished shards of an interrupted build (--resume, same fingerprint), or remove what earlier
        builds wrote here (and nothing else) and start afresh."""
        out, state, folder = self.options.out, self.work / "state.json", self.folder
        if self.options.resume and state.is_file() and folder.owns(f"{WORK}/state.json"):
            if json.loads(state.read_text()).get("fingerprint") != fingerprint:
                raise UserError(f"{out}: the inputs or options changed since the interrupted build; "
                                "run again without --resume")
            return
        folder.remove_previous()
        folder.register(self.work)
        self.work.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"fingerprint": fingerprint}))

    # -- building --------------------------------------------------------------------------------------------
    def build(self, images: Path | None, manifest: Path | None, progress=None, source_map: Path | None = None
              ) -> dict:
        out = self.options.out
        if self.options.frontal_only and images is None and manifest is None:
            raise UserError("--views frontal needs the views: give --manifest (with a view column) or --images")
        if images is not None and out.resolve().is_relative_to(images.resolve()):
            raise UserError(f"{out}: the output folder must not be inside the images folder")
        if source_map is not None and source_map.resolve().is_relative_to(out.resolve()):
            raise UserError(f"{source_map}: the source map names original files; keep it outside the dataset folder")
        text_fields = self.options.text_fields
        if text_fields and self.reports is None:
            raise UserError("--text needs --reports (the report texts to store)")
        if text_fields and self.labeler.get("lang") == "zh":
            raise UserError("--text: Chinese report text cannot be de-identified here (no Chinese name finder); "
                            "build without --text")
        self.folder = OutputFolder(out, self.options.overwrite)
        if self.options.hash_report_ids is None:  # report ids from DICOM tags are accession numbers / UIDs
            # (public layouts' ids are the datasets' own pseudonyms; a generic table's may be file names)
            self.hash_ids = (images is not None and manifest is None and self.source_refs is None) \
                or self.kind == "table"
        # problems of reading the labels carry the raw ids: re-keyed now that hashing is decided
        self.problems = [self._problem(p.report_id, "", p.reason) for p in self.problems]
        self.sources = [] if source_map is not None else None
        refs = self.plan(images, manifest, progress)
        if source_map is not None:
            self.write_source_map(source_map, self.sources)
        with_images = images is not None
        features = features_for(self.label_names, with_images, text_fields)
        out.mkdir(parents=True, exist_ok=True)
        self._prepare(self._fingerprint(refs, with_images))
        texts = TextStore(text_fields)
        if text_fields:
            task = progress.add_task("de-identifying report text", total=None) if progress else None
            self.problems += [self._problem(p.report_id, p.source, scrub(p.reason, p.source))
                              for p in texts.load(self.reports, self.labels, self.labeler.get("lang", ""))]
            if progress:
                progress.update(task, total=1, completed=1)
        chunks = list(batches(refs, self.options.shard_size))
        task = progress.add_task("building" if with_images else "building (text only)", total=len(refs)) \
            if progress else None
        parallel = with_images and self.options.workers > 1
        # spawn, not fork: the progress bar runs a thread; leaving the block terminates the workers (Ctrl-C too)
        pool_context = mp.get_context("spawn").Pool(self.options.workers, _ignore_interrupt) if parallel else None
        with pool_context or nullcontext() as pool:
            try:
                for number, chunk in enumerate(chunks):
                    marker = self.work / f"shard-{number:05d}.json"  # counts and problems (ids hashed as set)
                    if marker.is_file():  # finished by an interrupted run (only kept with --resume)
                        if progress:
                            progress.advance(task, len(chunk))
                        continue
                    result = self._write_shard(number, chunk, features, texts, images, pool, progress, task)
                    marker.write_text(json.dumps(result))
            finally:
                texts.close()
        return self._finish(features, with_images, len(chunks))

    def _write_shard(self, number, chunk, features, texts, images, pool, progress, task) -> dict:
        writer = ShardWriter(self.folder, number, features, self.options.row_group if images else 2000)
        problems: list[Problem] = []
        excluded = 0
        patient_source: Counter = Counter()
        if images is None:
            decoded: Iterable = ((None, {}, "") for _ in chunk)
        else:
            tasks = ((str(images), ref.relative, self.options.size, self.options.bits) for ref in chunk)
            decoded = bounded_imap(pool, _decode, tasks, 4 * self.options.workers) if pool else map(_decode, tasks)
        for ref, (png, tags, error) in zip(chunk, decoded, strict=True):
            if progress:
                progress.advance(task)
            if error:
                problems.append(self._problem(ref.report_id, ref.relative, error))
                continue
            view = ref.view or tags.get("ViewPosition", "")
            if self.options.frontal_only and not is_frontal(view):
                if view:
                    excluded += 1
                else:
                    problems.append(self._problem(ref.report_id, ref.relative,
                                                  "view unknown (--views frontal keeps PA / AP only)"))
                continue
            patient = ref.patient or tags.get("PatientID", "")
            patient_source[(self.patient_origin if ref.patient else "DICOM PatientID") if patient else "report id"] += 1
            row = self._row(ref, patient, view, texts)
            if png is not None:
                row["image"] = {"bytes": png, "path": row["source_path"]}
            writer.add(ref.split or assign_split(row["patient_id"], self.options.ratios, self.options.seed), row)
        rows = writer.close()
        return {"rows": rows, "excluded_views": excluded, "patient_source": dict(patient_source),
                "problems": [asdict(p) for p in problems]}

    def _row(self, ref: ImageRef, patient: str, view: str, texts: TextStore) -> dict:
        states = self.labels[ref.report_id]
        findings, impression = texts.get(ref.report_id) if texts.fields else ("", "")
        row = {
            "labels": [i for i, state in enumerate(states) if state == "positive"],
            "label_states": list(states),
            "report_id": self._report_key(ref.report_id),
            # no patient id known: each report is its own patient (the summary says how many rows this hit)
            "patient_id": pseudonymous_patient(patient or "report:" + ref.report_id, self.options.salt),
            "view": view,
            "source_path": rekeyed_path(ref.relative, self.options.salt) if ref.relative else "",
        }
        row.update({field: text for field, text in zip(TEXT_FIELDS, (findings, impression), strict=True)
                    if field in texts.fields})
        return row

    def _finish(self, features, with_images: bool, shards: int) -> dict:
        from datasets import Dataset, DatasetDict
        from datasets import config as datasets_config
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
        out = self.options.out
        for marker in sorted(self.work.glob("shard-*.json")):
            result = json.loads(marker.read_text())
            self.excluded_views += result["excluded_views"]
            self.patient_source.update(result["patient_source"])
            self.problems += [Problem(**p) for p in result["problems"]]
        splits = {}
        for split in SPLITS:
            files = sorted(str(p) for p in (out / "parquet" / split).glob("shard-*.parquet"))
            if not files:  # an empty split still gets its parquet folder, with a zero-row file
                import pyarrow.parquet as pq

                empty = out / "parquet" / split / "empty.parquet"
                self.folder.register(empty)
                empty.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(features.arrow_schema.empty_table(), empty)
            splits[split] = (Dataset.from_parquet(files, features=features, cache_dir=str(self.work / "cache"))
                             if files else Dataset.from_dict({name: [] for name in features}, features=features))
        dataset = DatasetDict(splits)
        staging = self.work / "dataset"  # saved here, then moved in file by file (never over a file not ours)
        shutil.rmtree(staging, ignore_errors=True)
        # batches of at most 64 rows (datasets' default is up to 1000 rows / ~100 MB): flat memory with big images
        default_batch = datasets_config.DEFAULT_MAX_BATCH_SIZE
        datasets_config.DEFAULT_MAX_BATCH_SIZE = 64 if with_images else default_batch
        try:  # an empty split needs one explicit shard, or it cannot be loaded back
            dataset.save_to_disk(str(staging),
                                 num_shards={split: 1 for split in SPLITS if dataset[split].num_rows == 0})
        finally:
            datasets_config.DEFAULT_MAX_BATCH_SIZE = default_batch
        self.folder.remove_previous(under=SPLITS)  # an earlier build's split files (their count may differ)
        self.write_errors(staging / "errors.csv")
        reasons = Counter(p.reason.split(":")[0].split(" (")[0] for p in self.problems)
        summary = {
            "cxrlabel_version": __version__,
            "labeler": self.labeler,
            "label_set": self.labeler.get("label_set", ""),
            "source": self.source_name,
            "source_kind": self.kind,
            "ambiguous_file_names": self.ambiguous_names,
            "split_from": self.split_from,
            "uncertain": self.options.uncertain,
            "listed_without_image_file": self.listed_without_file,
            "patients_in_two_splits": self.patients_in_two_splits,
            "label_names": self.label_names,
            "images": with_images,
            "size": self.options.size if with_images else None,
            "bits": self.options.bits if with_images else None,
            "views": "frontal" if self.options.frontal_only else "all",
            "split_ratios": list(self.options.ratios),
            "seed": self.options.seed,
            "report_ids_hashed": self.hash_ids,
            "text": list(self.options.text_fields),
            "text_deidentified_by": "presidio (see README)" if self.options.text_fields else None,
            "shards": shards,
            "reports_in_labels": len(self.labels),
            "excluded_views": self.excluded_views,
            "skipped_non_image_files": self.skipped_files,
            "patient_id_from": dict(self.patient_source),
            "errors": len(self.problems),
            "errors_by_reason": dict(reasons.most_common()),
            "splits": {split: split_summary(dataset[split], self.label_names) for split in SPLITS},
        }
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        (staging / "README.md").write_text(dataset_card(summary, rules_checksums(self.labeler.get("lang", "")),
                                                        self.descriptions))
        del dataset, splits
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            self.folder.move_in(path, path.relative_to(staging).as_posix())
        shutil.rmtree(self.work, ignore_errors=True)
        self.folder.settle()
        return summary

    def write_errors(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["report_id", "source", "reason"])
            writer.writerows((p.report_id, p.source, p.reason) for p in self.problems)

    def write_source_map(self, path: Path, refs: Iterable[str]) -> None:
        """re-keyed name → original path, for the data holder only (never inside the dataset folder)."""
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["source_path", "original"])
            writer.writerows((rekeyed_path(relative, self.options.salt), relative) for relative in refs)


def label_descriptions(label_set: str) -> dict[str, str]:
    """Label name → description from the shipped label set named by `cxrlabel mine` (empty when unknown)."""
    from cxrlabel.labelsets import available_label_sets, load_label_set

    if label_set not in available_label_sets():
        return {}
    return {label.name: label.description for label in load_label_set(label_set).labels}


def split_summary(split, label_names: list[str]) -> dict:
    """Rows, patients, reports and per-label state counts of one split, read in Arrow batches."""
    import pyarrow.compute as pc

    counts = np.zeros((len(STATES), len(label_names)), dtype=np.int64)
    without_positive = 0
    distinct = {name: pc.count_distinct(split.data.column(name)).as_py() if split.num_rows else 0
                for name in ("patient_id", "report_id")}
    for batch in split.select_columns(["label_states"]).with_format("arrow").iter(batch_size=10_000):
        states = np.asarray(batch.column("label_states").combine_chunks().flatten().to_pylist(), dtype=object)
        states = states.reshape(-1, len(label_names))
        for index, state in enumerate(STATES):
            counts[index] += (states == state).sum(axis=0)
        without_positive += int((states != "positive").all(axis=1).sum())
    named = {state or "not_mentioned": dict(zip(label_names, (int(c) for c in counts[i]), strict=True))
             for i, state in enumerate(STATES)}
    return {"rows": split.num_rows, "patients": distinct["patient_id"], "reports": distinct["report_id"],
            "rows_without_positive": without_positive, **{f"{k}": v for k, v in named.items()}}


def dataset_card(summary: dict, checksums: dict[str, str], descriptions: dict[str, str]) -> str:
    splits = summary["splits"]
    labeler = summary["labeler"]
    image_line = (f"{summary['size']}×{summary['size']} PNG, {summary['bits']}-bit, aspect kept by black padding, "
                  f"views: {summary['views']}" if summary["images"] else "none (text-only label dataset)")
    lines = [
        "---",
        "task_categories:",
        "- image-classification" if summary["images"] else "- text-classification",
        "tags:",
        "- chest-x-ray",
        "- multi-label",
        "---",
        "",
        "# Chest X-ray dataset built by cxrlabel",
        "",
        f"- built by: cxrlabel {summary['cxrlabel_version']} (`cxrlabel build`)",
        (f"- labels mined by: cxrlabel {labeler.get('cxrlabel_version', '?')}, language "
         f"`{labeler.get('lang', '?')}`, label set `{summary['label_set'] or 'unknown'}`"
         if "cxrlabel_version" in labeler else
         f"- labels: {summary.get('source', '?')}, label set `{summary['label_set'] or _unnamed_set(summary)}`"),
        f"- images: {image_line}",
        (f"- splits as given by the source ({summary['split_from']}); {summary['patients_in_two_splits']} patients "
         "are in more than one split" if summary.get("split_from") else
         f"- splits by patient (no patient in two splits), ratios {summary['split_ratios']}, seed {summary['seed']}"),
        f"- uncertain labels: {summary.get('uncertain', 'ignore')} "
        "(ignore: kept as uncertain; zeros: negative; ones: positive)",
        "- `patient_id` and `source_path` are keyed hashes (HMAC-SHA256 with a secret that is not stored here); "
        f"report ids {'are keyed hashes too' if summary['report_ids_hashed'] else 'are as mined'}",
        f"- features: {'`image`, ' if summary['images'] else ''}`labels` (indices of the positive labels; "
        "names in the ClassLabel feature), "
        "`label_states` (positive / negative / uncertain / empty per label, label order), `report_id`, "
        "`patient_id`, `view`, " + "".join(f"`{field}`, " for field in summary["text"]) + "`source_path`",
        ("- report text: " + " and ".join(summary["text"]) + ", de-identified with Microsoft Presidio (names, "
         "dates, identifiers, phone numbers, places replaced by <PERSON>, <DATE>, <ID> ...; automatic, so "
         "review before sharing)") if summary["text"] else "- report text: none stored",
        "- load with `datasets.load_from_disk(PATH)`; parquet shards under `parquet/<split>/`; problems in "
        f"`errors.csv` ({summary['errors']})",
        "",
        "## Positive labels per split",
        "",
        "| label | " + " | ".join(splits) + " |",
        "|---|" + "---:|" * len(splits),
    ]
    for name in summary["label_names"]:
        lines.append(f"| {name} | " + " | ".join(str(s["positive"][name]) for s in splits.values()) + " |")
    lines.append("| (no positive label) | " + " | ".join(str(s["rows_without_positive"]) for s in splits.values())
                 + " |")
    lines.append("| **rows** | " + " | ".join(str(s["rows"]) for s in splits.values()) + " |")
    lines.append("| patients | " + " | ".join(str(s["patients"]) for s in splits.values()) + " |")
    lines += ["", "Uncertain and negative counts per label: `summary.json`.", ""]
    described = [name for name in summary["label_names"] if descriptions.get(name)]
    if described:
        lines += ["## Label notes (from the label set)", ""]
        lines += [f"- `{name}`: {' '.join(descriptions[name].split())}" for name in described]
        lines.append("")
    lines += ["## Rule files (sha256, first 16 hex digits)", ""]
    lines += [f"- `{name}` {digest}" for name, digest in checksums.items()]
    return "\n".join(lines) + "\n"


def _unnamed_set(summary: dict) -> str:
    return "the table columns" if summary.get("source_kind") == "table" else "unknown"


def _is_openi(manifest: Path) -> bool:
    """A manifest in Open-i's projections.csv layout (uid, filename, projection)."""
    return manifest.is_file() and [c.lower() for c in header_of(manifest)][:3] == ["uid", "filename", "projection"]
