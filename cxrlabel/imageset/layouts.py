"""Public dataset layouts as `cxrlabel build` inputs: NIH ChestX-ray14, CheXpert, MIMIC-CXR-JPG and a generic
labels table (image-level labels, optional given split). Mined labels.csv (+ an Open-i style manifest) stay in
dataset.py; this module turns every other layout into label rows and image references."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.imageset.pairing import PATH_COLUMNS, PATIENT_COLUMNS, REPORT_COLUMNS, VIEW_COLUMNS, ImageRef
from cxrlabel.readers import find_column

SOURCES = ("auto", "mined", "openi", "nih", "chexpert", "mimic", "table")  # openi: mined + projections.csv
UNCERTAIN_POLICIES = ("ignore", "zeros", "ones")
SPLIT_NAMES = {"train": "train", "training": "train", "train_val": "train", "valid": "validation",
               "validation": "validation", "validate": "validation", "val": "validation", "dev": "validation",
               "test": "test", "testing": "test"}
SPLIT_COLUMNS = ("split", "source_split", "fold", "subset")
SPLIT_KEY_COLUMNS = ("image index", "image_filename", "dicom_id", *PATH_COLUMNS)
LABEL_LIST_COLUMNS = ("labels", "finding_labels", "finding labels", "findings")
MIMIC_META = ("subject_id", "study_id")
# NIH names that differ from the chestxray14 label set ("No Finding" is the set's derived `normal` label; the box
# file spells Infiltration "Infiltrate")
NIH_ALIASES = {"nofinding": "normal", "infiltrate": "Infiltration"}
STATE_OF = {"1": "positive", "0": "negative", "-1": "uncertain", "": "", "true": "positive", "false": "negative"}
UNCERTAIN_TO = {"ignore": "uncertain", "zeros": "negative", "ones": "positive"}


@dataclass
class LoadedSource:
    """Labels and image references read from a public layout or a generic table."""

    kind: str
    description: str  # for the dataset card, e.g. "NIH ChestX-ray14 (Data_Entry_2017.csv)"
    label_set: str  # a shipped label set name, or "" when the table's own columns are the labels
    names: list[str]
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    refs: list[ImageRef] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (report id, reason)
    split_from: str = ""  # where the given split came from; "" = split by patient
    notes: list[str] = field(default_factory=list)  # printed on the console


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
        for line, row in enumerate(reader, start=2):
            yield line, {(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items()}


def header_of(path: Path) -> list[str]:
    if not path.is_file():
        raise UserError(f"{path}: labels file not found")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [c.strip() for c in next(csv.reader(handle), [])]


def detect_source(path: Path) -> str:
    """The layout of a labels file, from its header (UserError when none fits)."""
    columns = header_of(path)
    lowered = {c.lower() for c in columns}
    if columns and columns[0] == "id":
        return "mined"
    if {"image index", "finding labels"} <= lowered:
        return "nih"
    if "path" in lowered and {"no finding", "support devices"} <= lowered:
        return "chexpert"
    if set(MIMIC_META) <= lowered and "no finding" in lowered:
        return "mimic"
    if find_column(columns, PATH_COLUMNS):
        return "table"
    raise UserError(f"{path}:1: unknown layout (not a `cxrlabel mine` labels.csv, NIH Data_Entry, CheXpert, "
                    "MIMIC-CXR or a table with a path column); see `cxrlabel build --help`")


def split_name(value: str, where: str) -> str:
    name = SPLIT_NAMES.get(value.strip().lower())
    if name is None:
        raise UserError(f"{where}: unknown split {value!r} (train / valid / validation / validate / test)")
    return name


def read_split_files(paths: tuple[Path, ...]) -> dict[str, str]:
    """Image name (file name and stem) → split, from split lists (NIH train_val_list.txt / test_list.txt: the
    file name says the split) or CSVs with an image column and a split column (NIH nih_images.csv, MIMIC
    *-split.csv)."""
    splits: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: split file not found")
        if path.suffix.lower() == ".txt":
            stem = path.stem.lower().removesuffix("_list").removesuffix("list").strip("_-")
            split = split_name(stem, f"{path}:1 (the file name must say the split, e.g. test_list.txt)")
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            rows = ((name, split) for name in names)
        else:
            columns = header_of(path)
            image, split_column = find_column(columns, SPLIT_KEY_COLUMNS), find_column(columns, SPLIT_COLUMNS)
            if not image or not split_column:
                raise UserError(f"{path}:1: a split CSV needs an image column ({', '.join(SPLIT_KEY_COLUMNS)}) and a "
                                f"split column ({', '.join(SPLIT_COLUMNS)})")
            rows = ((row[image], split_name(row[split_column], f"{path}:{line}")) for line, row in _rows(path)
                    if row[split_column])  # a blank split: that image gets none (split by patient)
        for name, split in rows:
            base = Path(name).name
            splits[base] = split
            splits.setdefault(Path(base).stem, split)
    return splits


def given_split(relative: str, splits: dict[str, str]) -> str:
    base = Path(relative).name
    return splits.get(base) or splits.get(Path(base).stem, "")


def _apply_uncertain(state: str, policy: str) -> str:
    return UNCERTAIN_TO[policy] if state == "uncertain" else state


def _state(value: str) -> str | None:
    value = value.strip().lower()
    if value in STATE_OF:
        return STATE_OF[value]
    try:
        number = float(value)
    except ValueError:
        return None
    return STATE_OF.get(str(int(number))) if number.is_integer() else None


def _observations(row: dict[str, str], columns: dict[str, str], names: list[str], uncertain: str
                  ) -> tuple[str, ...] | None:
    """A CheXpert / MIMIC row's states of the `names` observations (header spelling in `columns`, by lower-cased
    name), the uncertain policy applied; None when a value is not 1 / 0 / -1 / blank."""
    states = [_state(row.get(columns[n.lower()], "")) for n in names]
    return None if None in states else tuple(_apply_uncertain(s or "", uncertain) for s in states)


def _observation_rows(path: Path, names: list[str], key: str, uncertain: str, table: str,
                      problems: list[tuple[str, str]]) -> Iterator[tuple[dict[str, str], dict[str, str], str,
                                                                           tuple[str, ...]]]:
    """(row, header spelling by lower-cased name, the row's `key` column value, its observation states) for every
    row of a CheXpert / MIMIC label table; a row without a key or with a value other than 1 / 0 / -1 / blank goes
    to `problems`. A header without the key or an observation is a user error naming `table`."""
    columns = {c.lower(): c for c in header_of(path)}
    missing = [n for n in names if n.lower() not in columns] or ([] if key.lower() in columns else [key])
    if missing:
        raise UserError(f"{path}:1: not a {table} (missing {', '.join(missing)})")
    for line, row in _rows(path):
        value = row.get(columns[key.lower()], "")
        states = _observations(row, columns, names, uncertain)
        if not value or states is None:
            problems.append((value, f"{path.name} line {line}: no {key} or a value other than 1/0/-1/blank"))
            continue
        yield row, columns, value, states


def _label_set_names(name: str) -> list[str]:
    from cxrlabel.labelsets import load_label_set

    return load_label_set(name).names


def load_nih(path: Path, splits: dict[str, str], split_from: str) -> LoadedSource:
    """NIH Data_Entry_2017*.csv: Image Index, Finding Labels ('|'-joined; "No Finding" → `normal`), Patient ID,
    View Position. Labels are presence only: a listed finding is positive, every other one negative."""
    names = _label_set_names("chestxray14")
    canonical = {_key(n): n for n in names} | {k: v for k, v in NIH_ALIASES.items()}
    source = LoadedSource("nih", f"NIH ChestX-ray14 ({path.name})", "chestxray14", names, split_from=split_from)
    for line, row in _rows(path):
        image = row.get("Image Index", "")
        if not image:
            source.problems.append(("", f"{path.name} line {line}: no Image Index"))
            continue
        found = {canonical.get(_key(f)) for f in row.get("Finding Labels", "").split("|") if f.strip()}
        if None in found:
            source.problems.append((image, f"{path.name} line {line}: unknown finding in Finding Labels"))
            continue
        if image in source.labels:
            source.problems.append((image, f"{path.name} line {line}: duplicate Image Index (first kept)"))
            continue
        source.labels[image] = tuple("positive" if n in found else "negative" for n in names)
        source.refs.append(ImageRef(image, image, row.get("View Position", ""), row.get("Patient ID", ""),
                                    given_split(image, splits)))
    return source


def load_chexpert(path: Path, uncertain: str) -> LoadedSource:
    """CheXpert train.csv / valid.csv (valid.csv beside train.csv is read too): Path, Frontal/Lateral, AP/PA and
    the 14 observations as 1 / 0 / -1 / blank; the file name gives the split, the path the patient."""
    names = _label_set_names("chexpert")
    files = [path]
    sibling = path.with_name("valid.csv")
    if path.name.lower() == "train.csv" and sibling.is_file():
        files.append(sibling)
    source = LoadedSource("chexpert", f"CheXpert ({', '.join(f.name for f in files)}; uncertain labels: {uncertain})",
                          "chexpert", names)
    split_of = {"train": "train", "valid": "validation", "test": "test"}
    source.split_from = ", ".join(f.name for f in files if f.stem.lower() in split_of)
    for file in files:
        split = split_of.get(file.stem.lower(), "")
        for row, columns, image, states in _observation_rows(file, names, "Path", uncertain, "CheXpert table",
                                                             source.problems):
            frontal = row.get(columns.get("frontal/lateral", ""), "")
            view = row.get(columns.get("ap/pa", ""), "") if frontal.lower() == "frontal" else frontal
            patient = re.search(r"patient\d+", image)
            source.labels[image] = states
            source.refs.append(ImageRef(image, image, view, patient.group(0) if patient else "", split))
    return source


def _beside(path: Path, pattern: str) -> Path | None:
    found = sorted(path.parent.glob(pattern))
    return found[0] if found else None


def load_mimic(path: Path, metadata: Path | None, split_files: tuple[Path, ...], uncertain: str) -> LoadedSource:
    """MIMIC-CXR-JPG: study labels (*-chexpert.csv or *-negbio.csv), images from *-metadata.csv (dicom_id,
    subject_id, study_id, ViewPosition; --manifest or beside the labels), split from *-split.csv (--split-from or
    beside). Image path: files/p<first 2 digits>/p<subject>/s<study>/<dicom_id>.jpg."""
    names = _label_set_names("chexpert")
    metadata = metadata or _beside(path, "*-metadata.csv*")
    if metadata is None:
        raise UserError(f"{path}: MIMIC-CXR needs its *-metadata.csv (beside the labels, or --manifest)")
    split_csv = split_files or tuple(p for p in [_beside(path, "*-split.csv*")] if p)
    source = LoadedSource("mimic", f"MIMIC-CXR-JPG ({path.name}, {metadata.name}; uncertain labels: {uncertain})",
                          "chexpert", names, split_from=", ".join(p.name for p in split_csv))
    splits = read_split_files(split_csv)
    for _row, _columns, study, states in _observation_rows(path, names, "study_id", uncertain,
                                                           "MIMIC-CXR label table", source.problems):
        source.labels[study] = states
    meta_columns = {c.lower(): c for c in header_of(metadata)}
    if not {"dicom_id", "subject_id", "study_id"} <= set(meta_columns):
        raise UserError(f"{metadata}:1: expected MIMIC-CXR metadata columns dicom_id, subject_id, study_id")
    for _line, row in _rows(metadata):
        dicom, subject, study = (row[meta_columns[c]] for c in ("dicom_id", "subject_id", "study_id"))
        relative = f"files/p{subject[:2]}/p{subject}/s{study}/{dicom}.jpg"
        view = row.get(meta_columns.get("viewposition", ""), "")
        source.refs.append(ImageRef(study, relative, view, subject, given_split(dicom, splits)))
    return source


def load_table(path: Path, splits: dict[str, str], split_files: str, uncertain: str) -> LoadedSource:
    """A generic labels table: an image path column, optional patient / view / split / report id columns, and the
    labels as one column per label (1 / 0 / -1 / blank) or one '|'-joined labels column."""
    columns = header_of(path)
    image = find_column(columns, PATH_COLUMNS)
    if not image:
        raise UserError(f"{path}:1: no image path column ({', '.join(PATH_COLUMNS)})")
    patient, view = find_column(columns, PATIENT_COLUMNS), find_column(columns, VIEW_COLUMNS)
    split, joined = find_column(columns, SPLIT_COLUMNS), find_column(columns, LABEL_LIST_COLUMNS)
    report = find_column(columns, REPORT_COLUMNS)
    rows = list(_rows(path))
    if joined:
        names = sorted({part.strip() for _, row in rows for part in row[joined].split("|") if part.strip()})
    else:
        names = [c for c in columns if c not in (image, patient, view, split, report) and c]
    if not names:
        raise UserError(f"{path}:1: no label column (one column per label, or a '|'-joined labels column)")
    source = LoadedSource("table", f"labels table ({path.name})", "", names,
                          split_from=f"{path.name} column {split}" if split else split_files)
    for line, row in rows:
        relative = row.get(image, "")
        if joined:
            listed = {part.strip() for part in row[joined].split("|") if part.strip()}
            states = ["positive" if n in listed else "negative" for n in names]
        else:
            states = [_state(row.get(n, "")) for n in names]
        key = row.get(report, "") if report else relative
        if not relative or not key or None in states:
            source.problems.append((key, f"{path.name} line {line}: no image path or a label value other than "
                                         "1/0/-1/blank"))
            continue
        try:
            given = split_name(row[split], f"{path}:{line}") if split and row[split] else given_split(relative, splits)
        except UserError as exc:
            source.problems.append((key, str(exc).replace(str(path), path.name)))
            continue
        if key in source.labels and not report:
            source.problems.append((key, f"{path.name} line {line}: duplicate image path (first kept)"))
            continue
        source.labels.setdefault(key, tuple(_apply_uncertain(s or "", uncertain) for s in states))
        source.refs.append(ImageRef(key, relative, row.get(view, "") if view else "",
                                    row.get(patient, "") if patient else "", given))
    return source


def load_source(kind: str, path: Path, split_files: tuple[Path, ...], uncertain: str,
                metadata: Path | None = None) -> LoadedSource:
    """Read a non-mined layout (kind as detected or as given with --source)."""
    if kind == "mimic":
        return load_mimic(path, metadata, split_files, uncertain)
    if kind == "chexpert":
        if split_files:
            raise UserError("--split-from: CheXpert's split is its file (train.csv / valid.csv)")
        return load_chexpert(path, uncertain)
    if kind == "nih" and not split_files:  # NIH's official lists, when they sit beside Data_Entry
        split_files = tuple(p for p in (path.with_name("train_val_list.txt"), path.with_name("test_list.txt"))
                            if p.is_file())
    splits = read_split_files(split_files)
    named = ", ".join(p.name for p in split_files)
    if kind == "nih":
        return load_nih(path, splits, named)
    return load_table(path, splits, named, uncertain)
