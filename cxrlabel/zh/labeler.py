"""Chinese labeler: dong10 (diagnosis clauses → exemplars) or regions5 (findings → region templates)."""

from __future__ import annotations

import re
from pathlib import Path

from cxrlabel.aggregation import Aggregator, finding_labels
from cxrlabel.errors import UserError
from cxrlabel.labelsets import LabelSet
from cxrlabel.resources import load_yaml
from cxrlabel.types import LabelError, Mention, Report, ReportResult, State
from cxrlabel.zh.cues import clause_state, negation_split
from cxrlabel.zh.dong import Assignment, assign_all, load_exemplars
from cxrlabel.zh.regions import decide_regions
from cxrlabel.zh.text import find_sections, split_clauses, split_items, split_sentences

CJK = re.compile("[\u4e00-\u9fff]")


def mapping_path(label_set: LabelSet) -> Path | None:
    """The cluster → label mapping a `method: clusters` label set names under `mapping:` (relative to the
    label-set file), else None: the shipped rules/zh/clusters.yml."""
    if not label_set.path.is_file():
        return None
    name = (load_yaml(label_set.path) or {}).get("mapping")
    if not name:
        return None
    path = label_set.path.parent / name
    if not path.is_file():
        raise UserError(f"label set {label_set.name!r}: mapping file {path} not found")
    return path


def chinese_aggregator(label_set: LabelSet, mapping: Path | None) -> Aggregator:
    """A Chinese mention names its label itself (a cluster label or a region); any label but a derived one is
    an abnormal finding, whether or not the label set has it (a clusters mapping may name more labels)."""
    counted = [spec.name for spec in label_set.labels if not spec.derived]
    named = {label for label in load_exemplars(mapping).labels if label} if label_set.method == "clusters" else set()
    derived = {spec.name for spec in label_set.labels if spec.derived}
    return Aggregator(label_set, finding_labels(label_set), frozenset((named | set(counted)) - derived))


class ChineseLabeler:
    """Labels Chinese reports with a `method: clusters` (dong10-like) or `method: regions` label set."""

    def __init__(self, label_set: LabelSet):
        if label_set.method not in ("clusters", "regions"):
            raise UserError(f"label set {label_set.name!r} needs `method: clusters` or `method: regions` for --lang zh")
        self.label_set = label_set
        self.mapping = mapping_path(label_set) if label_set.method == "clusters" else None
        if self.mapping is not None:
            unknown = {label for label in load_exemplars(self.mapping).labels if label} - set(label_set.names)
            if unknown:
                raise UserError(f"mapping {self.mapping} uses labels that label set {label_set.name!r} lacks: "
                                f"{', '.join(sorted(unknown))}")
        self.aggregator = chinese_aggregator(label_set, self.mapping)

    def section_text(self, sections: dict[str, str]) -> str:
        """The text this label set reads: the findings (regions), else the diagnosis or, without one, the findings."""
        if self.label_set.method == "regions":
            return sections.get("findings", "")
        return sections.get("diagnosis") or sections.get("findings", "")

    def label_batch(self, reports: list[Report]) -> list[ReportResult | LabelError]:
        results: list[ReportResult | LabelError] = []
        for report in reports:
            text = self.section_text(find_sections(report))
            if self.label_set.method == "regions" and not text:
                results.append(LabelError(report.id, "no findings (影像所见) section", report.source))
                continue
            if not CJK.search(text):
                # labelling it would call it normal: more likely a wrong encoding or --lang
                results.append(LabelError(report.id, "no Chinese text (wrong encoding or not a Chinese report?)",
                                         report.source))
                continue
            results.append(self._regions(report.id, text) if self.label_set.method == "regions"
                           else self._clusters(report.id, text))
        return results

    def _clusters(self, report_id: str, diagnosis: str) -> ReportResult:
        mentions: list[Mention] = []
        for sentence in split_sentences(diagnosis):
            for index, clause in enumerate(self.statements(split_clauses(sentence))):
                state, cue = clause_state(clause)
                for item, assignment in self.assignments(clause, index > 0):
                    rule = f"{assignment.rule}:{assignment.exemplar}" + (f"|cue:{cue}" if cue else "")
                    start = clause.find(item)
                    start, end = (start, start + len(item)) if start >= 0 else (0, len(clause))
                    mentions.append(Mention(report_id, assignment.label, "diagnosis", clause, start, end,
                                            clause[start:end], state, rule))
        return ReportResult(report_id, self.aggregator.labels(mentions), mentions)

    def assignments(self, clause: str, later: bool) -> list[tuple[str, Assignment]]:
        """(item, assignment) pairs of a clause: every item ("慢性支气管炎、肺气肿" → two) by its exemplars; an
        item after the first, or in a clause after the first, may continue the one before it."""
        return [(item, assignment) for position, item in enumerate(split_items(clause))
                for assignment in assign_all(item, later or position > 0, self.mapping)]

    def statements(self, clauses: list[str]) -> list[str]:
        """Clauses, a clause cut before a mid-clause negation when the part before it names a label
        ("两肺纹理增多未见胸腔积液", not "心影未见增大")."""
        statements = []
        for clause in clauses:
            split = negation_split(clause)
            if split and assign_all(split[0], False, self.mapping, whole=True):
                statements += split
            else:
                statements.append(clause)
        return statements

    def _regions(self, report_id: str, findings: str) -> ReportResult:
        mentions = []
        names = set(self.label_set.names)
        for decision in decide_regions(findings):
            if decision.region not in names:
                continue
            state = decision.state if decision.abnormal else State.NEGATIVE
            mentions.append(Mention(report_id, decision.region, "findings", decision.clause, 0, len(decision.clause),
                                    decision.clause, state, decision.rule_id))
        return ReportResult(report_id, self.aggregator.labels(mentions), mentions)
