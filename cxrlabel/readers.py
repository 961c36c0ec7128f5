"""Readers: stream Reports (or ReadErrors) from a folder of .txt files, a CSV/TSV, or JSONL.

Nothing loads the whole corpus: every reader yields one record at a time.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from cxrlabel.encoding import Detected, detect_encoding
from cxrlabel.errors import UserError
from cxrlabel.textclean import clean_text
from cxrlabel.types import ReadError, Report

# The report id column of a table is the first of these it has, case and surrounding spaces ignored (most specific
# first). One list for report tables (`mine`), gold files (`validate`) and image manifests (`build`, which skips
# `filename`: there it names the image).
REPORT_ID_COLUMNS = ("report_id", "id", "uid", "accession", "accession_number", "study_id", "study", "filename")
# Columns recognised as report sections, in reading order; values are canonical section names.
SECTION_COLUMNS = {
    "findings": "findings",
    "impression": "impression",
    "diagnosis": "diagnosis",
    "影像所见": "findings",
    "检查所见": "findings",
    "表现": "findings",
    "诊断": "diagnosis",
    "印象": "diagnosis",
    "意见": "diagnosis",
    "诊断意见": "diagnosis",
}
TEXT_COLUMNS = ("text", "report", "report_text")
DEFAULT_MAX_CHARS = 100_000
SNIFF_BYTES = 1 << 20
MAX_ID_CHARS = 64
MAX_ID_SHAPES = 1000
ID_SHAPE_LETTERS = re.compile(r"[^\W\d_]")
ID_SHAPE_DIGITS = re.compile(r"\d")
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def decode_bytes(raw: bytes) -> str:
    """Decode a whole small file; UnicodeDecodeError when no encoding fits cleanly, ValueError (with the
    reason) when the text is in an encoding whose records must not be labelled (mojibake, foreign script)."""
    detected = detect_encoding(raw)
    if detected.problem:
        raise ValueError(detected.problem)
    return raw.decode(detected.encoding)


def _check_text(report: Report, max_chars: int) -> Report | ReadError:
    if not report.text.strip():
        return ReadError(report.id, "empty report", report.source)
    if "\ufffd" in report.text:
        return ReadError(report.id, "undecodable bytes in the report text", report.source)
    if len(report.text) > max_chars:
        return ReadError(
            report.id,
            f"report has {len(report.text)} characters, over the limit of {max_chars} (--max-chars)",
            report.source,
        )
    return report


def _read_txt(path: Path, report_id: str, source: str, max_chars: int) -> Report | ReadError:
    try:
        text = decode_bytes(path.read_bytes())
    except UnicodeDecodeError:
        return ReadError(report_id, "undecodable bytes (not UTF-8, GB18030 or Big5)", source)
    except ValueError as exc:
        return ReadError(report_id, str(exc), source)
    except OSError as exc:
        return ReadError(report_id, f"cannot read file: {exc.strerror}", source)
    return _check_text(Report(id=report_id, text=clean_text(text), source=source), max_chars)


def _iter_txt_dir(folder: Path, max_chars: int) -> Iterator[Report | ReadError]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise UserError(f"{folder}: the folder holds no files")
    for path in files:
        rel = str(path.relative_to(folder))
        if path.suffix.lower() != ".txt":
            yield ReadError(path.stem, f"not a report file (only .txt is read from a folder): {rel}", rel)
            continue
        yield _read_txt(path, clean_text(path.stem).strip(), rel, max_chars)


def _open_text(path: Path) -> tuple[Detected, TextIO]:
    with open(path, "rb") as handle:
        sample = handle.read(SNIFF_BYTES)
        detected = detect_encoding(sample, truncated=len(sample) == SNIFF_BYTES)
    # Bytes that do not decode become U+FFFD and that record goes to errors.csv.
    return detected, open(path, encoding=detected.encoding, errors="replace", newline="")


def find_column(columns: Sequence[str], choices: Sequence[str]) -> str | None:
    """The first of `choices` among `columns` (case and surrounding spaces ignored), as the header spells it."""
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[choice] for choice in choices if choice in lowered), None)


def _pick_columns(
    columns: Sequence[str], id_column: str | None, text_columns: Sequence[str] | None, where: str
) -> tuple[str, list[str]]:
    lowered = {c.strip().lower(): c for c in columns}
    if id_column:
        if id_column not in columns:
            raise UserError(f"{where}: no id column {id_column!r} (columns: {', '.join(columns)})")
        chosen_id = id_column
    else:
        found = find_column(columns, REPORT_ID_COLUMNS)
        if found is None:
            raise UserError(
                f"{where}: cannot tell which column is the report id; name it with --id-column "
                f"(columns: {', '.join(columns)})"
            )
        chosen_id = found
    if text_columns:
        missing = [c for c in text_columns if c not in columns]
        if missing:
            raise UserError(
                f"{where}: no column {', '.join(map(repr, missing))} (columns: {', '.join(columns)})"
            )
        return chosen_id, list(text_columns)
    sections = [lowered[c] for c in lowered if c in SECTION_COLUMNS]
    if sections:
        return chosen_id, sections
    plain = [lowered[c] for c in TEXT_COLUMNS if c in lowered]
    if plain:
        return chosen_id, plain[:1]
    raise UserError(
        f"{where}: no report text column found; name it with --text-column "
        f"(columns: {', '.join(columns)})"
    )


def _record_to_report(
    row: dict, id_column: str, text_columns: list[str], source: str, max_chars: int
) -> Report | ReadError:
    report_id = clean_text(str(row.get(id_column) or "")).strip()
    if not report_id:
        return ReadError(f"{source}", "record has no id", source)
    sections: dict[str, str] = {}
    for column in text_columns:
        value = row.get(column)
        value = "" if value is None else clean_text(str(value)).strip()
        name = SECTION_COLUMNS.get(column.strip().lower())
        if name and value:
            sections[name] = (sections[name] + "\n" + value) if name in sections else value
        elif value:
            sections.setdefault("text", value)
    text = "\n".join(sections.values())
    if set(sections) == {"text"}:
        sections = {}
    return _check_text(Report(id=report_id, text=text, sections=sections, source=source), max_chars)


def id_shape(value: str) -> str:
    """Letters → a, digits → 9: "A17" and "B20" share the shape "a99"."""
    return ID_SHAPE_DIGITS.sub("9", ID_SHAPE_LETTERS.sub("a", value))


def _merged_record_problem(fields: list[str], header: list[str], id_index: int, shapes: set[str],
                           delimiter: str) -> str:
    """Why a parsed CSV record is probably several records merged by a stray quote ('' when it looks fine)."""
    if len(fields) > len(header) and any(extra.strip() for extra in fields[len(header):]):
        return f"{len(fields)} fields where the header has {len(header)}"  # (empty trailing fields are harmless)
    if len(fields) <= id_index:
        return f"{len(fields)} field(s) where the header has {len(header)}"
    record_id = fields[id_index]
    if "\n" in record_id or len(record_id) > MAX_ID_CHARS or len(record_id.split()) > 3:
        return f"the id looks like report text ({record_id[:40]!r}...)"
    known = shapes | {id_shape(record_id.strip())}
    for field in fields:
        for line in field.split("\n")[1:]:
            token = line.split(delimiter, 1)[0].strip().strip('"')
            if delimiter in line and token and id_shape(token) in known:
                return f"a field holds a line that starts like a record ({line[:40]!r})"
    return ""


def _iter_csv(
    path: Path, id_column: str | None, text_columns: Sequence[str] | None, max_chars: int
) -> Iterator[Report | ReadError]:
    """CSV/TSV records; a record that looks like several merged by a stray quote goes to errors.csv."""
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    detected, handle = _open_text(path)
    with handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise UserError(f"{path}: the file is empty (no header row)")
        chosen_id, chosen_text = _pick_columns(header, id_column, text_columns, str(path))
        id_index = header.index(chosen_id)
        shapes: set[str] = set()
        last_line = reader.line_num
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                source = f"{path.name}:{reader.line_num}"
                yield ReadError(source, f"line {reader.line_num}: unreadable CSV record ({exc})", source)
                last_line = reader.line_num
                continue
            first_line, last_line = last_line + 1, reader.line_num
            if not fields:
                continue
            source = f"{path.name}:{first_line}"
            if detected.problem:
                yield ReadError(fields[id_index].strip() if len(fields) > id_index else source, detected.problem,
                                source)
                continue
            problem = _merged_record_problem(fields, header, id_index, shapes, delimiter)
            if problem:
                lines = f"line {first_line}" if first_line == last_line else f"lines {first_line}-{last_line}"
                yield ReadError(source, f"{lines}: {problem}; a stray quote may have merged records here, "
                                "check and fix these lines", source)
                continue
            if len(shapes) < MAX_ID_SHAPES:
                shapes.add(id_shape(fields[id_index].strip()))
            row = dict(zip(header, fields, strict=False))
            yield _record_to_report(row, chosen_id, chosen_text, source, max_chars)


def _iter_jsonl(
    path: Path, id_column: str | None, text_columns: Sequence[str] | None, max_chars: int
) -> Iterator[Report | ReadError]:
    chosen: tuple[str, list[str]] | None = None
    detected, handle = _open_text(path)
    with handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            source = f"{path.name}:{line_number}"
            if detected.problem:
                yield ReadError(source, detected.problem, source)
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                yield ReadError(source, f"bad JSON line: {exc}", source)
                continue
            if chosen is None:
                chosen = _pick_columns(list(row), id_column, text_columns, str(path))
            yield _record_to_report(row, chosen[0], chosen[1], source, max_chars)


def _flag_duplicate_ids(items: Iterator[Report | ReadError]) -> Iterator[Report | ReadError]:
    """Pass records through; a report whose id was seen before becomes an error naming the first one."""
    first_seen: dict[str, str] = {}
    for item in items:
        if isinstance(item, Report):
            if item.id in first_seen:
                item = ReadError(item.id, f"duplicate id, first seen at {first_seen[item.id]}", item.source)
            else:
                first_seen[item.id] = item.source
        yield item


def iter_reports(
    path: str | Path,
    *,
    id_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Iterator[Report | ReadError]:
    """Yield Reports from a folder of .txt files, a .csv/.tsv table or a .jsonl file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.is_dir():
        return _flag_duplicate_ids(_iter_txt_dir(path, max_chars))
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".tab"):
        return _flag_duplicate_ids(_iter_csv(path, id_column, text_columns, max_chars))
    if suffix in (".jsonl", ".ndjson"):
        return _flag_duplicate_ids(_iter_jsonl(path, id_column, text_columns, max_chars))
    if suffix == ".txt":
        return iter([_read_txt(path, clean_text(path.stem).strip(), path.name, max_chars)])
    raise UserError(f"{path}: unsupported input; give a folder of .txt files, a .csv/.tsv or a .jsonl file")
