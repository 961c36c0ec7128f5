"""Build a Hugging Face dataset from mined labels (+ images): streamed, sharded, resumable, patient-split, PHI-free.

The steps live in their own modules: labels.py (labels.csv), planner.py (pairing → rows), texts.py (de-identified
report text in an unlinked SQLite table), shards.py (decoding workers, parquet shard writer), resume.py (working
state, shard markers), convert.py (parquet shards → saved DatasetDict), card.py (dataset card). This module runs
them in order and writes summary.json and errors.csv.

Memory stays flat in the number of images: the plan keeps one small record per image, report texts wait in SQLite,
at most 4 × workers decoded images are in flight, each shard streams its rows to parquet in row groups of
`row_group` rows (a few MB of PNGs), and the conversion reads them back in batches of that many rows.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import shutil
from collections import Counter
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

from cxrlabel import __version__
from cxrlabel.errors import UserError
from cxrlabel.imageset.card import dataset_card, label_descriptions, rules_checksums
from cxrlabel.imageset.convert import features_for, save_dataset, shards_to_dataset, split_summary
from cxrlabel.imageset.images import is_frontal
from cxrlabel.imageset.labels import read_labels
from cxrlabel.imageset.layouts import UNCERTAIN_TO, detect_source, header_of, load_source, read_split_files
from cxrlabel.imageset.outdir import OutputFolder
from cxrlabel.imageset.pairing import ImageRef
from cxrlabel.imageset.planner import Plan, Planner
from cxrlabel.imageset.privacy import Pseudonymiser, pseudonymous_patient, rekeyed_path, scrub
from cxrlabel.imageset.problems import Problem, write_errors
from cxrlabel.imageset.resume import BuildState, fingerprint
from cxrlabel.imageset.shards import ShardResult, ShardWriter, decode_image, ignore_interrupt
from cxrlabel.imageset.splits import SPLITS, assign_split
from cxrlabel.imageset.texts import TEXT_FIELDS, TextStore
from cxrlabel.parallel import batches, bounded_imap
from cxrlabel.sharding import Shard, patient_key

TEXT_ONLY_ROW_GROUP = 2000  # rows per parquet row group without images
TEXT_ONLY_BATCH = 500  # rows per conversion batch without images (2,000 took longer and more memory)
IMAGES_PER_SAVED_FILE = 64  # rows per Arrow file of the saved dataset: bounds save_to_disk's memory


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
    shard: Shard | None = None  # --shard I/N: only the rows of the patients that hash to this shard
    row_group: int = 32


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
            self.labeler = _mined_by(labels_csv.parent / "summary.json")
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
        self.folder: OutputFolder | None = None
        self.pseudonymiser = Pseudonymiser(options.salt, bool(options.hash_report_ids))
        self.patient_origin = "manifest"  # where ImageRef.patient comes from: the manifest or the DICOM header

    def plan(self, images: Path | None, manifest: Path | None, progress=None, collect_sources: bool = False) -> Plan:
        """The rows to write (images to decode, or text-only rows) and the pairing problems."""
        self.patient_origin = "manifest" if manifest is not None or self.source_refs is not None \
            else "DICOM PatientID"
        shard = self.options.shard  # all images of a patient in one shard (cxrlabel/sharding.py)
        planner = Planner(self.labels, self.pseudonymiser, self.source_refs, self.given_splits, self.split_from,
                          self.options.frontal_only, self.options.min_paired, collect_sources,
                          keep=(lambda ref: shard.holds(patient_key(ref.report_id, ref.patient))) if shard else None)
        plan = planner.plan(images, manifest, progress)
        self.notes += plan.notes
        return plan

    def build(self, images: Path | None, manifest: Path | None, progress=None, source_map: Path | None = None
              ) -> dict:
        out, options = self.options.out, self.options
        if options.frontal_only and images is None and manifest is None:
            raise UserError("--views frontal needs the views: give --manifest (with a view column) or --images")
        if images is not None and out.resolve().is_relative_to(images.resolve()):
            raise UserError(f"{out}: the output folder must not be inside the images folder")
        if source_map is not None and source_map.resolve().is_relative_to(out.resolve()):
            raise UserError(f"{source_map}: the source map names original files; keep it outside the dataset folder")
        text_fields = options.text_fields
        if text_fields and self.reports is None:
            raise UserError("--text needs --reports (the report texts to store)")
        if text_fields and self.labeler.get("lang") == "zh":
            raise UserError("--text: Chinese report text cannot be de-identified here (no Chinese name finder); "
                            "build without --text")
        self.folder = OutputFolder(out, options.overwrite)
        if options.hash_report_ids is None:  # report ids from DICOM tags are accession numbers / UIDs
            # (public layouts' ids are the datasets' own pseudonyms; a generic table's may be file names)
            hash_ids = (images is not None and manifest is None and self.source_refs is None) or self.kind == "table"
            self.pseudonymiser = Pseudonymiser(options.salt, hash_ids)
        # problems of reading the labels carry the raw ids: re-keyed now that hashing is decided
        self.problems = [self.pseudonymiser.problem(p.report_id, "", p.reason) for p in self.problems]
        plan = self.plan(images, manifest, progress, collect_sources=source_map is not None)
        self.problems += plan.problems
        shard = options.shard
        if shard is not None:  # every shard plans the whole input: each planning problem is kept by one shard
            self.problems = list(shard.select(self.problems, _problem_key))
        if source_map is not None:
            self.write_source_map(source_map, plan.sources)
        with_images = images is not None
        features = features_for(self.label_names, with_images, text_fields)
        out.mkdir(parents=True, exist_ok=True)
        state = BuildState(self.folder)
        settings = {k: v for k, v in asdict(options).items() if k not in ("out", "workers", "resume")}
        state.start(fingerprint({**settings, "images": with_images, "version": __version__},
                                (self.labels_csv, self.reports), plan.refs), options.resume)
        # the whole run's (all N shards'): inputs and options but the shard; `cxrlabel merge` compares it
        self.run_fingerprint = fingerprint({**settings, "shard": None, "images": with_images, "version": __version__},
                                           (self.labels_csv, self.reports, manifest), []) if shard else ""
        texts = TextStore(text_fields)
        if text_fields:
            task = progress.add_task("de-identifying report text", total=None) if progress else None
            wanted = self.labels if shard is None else {ref.report_id: () for ref in plan.refs}  # the shard's only
            self.problems += [self.pseudonymiser.problem(p.report_id, p.source, scrub(p.reason, p.source))
                              for p in texts.load(self.reports, wanted, self.labeler.get("lang", ""))
                              if shard is None or p.report_id or shard.holds(_problem_key(p))]
            if progress:
                progress.update(task, total=1, completed=1)
        chunks = list(batches(plan.refs, options.shard_size))
        task = progress.add_task("building" if with_images else "building (text only)", total=len(plan.refs)) \
            if progress else None
        parallel = with_images and options.workers > 1
        # spawn, not fork: the progress bar runs a thread; leaving the block terminates the workers (Ctrl-C too)
        pool_context = mp.get_context("spawn").Pool(options.workers, ignore_interrupt) if parallel else None
        with pool_context or nullcontext() as pool:
            try:
                for number, chunk in enumerate(chunks):
                    if state.is_done(number):  # finished by an interrupted run (only kept with --resume)
                        if progress:
                            progress.advance(task, len(chunk))
                        continue
                    state.mark_done(number, self._write_shard(number, chunk, features, texts, images, pool,
                                                              progress, task))
            finally:
                texts.close()
        return self._finish(features, with_images, plan, state)

    def _write_shard(self, number, chunk, features, texts, images, pool, progress, task) -> ShardResult:
        options = self.options
        writer = ShardWriter(self.folder, number, features, options.row_group if images else TEXT_ONLY_ROW_GROUP)
        result = ShardResult()
        patient_source: Counter = Counter()
        if images is None:
            decoded: Iterable = ((None, {}, "") for _ in chunk)
        else:
            tasks = ((str(images), ref.relative, options.size, options.bits) for ref in chunk)
            decoded = bounded_imap(pool, decode_image, tasks, 4 * options.workers) if pool \
                else map(decode_image, tasks)
        for ref, (png, tags, error) in zip(chunk, decoded, strict=True):
            if progress:
                progress.advance(task)
            if error:
                result.problems.append(self.pseudonymiser.problem(ref.report_id, ref.relative, error))
                continue
            view = ref.view or tags.get("ViewPosition", "")
            if options.frontal_only and not is_frontal(view):
                if view:
                    result.excluded_views += 1
                else:
                    result.problems.append(self.pseudonymiser.problem(
                        ref.report_id, ref.relative, "view unknown (--views frontal keeps PA / AP only)"))
                continue
            patient = ref.patient or tags.get("PatientID", "")
            patient_source[(self.patient_origin if ref.patient else "DICOM PatientID") if patient else "report id"] += 1
            row = self._row(ref, patient, view, texts)
            if png is not None:
                row["image"] = {"bytes": png, "path": row["source_path"]}
            writer.add(ref.split or assign_split(row["patient_id"], options.ratios, options.seed), row)
        result.rows = writer.close()
        result.patient_source = dict(patient_source)
        return result

    def _row(self, ref: ImageRef, patient: str, view: str, texts: TextStore) -> dict:
        states = self.labels[ref.report_id]
        findings, impression = texts.get(ref.report_id) if texts.fields else ("", "")
        row = {
            "labels": [i for i, state in enumerate(states) if state == "positive"],
            "label_states": list(states),
            "report_id": self.pseudonymiser.report_key(ref.report_id),
            # no patient id known: each report is its own patient (the summary says how many rows this hit)
            "patient_id": pseudonymous_patient(patient or "report:" + ref.report_id, self.options.salt),
            "view": view,
            "source_path": rekeyed_path(ref.relative, self.options.salt) if ref.relative else "",
        }
        row.update({field: text for field, text in zip(TEXT_FIELDS, (findings, impression), strict=True)
                    if field in texts.fields})
        return row

    def _finish(self, features, with_images: bool, plan: Plan, state: BuildState) -> dict:
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
        excluded_views, patient_source = plan.excluded_views, Counter()
        for result in state.results():
            excluded_views += result.excluded_views
            patient_source.update(result.patient_source)
            self.problems += result.problems
        batch_rows = self.options.row_group if with_images else TEXT_ONLY_BATCH
        dataset = shards_to_dataset(self.folder, features, state.work / "cache", batch_rows)
        staging = state.work / "dataset"  # saved here, then moved in file by file (never over a file not ours)
        shutil.rmtree(staging, ignore_errors=True)
        save_dataset(dataset, staging, IMAGES_PER_SAVED_FILE if with_images else None)
        self.folder.remove_previous(under=SPLITS)  # an earlier build's split files (their count may differ)
        write_errors(staging / "errors.csv", self.problems)
        summary = self._summary(dataset, with_images, plan, excluded_views, patient_source)
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        dataset_card(summary, rules_checksums(self.labeler.get("lang", "")), self.descriptions).save(
            staging / "README.md")
        del dataset
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            self.folder.move_in(path, path.relative_to(staging).as_posix())
        shutil.rmtree(state.work, ignore_errors=True)
        self.folder.settle()
        return summary

    def _summary(self, dataset, with_images: bool, plan: Plan, excluded_views: int, patient_source: Counter) -> dict:
        options = self.options
        reasons = Counter(p.reason.split(":")[0].split(" (")[0] for p in self.problems)
        return {
            "cxrlabel_version": __version__,
            "labeler": self.labeler,
            "label_set": self.labeler.get("label_set", ""),
            "source": self.source_name,
            "source_kind": self.kind,
            "ambiguous_file_names": plan.ambiguous_names,
            "split_from": self.split_from,
            "uncertain": options.uncertain,
            "listed_without_image_file": plan.listed_without_file,
            "patients_in_two_splits": plan.patients_in_two_splits,
            "label_names": self.label_names,
            "images": with_images,
            "size": options.size if with_images else None,
            "bits": options.bits if with_images else None,
            "views": "frontal" if options.frontal_only else "all",
            "split_ratios": list(options.ratios),
            "seed": options.seed,
            "report_ids_hashed": self.pseudonymiser.hash_ids,
            "text": list(options.text_fields),
            "text_deidentified_by": "presidio (see README)" if options.text_fields else None,
            "shards": -(-len(plan.refs) // options.shard_size),
            "reports_in_labels": len(self.labels),
            "excluded_views": excluded_views,
            "skipped_non_image_files": plan.skipped_files,
            "patient_id_from": dict(patient_source),
            "errors": len(self.problems),
            "errors_by_reason": dict(reasons.most_common()),
            "splits": {split: split_summary(dataset[split], self.label_names) for split in SPLITS},
            **({"shard": options.shard.describe("patient", self.run_fingerprint)} if options.shard else {}),
        }

    def write_source_map(self, path: Path, refs: Iterable[str]) -> None:
        """re-keyed name → original path, for the data holder only (never inside the dataset folder)."""
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["source_path", "original"])
            writer.writerows((rekeyed_path(relative, self.options.salt), relative) for relative in refs)


def _problem_key(problem: Problem) -> str:
    """The shard key of a problem that every shard finds while planning (one shard keeps it)."""
    return "problem:" + "\0".join((problem.report_id, problem.source, problem.reason))


def _mined_by(summary: Path) -> dict[str, str]:
    """Version, language, label set and parser of the `cxrlabel mine` run beside labels.csv (empty if unknown)."""
    try:
        mined = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else {}
    except ValueError:
        mined = {}  # not the summary of `cxrlabel mine`: the card says "unknown"
    return {key: str(mined[key]) for key in ("cxrlabel_version", "lang", "label_set", "parser") if key in mined}


def _is_openi(manifest: Path) -> bool:
    """A manifest in Open-i's projections.csv layout (uid, filename, projection)."""
    return manifest.is_file() and [c.lower() for c in header_of(manifest)][:3] == ["uid", "filename", "projection"]
