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


def strongest(states: Iterable[State]) -> State | None:
    """positive if any positive, else uncertain if any, else negative if any, else None (not mentioned)."""
    found = set(states)
    return next((state for state in STATE_ORDER if state in found), None)


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
        states: dict[str, list[State]] = {}
        normal_ruled_out = False
        for mention in mentions:
            for label in self.labels_of.get(mention.finding, ()):
                states.setdefault(label, []).append(mention.state)
            normal_ruled_out = normal_ruled_out or self.rules_out_normal(mention)
        labels: dict[str, State] = {}
        for spec in self.label_set.labels:
            if spec.derived == NORMAL:
                labels[spec.name] = State.NEGATIVE if normal_ruled_out else State.POSITIVE
            elif (state := strongest(states.get(spec.name, ()))) is not None:
                labels[spec.name] = state
        return labels
