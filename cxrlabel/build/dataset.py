"""Build a Hugging Face dataset from mined labels (+ images): sharded, resumable, patient-split, PHI-free."""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing as mp
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from cxrlabel import __version__
from cxrlabel.build.images import ImageError, is_frontal, read_image, to_square_png
from cxrlabel.build.pairing import ImageRef, from_dicom_tags, from_manifest
from cxrlabel.build.privacy import pseudonymous_patient, rekeyed_path
from cxrlabel.build.splits import SPLITS, assign_split
from cxrlabel.errors import UserError
from cxrlabel.readers import iter_reports
from cxrlabel.resources import rules_dir
from cxrlabel.types import Report

STATE_NAMES = {"1": "positive", "0": "negative", "-1": "uncertain", "": ""}


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


def read_labels(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """labels.csv of `cxrlabel mine`: label names and, per report id, the state per label."""
    if not path.is_file():
        raise UserError(f"{path}: labels file not found (run `cxrlabel mine` first)")
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or header[0] != "id" or len(header) < 2:
            raise UserError(f"{path}: expected the labels.csv of `cxrlabel mine` (id + one column per label)")
        rows = {}
        for row in reader:
            states = [STATE_NAMES.get(value.strip(), "") for value in row[1:]]
            rows[row[0]] = states + [""] * (len(header) - 1 - len(states))
    return header[1:], rows


def features_for(label_names: list[str], with_images: bool):
    from datasets import ClassLabel, Features, Image, Sequence, Value

    columns = {
        "labels": Sequence(ClassLabel(names=label_names)),
        "label_states": Sequence(Value("string")),
        "report_id": Value("string"),
        "patient_id": Value("string"),
        "view": Value("string"),
        "findings": Value("string"),
        "impression": Value("string"),
        "source_path": Value("string"),
    }
    return Features({"image": Image(), **columns} if with_images else columns)


def _decode(task: tuple[ImageRef, int, int]) -> tuple[ImageRef, bytes | None, dict, str]:
    ref, size, bits = task
    try:
        decoded = read_image(ref.path)
        return ref, to_square_png(decoded.pixels, size, bits), decoded.tags, ""
    except ImageError as exc:
        return ref, None, {}, str(exc)
    except Exception as exc:  # a broken file must not stop the build: it is reported with its reason
        return ref, None, {}, f"{exc.__class__.__name__}: {exc}"


def _chunks(items: list, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def rules_checksums() -> dict[str, str]:
    root = rules_dir()
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts}


class DatasetBuilder:
    def __init__(self, labels_csv: Path, options: BuildOptions, reports: Path | None = None):
        self.options = options
        self.label_names, self.labels = read_labels(labels_csv)
        summary = labels_csv.parent / "summary.json"
        self.label_set = json.loads(summary.read_text()).get("label_set", "") if summary.exists() else ""
        self.texts: dict[str, tuple[str, str]] = {}
        if reports is not None:
            for item in iter_reports(reports):
                if isinstance(item, Report) and item.id in self.labels:
                    self.texts[item.id] = (item.sections.get("findings", item.text if not item.sections else ""),
                                           item.sections.get("impression", ""))
        self.errors: list[tuple[str, str, str]] = []  # (report id, source, reason) — kept outside the dataset

    def _row(self, report_id: str, patient: str, view: str, source: str) -> dict:
        states = self.labels[report_id]
        findings, impression = self.texts.get(report_id, ("", ""))
        return {
            "labels": [i for i, state in enumerate(states) if state == "positive"],
            "label_states": states,
            "report_id": report_id,
            "patient_id": pseudonymous_patient(patient or report_id, self.options.salt),
            "view": view,
            "findings": findings,
            "impression": impression,
            "source_path": source,
        }

    def plan(self, images: Path | None, manifest: Path | None) -> list[ImageRef]:
        """Image references to decode (empty for a text-only build), with pairing errors recorded."""
        if images is None:
            return []
        if not images.is_dir():
            raise UserError(f"{images}: images folder not found")
        refs = from_manifest(manifest, images) if manifest else from_dicom_tags(images, set(self.labels))
        paired = []
        for ref in refs:
            if ref.error:
                self.errors.append((ref.report_id, ref.relative, ref.error))
            elif ref.report_id not in self.labels:
                self.errors.append((ref.report_id, ref.relative, "image without a report in labels.csv"))
            elif self.options.frontal_only and ref.view and not is_frontal(ref.view):
                continue  # a lateral view, dropped by --views frontal (not an error)
            else:
                paired.append(ref)
        with_image = {ref.report_id for ref in paired}
        for report_id in self.labels:
            if report_id not in with_image:
                self.errors.append((report_id, "", "report without an image"))
        return paired

    def build(self, images: Path | None, manifest: Path | None, progress=None) -> dict:
        out = self.options.out
        shards_dir = out / "parquet"
        refs = self.plan(images, manifest)
        with_images = images is not None
        features = features_for(self.label_names, with_images)
        out.mkdir(parents=True, exist_ok=True)
        if not self.options.resume and shards_dir.exists():
            shutil.rmtree(shards_dir)
        items = refs if with_images else sorted(self.labels)
        chunks = list(_chunks(items, self.options.shard_size))
        task = progress.add_task("building", total=len(items)) if progress else None
        context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        pool = context.Pool(self.options.workers) if with_images and self.options.workers > 1 else None
        try:
            for number, chunk in enumerate(chunks):
                marker = shards_dir / f".shard-{number:05d}.done"
                if self.options.resume and marker.exists():
                    if progress:
                        progress.advance(task, len(chunk))
                    continue
                rows = self._image_rows(chunk, pool) if with_images else [
                    self._row(report_id, "", "", "") for report_id in chunk]
                self._write_shard(rows, number, features)
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(json.dumps({"rows": len(rows)}))
                if progress:
                    progress.advance(task, len(chunk))
        finally:
            if pool:
                pool.close()
                pool.join()
        return self._finish(features, with_images)

    def _image_rows(self, chunk: list[ImageRef], pool) -> list[dict]:
        tasks = [(ref, self.options.size, self.options.bits) for ref in chunk]
        decoded = pool.imap(_decode, tasks, chunksize=4) if pool else map(_decode, tasks)
        rows = []
        for ref, png, tags, error in decoded:
            if png is None:
                self.errors.append((ref.report_id, ref.relative, error))
                continue
            view = ref.view or tags.get("ViewPosition", "")
            if self.options.frontal_only and view and not is_frontal(view):
                continue
            source = rekeyed_path(ref.relative, self.options.salt)
            row = self._row(ref.report_id, ref.patient or tags.get("PatientID", ""), view, source)
            row["image"] = {"bytes": png, "path": source}
            rows.append(row)
        return rows

    def _write_shard(self, rows: list[dict], number: int, features) -> None:
        from datasets import Dataset

        by_split: dict[str, list[dict]] = {split: [] for split in SPLITS}
        for row in rows:
            by_split[assign_split(row["patient_id"], self.options.ratios, self.options.seed)].append(row)
        for split, split_rows in by_split.items():
            if split_rows:
                target = self.options.out / "parquet" / split / f"shard-{number:05d}.parquet"
                target.parent.mkdir(parents=True, exist_ok=True)
                Dataset.from_list(split_rows, features=features).to_parquet(str(target))

    def _finish(self, features, with_images: bool) -> dict:
        from datasets import Dataset, DatasetDict

        out = self.options.out
        cache = out / ".cache"
        splits = {}
        for split in SPLITS:
            files = sorted(str(p) for p in (out / "parquet" / split).glob("*.parquet"))
            splits[split] = (Dataset.from_parquet(files, features=features, cache_dir=str(cache)) if files
                             else Dataset.from_dict({name: [] for name in features}, features=features))
        dataset = DatasetDict(splits)
        for split in SPLITS:  # save_to_disk replaces the split folders only
            shutil.rmtree(out / split, ignore_errors=True)
        # an empty split needs one explicit shard, or it cannot be loaded back
        dataset.save_to_disk(str(out), num_shards={split: 1 for split in SPLITS if dataset[split].num_rows == 0})
        shutil.rmtree(cache, ignore_errors=True)
        summary = {
            "cxrlabel_version": __version__,
            "label_set": self.label_set,
            "label_names": self.label_names,
            "images": with_images,
            "size": self.options.size if with_images else None,
            "bits": self.options.bits if with_images else None,
            "split_ratios": list(self.options.ratios),
            "seed": self.options.seed,
            "errors": len(self.errors),
            "splits": {split: self._split_summary(dataset[split]) for split in SPLITS},
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        (out / "README.md").write_text(dataset_card(summary, rules_checksums()))
        return summary

    def _split_summary(self, split) -> dict:
        counts = Counter()
        for labels in split["labels"]:
            counts.update(self.label_names[i] for i in labels)
        return {"rows": split.num_rows, "patients": len(set(split["patient_id"])),
                "positives": {name: counts[name] for name in self.label_names}}

    def write_errors(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["report_id", "source", "reason"])
            writer.writerows(self.errors)


def dataset_card(summary: dict, checksums: dict[str, str]) -> str:
    lines = [
        "# Chest X-ray dataset built by cxrlabel",
        "",
        f"- labeler: cxrlabel {summary['cxrlabel_version']}, label set `{summary['label_set'] or 'unknown'}`",
        f"- images: {'yes, ' + str(summary['size']) + ' px square PNG, ' + str(summary['bits']) + '-bit' if summary['images'] else 'none (text-only label dataset)'}",  # noqa: E501
        f"- splits by patient, ratios {summary['split_ratios']}, seed {summary['seed']}; patient ids are keyed hashes",
        "- load with `datasets.load_from_disk(PATH)`; parquet shards under `parquet/<split>/`",
        "",
        "| label | " + " | ".join(summary["splits"]) + " |",
        "|---|" + "---|" * len(summary["splits"]),
    ]
    for name in summary["label_names"]:
        lines.append(f"| {name} | " + " | ".join(str(s["positives"][name]) for s in summary["splits"].values()) + " |")
    lines.append("| rows | " + " | ".join(str(s["rows"]) for s in summary["splits"].values()) + " |")
    lines += ["", "## Rule files (sha256, first 16 hex digits)", ""]
    lines += [f"- `{name}` {digest}" for name, digest in checksums.items()]
    return "\n".join(lines) + "\n"
