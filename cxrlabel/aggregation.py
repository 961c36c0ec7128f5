"""Mention → label aggregation, one for every labeler.

A label takes the strongest state among the mentions of the findings it counts (positive > uncertain >
negative); a label none of them mentions is absent (not mentioned). A `derived: normal` label is negative
when some abnormal finding is mentioned in a state the label set's `normal_ruled_out_by` lists, else positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cxrlabel.labelsets import NORMAL, LabelSet
from cxrlabel.types import Mention, State

STATE_ORDER = (State.POSITIVE, State.UNCERTAIN, State.NEGATIVE)  # strongest first
RANK = {state: rank for rank, state in enumerate(STATE_ORDER)}


def stronger(state: State, current: State | None) -> State:
    """The stronger of two states (`current` None: not mentioned yet)."""
    return state if current is None or RANK[state] < RANK[current] else current


def strongest(states: Iterable[State]) -> State | None:
    """positive if any positive, else uncertain if any, else negative if any, else None (not mentioned)."""
    result = None
    for state in states:
        result = stronger(state, result)
    return result


def finding_labels(label_set: LabelSet) -> dict[str, tuple[str, ...]]:
    """Finding → the labels it counts towards: the labels that list it (English), or the label it names (a Chinese
    mention carries its label's name). Derived labels count no finding."""
    labels_of: dict[str, list[str]] = {}
    for spec in label_set.labels:
        if not spec.derived:
            for finding in spec.findings if label_set.lang == "en" else (spec.name,):
                labels_of.setdefault(finding, []).append(spec.name)
    return {finding: tuple(names) for finding, names in labels_of.items()}


@dataclass(frozen=True)
class Aggregator:
    """Turns the mentions of one report into its labels under a label set.

    `labels_of`: finding → the labels it counts towards (a finding no label counts is only evidence).
    `abnormal`: the findings that can rule out a derived normal label, whether or not a label counts them.
    """

    label_set: LabelSet
    labels_of: Mapping[str, Sequence[str]]
    abnormal: frozenset[str]

    def rules_out_normal(self, mention: Mention) -> bool:
        """Whether this mention makes a `derived: normal` label negative."""
        return mention.finding in self.abnormal and mention.state.value in self.label_set.normal_ruled_out_by

    def labels(self, mentions: Iterable[Mention]) -> dict[str, State]:
        """Label name → state, in label-set order; labels not mentioned are left out."""
        states: dict[str, State] = {}  # label → strongest state so far (one pass: this runs once per report)
        normal_ruled_out = False
        for mention in mentions:
            for label in self.labels_of.get(mention.finding, ()):
                states[label] = stronger(mention.state, states.get(label))
            normal_ruled_out = normal_ruled_out or self.rules_out_normal(mention)
        labels: dict[str, State] = {}
        for spec in self.label_set.labels:
            if spec.derived == NORMAL:
                labels[spec.name] = State.NEGATIVE if normal_ruled_out else State.POSITIVE
            elif spec.name in states:
                labels[spec.name] = states[spec.name]
        return labels
