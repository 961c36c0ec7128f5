"""Assemble the page: which reports are shown (all disagreements first, then a seeded sample of the others),
their text, labels, gold values and errors, and the per-label counts."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from cxrlabel.aggregation import finding_labels
from cxrlabel.errors import UserError
from cxrlabel.readers import iter_reports
from cxrlabel.review.collect import Run
from cxrlabel.review.layout import place_in_sections, sentence_views, sentences_only
from cxrlabel.review.model import LabelCell, ReportView, ReviewPage
from cxrlabel.review.scoring import GoldComparison
from cxrlabel.types import Mention, Report, State

COUNTED = (State.POSITIVE.value, State.NEGATIVE.value, State.UNCERTAIN.value, "not_mentioned")


def read_texts(path: Path, wanted: set[str]) -> dict[str, list[tuple[str, str]]]:
    """The sections (name, text) of each wanted report of a reports file, found by its id column as `cxrlabel mine`
    reads it (a report without named sections is one "text" section)."""
    texts = {item.id: list(item.sections.items()) or [("text", item.text)]
             for item in iter_reports(path) if isinstance(item, Report) and item.id in wanted}
    if not texts:
        raise UserError(f"no report id of {path} matches a shown report of the run (ids such as "
                        f"{', '.join(sorted(wanted)[:3])})")
    return texts


def choose_reports(run: Run, disagreeing: set[str], sample: int | None, seed: int) -> tuple[list[str], str]:
    """The ids to show, in order (disagreements first, each group in run order), and the sentence saying so.
    `sample` None shows every report."""
    ids = list(run.labels)
    first = [i for i in ids if i in disagreeing]
    others = [i for i in ids if i not in disagreeing]
    if sample is None or len(others) <= sample:
        chosen, drawn, how = others, f"all {len(others):,}", ""
    else:
        picked = set(random.Random(seed).sample(range(len(others)), sample))
        chosen = [i for k, i in enumerate(others) if k in picked]
        drawn = f"{sample:,} of {len(others):,}"
        how = f", drawn at random (seed {seed}; --sample N / --seed S change it, --all shows every report)"
    if disagreeing:
        text = (f"Showing all {len(first):,} reports that disagree with the gold first, then {drawn} other reports"
                f"{how}: {len(first) + len(chosen):,} of the run's {len(ids):,}.")
    else:
        text = f"Showing {drawn} reports of the run{how}."
    return first + chosen, text


def label_counts(run: Run) -> dict[str, dict[str, int]]:
    counts = {name: dict.fromkeys(COUNTED, 0) for name in run.label_names}
    for states in run.labels.values():
        for name, state in zip(run.label_names, states, strict=True):
            counts[name][state.value if state else "not_mentioned"] += 1
    return counts


def report_view(run: Run, report_id: str, mentions: list[Mention], text: list[tuple[str, str]] | None,
                comparison: GoldComparison | None, labels_of: Mapping[str, Sequence[str]]) -> ReportView:
    views = sentence_views(mentions, labels_of)
    if text is None:
        segments, unplaced = sentences_only(views), []
    else:
        segments, unplaced = place_in_sections(text, views)
    gold = comparison.gold.get(report_id, {}) if comparison else {}
    errors = comparison.errors.get(report_id, {}) if comparison else {}
    cells = [LabelCell(name, state, gold.get(name), errors.get(name, ""))
             for name, state in run.states(report_id).items()]
    return ReportView(report_id, segments, cells, text is not None, unplaced)


def build_page(run: Run, comparison: GoldComparison | None, reports_path: Path | None, sample: int | None,
               seed: int) -> ReviewPage:
    """The page content, without graphs (`graphs.attach_graphs` adds them for English runs)."""
    ids, sampling = choose_reports(run, set(comparison.errors) if comparison else set(), sample, seed)
    texts = read_texts(reports_path, set(ids)) if reports_path else {}
    notes = []
    if run.summary.get("reports_failed"):
        notes.append(f"{run.summary['reports_failed']:,} input records could not be labelled (the run's errors.csv)"
                     " and are not shown.")
    if not reports_path:
        notes.append("Report text: the sentences that carry mentions (mentions.jsonl); give --reports for the full "
                     "text.")
    elif len(texts) < len(ids):
        notes.append(f"{len(ids) - len(texts):,} shown reports are not in {reports_path}: they show their mention "
                     "sentences only.")
    labels_of = finding_labels(run.label_set)
    mentions = run.mentions(set(ids))
    views = [report_view(run, i, mentions.get(i, []), texts.get(i), comparison, labels_of) for i in ids]
    return ReviewPage(
        title=f"cxrlabel review: {run.folder.name}", run=run.summary, label_names=run.label_names,
        counts=label_counts(run), reports=views, sampling=sampling,
        gold=comparison.summary if comparison else None, notes=notes,
    )
