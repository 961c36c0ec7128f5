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

from cxrlabel.errors import UserError
from cxrlabel.types import ReadError, Report

ID_COLUMNS = ("id", "uid", "report_id", "study_id", "accession", "filename")
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
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


# Chinese text decoded from GB18030 has runs of CJK characters; a Latin-1 "é" before a letter also
# decodes as GB18030, but to one CJK character alone between Latin letters.
CJK_RUN = re.compile(r"[\u3400-\u9fff]{2}")


def _decoding_evidence(lines: list[bytes], encoding: str) -> tuple[int, int]:
    """(lines that do not decode, lines with non-ASCII text that do) under an encoding."""
    bad = multibyte = 0
    for line in lines:
        try:
            text = line.decode(encoding)
        except UnicodeDecodeError:
            bad += 1
            continue
        if not line.isascii() and (encoding != "gb18030" or CJK_RUN.search(text)):
            multibyte += 1
    return bad, multibyte


def detect_encoding(sample: bytes, truncated: bool = False) -> str:
    """Pick the encoding of a byte sample: UTF-8 (with or without BOM), else GB18030 (text with CJK runs), else a guess.

    A table with non-ASCII lines in UTF-8 (or GB18030) and a few corrupt lines keeps that encoding (the
    corrupt records then go to errors.csv) instead of being decoded as a single-byte code page.
    """
    lines = sample.splitlines()
    if truncated and lines:
        lines.pop()  # the last line may end inside a multibyte character
    tolerated = max(1, len(lines) // 100)
    for encoding in ("utf-8-sig", "gb18030"):
        bad, multibyte = _decoding_evidence(lines, encoding)
        if (bad == 0 and (multibyte or encoding == "utf-8-sig")) or (bad <= tolerated and multibyte):
            return encoding
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    return best.encoding if best else "utf-8"


def decode_bytes(raw: bytes) -> str:
    """Decode a whole small file, raising UnicodeDecodeError when no encoding fits cleanly."""
    encoding = detect_encoding(raw)
    return raw.decode(encoding)


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


def _iter_txt_dir(folder: Path, max_chars: int) -> Iterator[Report | ReadError]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise UserError(f"{folder}: the folder holds no files")
    for path in files:
        rel = str(path.relative_to(folder))
        if path.suffix.lower() != ".txt":
            yield ReadError(path.stem, f"not a report file (only .txt is read from a folder): {rel}", rel)
            continue
        try:
            text = decode_bytes(path.read_bytes())
        except UnicodeDecodeError:
            yield ReadError(path.stem, "undecodable bytes (not UTF-8 or GB18030)", rel)
            continue
        except OSError as exc:
            yield ReadError(path.stem, f"cannot read file: {exc.strerror}", rel)
            continue
        yield _check_text(Report(id=path.stem, text=text, source=rel), max_chars)


def _open_text(path: Path):
    with open(path, "rb") as handle:
        sample = handle.read(SNIFF_BYTES)
        encoding = detect_encoding(sample, truncated=len(sample) == SNIFF_BYTES)
    # Bytes that do not decode become U+FFFD and that record goes to errors.csv.
    return open(path, encoding=encoding, errors="replace", newline="")


def _pick_columns(
    columns: Sequence[str], id_column: str | None, text_columns: Sequence[str] | None, where: str
) -> tuple[str, list[str]]:
    lowered = {c.strip().lower(): c for c in columns}
    if id_column:
        if id_column not in columns:
            raise UserError(f"{where}: no id column {id_column!r} (columns: {', '.join(columns)})")
        chosen_id = id_column
    else:
        found = [lowered[c] for c in ID_COLUMNS if c in lowered]
        if not found:
            raise UserError(
                f"{where}: cannot tell which column is the report id; name it with --id-column "
                f"(columns: {', '.join(columns)})"
            )
        chosen_id = found[0]
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
    report_id = str(row.get(id_column) or "").strip()
    if not report_id:
        return ReadError(f"{source}", "record has no id", source)
    sections: dict[str, str] = {}
    for column in text_columns:
        value = row.get(column)
        value = "" if value is None else str(value).strip()
        name = SECTION_COLUMNS.get(column.strip().lower())
        if name and value:
            sections[name] = (sections[name] + "\n" + value) if name in sections else value
        elif value:
            sections.setdefault("text", value)
    text = "\n".join(sections.values())
    if set(sections) == {"text"}:
        sections = {}
    return _check_text(Report(id=report_id, text=text, sections=sections, source=source), max_chars)


def _iter_csv(
    path: Path, id_column: str | None, text_columns: Sequence[str] | None, max_chars: int
) -> Iterator[Report | ReadError]:
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    with _open_text(path) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        if not reader.fieldnames:
            raise UserError(f"{path}: the file is empty (no header row)")
        chosen_id, chosen_text = _pick_columns(reader.fieldnames, id_column, text_columns, str(path))
        for line_number, row in enumerate(reader, start=2):
            yield _record_to_report(row, chosen_id, chosen_text, f"{path.name}:{line_number}", max_chars)


def _iter_jsonl(
    path: Path, id_column: str | None, text_columns: Sequence[str] | None, max_chars: int
) -> Iterator[Report | ReadError]:
    chosen: tuple[str, list[str]] | None = None
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            source = f"{path.name}:{line_number}"
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
        return _iter_txt_dir(path, max_chars)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".tab"):
        return _iter_csv(path, id_column, text_columns, max_chars)
    if suffix in (".jsonl", ".ndjson"):
        return _iter_jsonl(path, id_column, text_columns, max_chars)
    if suffix == ".txt":
        return _iter_txt_dir_single(path, max_chars)
    raise UserError(f"{path}: unsupported input; give a folder of .txt files, a .csv/.tsv or a .jsonl file")


def _iter_txt_dir_single(path: Path, max_chars: int) -> Iterator[Report | ReadError]:
    try:
        text = decode_bytes(path.read_bytes())
    except UnicodeDecodeError:
        yield ReadError(path.stem, "undecodable bytes (not UTF-8 or GB18030)", path.name)
        return
    yield _check_text(Report(id=path.stem, text=text, source=path.name), max_chars)
