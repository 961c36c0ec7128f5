"""The content of a review page, as typed records the template renders (nothing here knows HTML)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cxrlabel.types import Mention, State


def label_token(name: str) -> str:
    """A label name as one token of a space-separated data attribute ("Lung Opacity" → "Lung_Opacity")."""
    return name.replace(" ", "_")


@dataclass(frozen=True)
class MarkedMention:
    """One mention to highlight: offsets in its sentence, the labels it counts towards and its hover text."""

    mention: Mention
    labels: tuple[str, ...]
    title: str


@dataclass
class SentenceView:
    """A sentence (English) or clause (Chinese) that carries mentions; `graph_id` when its graph is embedded."""

    text: str
    section: str
    mentions: list[MarkedMention] = field(default_factory=list)
    graph_id: str | None = None


@dataclass(frozen=True)
class Segment:
    """A piece of a report's text: plain text, or a sentence with its mentions."""

    text: str
    sentence: SentenceView | None = None


@dataclass(frozen=True)
class LabelCell:
    """One label of a report: its state in labels.csv (None: not mentioned), its gold value and error if any."""

    name: str
    state: State | None
    gold: int | None = None
    error: str = ""  # "FP", "FN" or ""


@dataclass
class ReportView:
    """One report on the page. `segments` is the report text (from --reports) or, without it, its mention
    sentences; `unplaced` holds mention sentences not found verbatim in the text (the labeler normalises text)."""

    id: str
    segments: list[Segment]
    labels: list[LabelCell]
    has_text: bool
    unplaced: list[SentenceView] = field(default_factory=list)

    @property
    def errors(self) -> list[LabelCell]:
        return [cell for cell in self.labels if cell.error]

    def data_labels(self) -> str:
        return " ".join(label_token(c.name) for c in self.labels if c.state is not None or c.error)

    def data_states(self) -> str:
        return " ".join(f"{label_token(c.name)}:{c.state.value}" for c in self.labels if c.state is not None)

    def data_errors(self) -> str:
        return " ".join(f"{c.error}:{label_token(c.name)}" for c in self.labels if c.error)


@dataclass(frozen=True)
class ScoreRow:
    """One row of the P/R/F1 table (a label, or micro / macro), as `cxrlabel validate` computes it."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int
    tp: int
    fp: int
    fn: int
    is_label: bool = True


@dataclass
class GoldSummary:
    """What the page says about the gold: its file, the scores and the reports the comparison could not use."""

    path: str
    uncertain_as: str
    n_reports: int
    rows: list[ScoreRow]
    gold_not_in_run: int
    run_not_in_gold: int


@dataclass
class ReviewPage:
    """Everything the page shows."""

    title: str
    run: dict  # summary.json
    label_names: list[str]
    counts: dict[str, dict[str, int]]  # label → state (or "not_mentioned") → reports
    reports: list[ReportView]
    sampling: str
    graphs: dict[str, dict] = field(default_factory=dict)  # graph id → {"words": [...], "edges": [[h, d, label]]}
    gold: GoldSummary | None = None
    notes: list[str] = field(default_factory=list)
