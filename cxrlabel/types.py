"""Typed records passed between pipeline stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class State(str, Enum):
    """Per-mention and per-label state, with its labels.csv code."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"

    @property
    def code(self) -> int:
        return {"positive": 1, "negative": 0, "uncertain": -1}[self.value]


STATE_OF_CODE: dict[str, State] = {str(state.code): state for state in State}  # a labels.csv cell → its state


@dataclass
class Report:
    """One report as read from the input.

    `sections` holds named parts when the source supplies them separately (CSV columns such as
    findings / impression); otherwise the section splitter finds them in `text`.
    """

    id: str
    text: str
    sections: dict[str, str] = field(default_factory=dict)
    source: str = ""


@dataclass
class RecordError:
    """An input record that yields no labels, and why: one row of errors.csv."""

    id: str
    reason: str
    source: str = ""


class ReadError(RecordError):
    """A record the reader could not turn into a Report (unreadable, empty, duplicate id ...)."""


class LabelError(RecordError):
    """A Report the labeler refused (wrong language, no section to read) or failed on."""


@dataclass
class Mention:
    """One finding mention with the state decided for it and the rule that decided.

    `finding` is what the mention names: a vocabulary finding in English (it counts towards every label
    of the label set that lists it), the label itself in Chinese (a dong10-like cluster label or a region).
    """

    report_id: str
    finding: str
    section: str
    sentence: str
    start: int
    end: int
    text: str
    state: State
    rule_id: str

    def to_json(self) -> dict:
        """The mentions.jsonl record: the fields in order, the state by its name."""
        return {**asdict(self), "state": self.state.value}


@dataclass
class ReportResult:
    """Labels of one report: label name -> State (absent = not mentioned), plus evidence."""

    report_id: str
    labels: dict[str, State]
    mentions: list[Mention] = field(default_factory=list)
