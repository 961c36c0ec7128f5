"""Lay a report out for the page: its mention sentences placed in its text, each mention with its labels and
hover text (the deciding rule; for Chinese the exemplar / template and cue the rule id carries)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cxrlabel.review.model import MarkedMention, Segment, SentenceView
from cxrlabel.types import Mention


def hover_text(mention: Mention) -> str:
    """The mark's title: the rule id first, then what the rule id names (zh: exemplar, template, cue), the
    finding and the state. "zh.exemplar:积液|cue:可能" → "… — exemplar 积液, cue 可能 — pleural_effusion: uncertain"."""
    parts = [part.split(":", 1) for part in mention.rule_id.split("|") if ":" in part]
    named = ", ".join(f"{key.removeprefix('zh.')} {value}" for key, value in parts)
    middle = f" — {named}" if named else ""
    return f"{mention.rule_id}{middle} — {mention.finding}: {mention.state.value}"


def sentence_views(mentions: list[Mention], labels_of: Mapping[str, Sequence[str]]) -> list[SentenceView]:
    """Group mentions by sentence, in run order (a sentence repeated in a report gives a second group);
    `labels_of`: finding → the labels it counts towards (`aggregation.finding_labels`)."""
    views: list[SentenceView] = []
    for mention in mentions:
        labels = tuple(labels_of.get(mention.finding, ()))
        title = hover_text(mention) + ("" if labels else " (a finding no label of the set counts)")
        marked = MarkedMention(mention, labels, title)
        last = views[-1] if views else None
        if (last is None or last.text != mention.sentence or last.section != mention.section
                or any(_same_span(m.mention, mention) for m in last.mentions)):
            views.append(SentenceView(mention.sentence, mention.section))
        views[-1].mentions.append(marked)
    return views


def _same_span(first: Mention, second: Mention) -> bool:
    return (first.start, first.end, first.finding) == (second.start, second.end, second.finding)


def place_sentences(text: str, views: list[SentenceView]) -> tuple[list[Segment], list[SentenceView]]:
    """Split `text` into plain and sentence segments, finding each sentence verbatim after the previous one;
    the sentences not found (text the labeler normalised) are returned apart."""
    segments: list[Segment] = []
    unplaced: list[SentenceView] = []
    cursor = 0
    for view in views:
        position = text.find(view.text, cursor)
        if position < 0 or not view.text:
            unplaced.append(view)
            continue
        if position > cursor:
            segments.append(Segment(text[cursor:position]))
        segments.append(Segment(view.text, view))
        cursor = position + len(view.text)
    if cursor < len(text):
        segments.append(Segment(text[cursor:]))
    return segments, unplaced


def place_in_sections(sections: list[tuple[str, str]], views: list[SentenceView]
                      ) -> tuple[list[Segment], list[SentenceView]]:
    """Place each sentence in the report section it was read from (a CSV column such as findings / 诊断), or,
    when the labeler found its section inside the text, in the first section holding it; sections on new lines."""
    names = {name for name, _ in sections}
    placed: dict[str, list[SentenceView]] = {name: [] for name in names}
    unplaced: list[SentenceView] = []
    for view in views:
        home = view.section if view.section in names else next(
            (name for name, text in sections if view.text and view.text in text), None)
        (placed[home] if home else unplaced).append(view)
    segments: list[Segment] = []
    for index, (name, text) in enumerate(sections):
        if index:
            segments.append(Segment("\n"))
        section_segments, missed = place_sentences(text, placed[name])
        segments += section_segments
        unplaced += missed
    return segments, unplaced


def sentences_only(views: list[SentenceView]) -> list[Segment]:
    """Without the report text: the mention sentences, one per line."""
    segments: list[Segment] = []
    for index, view in enumerate(views):
        if index:
            segments.append(Segment("\n"))
        segments.append(Segment(view.text, view))
    return segments


def sentence_pieces(view: SentenceView) -> tuple[list[tuple[str, MarkedMention | None]], list[MarkedMention]]:
    """The sentence cut into plain text and marked mentions, and the mentions overlapping an earlier one (shown
    after the sentence so that none is lost)."""
    pieces: list[tuple[str, MarkedMention | None]] = []
    overlapping: list[MarkedMention] = []
    cursor = 0
    for marked in sorted(view.mentions, key=lambda m: (m.mention.start, -m.mention.end)):
        start, end = marked.mention.start, marked.mention.end
        if start < cursor or end > len(view.text) or start >= end:
            overlapping.append(marked)
            continue
        if start > cursor:
            pieces.append((view.text[cursor:start], None))
        pieces.append((view.text[start:end], marked))
        cursor = end
    if cursor < len(view.text):
        pieces.append((view.text[cursor:], None))
    return pieces, overlapping
