"""Report text for the dataset (only with --text): findings / impression per report, de-identified, held in an
SQLite table whose file is unlinked as soon as it is opened (flat memory, nothing left on disk after any exit)."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from cxrlabel.imageset.deid import Deidentifier, has_cjk
from cxrlabel.imageset.problems import Problem
from cxrlabel.readers import iter_reports
from cxrlabel.types import ReadError, Report

TEXT_FIELDS = ("findings", "impression")


def parse_text_fields(text: str) -> tuple[str, ...]:
    """`--text findings,impression` → the fields, in dataset order; ValueError for an unknown one."""
    fields = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = fields - set(TEXT_FIELDS)
    if unknown:
        raise ValueError(f"--text takes {' and / or '.join(TEXT_FIELDS)} (comma-separated), not {sorted(unknown)[0]}")
    return tuple(field for field in TEXT_FIELDS if field in fields)


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
