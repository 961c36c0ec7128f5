"""The one registry of pluggable parts: English parser backends and per-language labelers.

Entries are "module:attribute" strings imported on first use, so the CLI starts fast and a
backend's heavy dependencies load only when that backend is chosen. Add a backend by adding a line.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Protocol

from cxrlabel.errors import UserError
from cxrlabel.labelsets import LabelSet
from cxrlabel.types import ReadError, Report, ReportResult

PARSERS: dict[str, str] = {
    "spacy": "cxrlabel.en.parse_spacy:SpacyParser",
    "stanza": "cxrlabel.en.parse_stanza:StanzaParser",
}

LABELERS: dict[str, str] = {
    "en": "cxrlabel.en.labeler:EnglishLabeler",
    "zh": "cxrlabel.zh.labeler:ChineseLabeler",
}

DEFAULT_LABEL_SETS = {"en": "chestxray14", "zh": "dong10"}


class Labeler(Protocol):
    """Turns batches of reports into results; one per worker process."""

    label_set: LabelSet

    def label_batch(self, reports: list[Report]) -> list[ReportResult | ReadError]: ...


def _resolve(table: dict[str, str], name: str, kind: str) -> Any:
    if name not in table:
        raise UserError(f"unknown {kind} {name!r}: choose one of {', '.join(sorted(table))}")
    module_name, attribute = table[name].split(":")
    return getattr(import_module(module_name), attribute)


def parser_class(name: str) -> Any:
    return _resolve(PARSERS, name, "parser")


def create_labeler(lang: str, label_set: LabelSet, **options: Any) -> Labeler:
    """Build the labeler for `lang` with the given label set and options (e.g. parser="spacy")."""
    if label_set.lang != lang:
        raise UserError(f"label set {label_set.name!r} is for --lang {label_set.lang}, not {lang}")
    return _resolve(LABELERS, lang, "language")(label_set, **options)
