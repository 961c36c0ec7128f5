"""Typed records passed between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class State(str, Enum):
    """Per-mention and per-label state, with its labels.csv code."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"

    @property
    def code(self) -> int:
        return {"positive": 1, "negative": 0, "uncertain": -1}[self.value]


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
class ReadError:
    """An input record that could not be turned into a Report."""

    id: str
    reason: str
    source: str = ""


@dataclass
class Mention:
    """One finding mention with the state decided for it and the rule that decided."""

    report_id: str
    label: str
    section: str
    sentence: str
    start: int
    end: int
    text: str
    state: State
    rule_id: str

    def to_json(self) -> dict:
        return {"report_id": self.report_id, "label": self.label, "section": self.section, "sentence": self.sentence,
                "start": self.start, "end": self.end, "text": self.text, "state": self.state.value,
                "rule_id": self.rule_id}


@dataclass
class ReportResult:
    """Labels of one report: label name -> State (absent = not mentioned), plus evidence."""

    report_id: str
    labels: dict[str, State]
    mentions: list[Mention] = field(default_factory=list)
