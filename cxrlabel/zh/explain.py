"""`cxrlabel explain --lang zh`: every stage of the Chinese labeler for one text, and the rule that decided
each label (dong10-like label sets: clauses, cues, exemplars; regions5-like: routed clauses and templates)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from cxrlabel.aggregation import STATE_ORDER, Aggregator
from cxrlabel.labelsets import NORMAL, LabelSet
from cxrlabel.types import Mention, Report, ReportResult, State
from cxrlabel.zh.cues import clause_state
from cxrlabel.zh.labeler import ChineseLabeler
from cxrlabel.zh.regions import decide_regions
from cxrlabel.zh.text import find_sections, normalise, split_clauses, split_sentences, text_rules


def explain_text(text: str, label_set: LabelSet, console: Console | None = None) -> ReportResult:
    """Print sections, sentences, clauses with their cue, the exemplar or template each statement matched,
    then each label's state and deciding rule; returns the labeler's result for the text."""
    console = console or Console()
    labeler = ChineseLabeler(label_set)
    regions = label_set.method == "regions"
    report = Report(id="explain", text=text)
    if text_rules().headers.search(normalise(text)) is None:
        # text without 影像所见: / 诊断: headers is the section this label set reads, whatever its length
        report = Report(id="explain", text="", sections={"findings" if regions else "diagnosis": text})
    sections = find_sections(report)
    for name, section_text in sections.items():
        console.print(f"[bold]section[/] {name}\n{section_text}")
    for sentence in split_sentences(labeler.section_text(sections)):
        console.print(f"\n[bold cyan]sentence[/] {sentence}")
        if regions:
            _region_table(sentence, console)
        else:
            _exemplar_table(sentence, labeler, console)
    result = labeler.label_batch([report])[0]
    if isinstance(result, ReportResult):
        _summary(result, labeler.aggregator, console)
    else:
        console.print(f"\n[bold red]not labelled[/]: {result.reason}")
    return result


def _table(*columns: str) -> Table:
    """A table that folds long cells instead of cutting them (labels and rule ids stay readable)."""
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _exemplar_table(sentence: str, labeler: ChineseLabeler, console: Console) -> None:
    table = _table("clause ▸ item", "cue → state", "label", "exemplar (distance) / rule")
    for index, clause in enumerate(labeler.statements(split_clauses(sentence))):
        state, cue = clause_state(clause)
        found = labeler.assignments(clause, index > 0)
        if not found:
            table.add_row(clause, f"{cue or '—'} → {state.value}", "— (no label)", "")
        for item, assignment in found:
            table.add_row(clause if item == clause else f"{clause} ▸ {item}", f"{cue or '—'} → {state.value}",
                          assignment.label, f"{assignment.exemplar} ({assignment.distance:.2f}) / {assignment.rule}")
    console.print(table)


def _region_table(sentence: str, console: Console) -> None:
    console.print("  clauses: " + " | ".join(split_clauses(sentence)))
    table = _table("region", "statement", "cue → state", "abnormal", "rule (template / term / cue)")
    for decision in decide_regions(sentence):
        cue = clause_state(decision.clause)[1]
        table.add_row(decision.region, decision.clause, f"{cue or '—'} → {decision.state.value}",
                      "yes" if decision.abnormal else "no", decision.rule_id)
    console.print(table)


def deciding_mention(result: ReportResult, label: str) -> Mention | None:
    """The mention that set a label's state: the first one in the label's final state."""
    state = result.labels.get(label)
    return next((m for m in result.mentions if m.finding == label and m.state == state), None)


def _summary(result: ReportResult, aggregator: Aggregator, console: Console) -> None:
    table = _table("label", "state", "deciding statement", "rule")
    for spec in aggregator.label_set.labels:
        state = result.labels.get(spec.name)
        if state is None:
            table.add_row(spec.name, "not mentioned", "", "")
            continue
        if spec.derived == NORMAL:
            ruling_out = {f"{m.finding} {m.state.value}" for m in result.mentions if aggregator.rules_out_normal(m)}
            why = (f"no other label {' or '.join(aggregator.label_set.normal_ruled_out_by)}" if state == State.POSITIVE
                   else ", ".join(sorted(ruling_out)))
            table.add_row(spec.name, state.value, why, "derived:normal")
            continue
        mention = deciding_mention(result, spec.name)
        table.add_row(spec.name, state.value, mention.sentence if mention else "",
                      mention.rule_id if mention else "")
    console.print("\n[bold]labels[/] (state order: " + " > ".join(s.value for s in STATE_ORDER) + ")")
    console.print(table)
