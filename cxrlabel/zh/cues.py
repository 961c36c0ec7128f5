"""Negation and uncertainty cues for Chinese clauses (rules/zh/negation.yml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cxrlabel import schema
from cxrlabel.resources import rules_path
from cxrlabel.schema import ChineseCues
from cxrlabel.types import State


@dataclass(frozen=True)
class Cues:
    negation: re.Pattern
    uncertainty: re.Pattern
    exceptions: re.Pattern | None
    pre_negation: re.Pattern


def _alternation(words: list[str]) -> re.Pattern:
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


@cache
def load_cues(path: Path | None = None) -> Cues:
    """The cues of rules/zh/negation.yml (or `path`); a RuleFileError names file:line."""
    spec = schema.load(ChineseCues, path or rules_path("zh", "negation.yml"))
    return Cues(_alternation(spec.negation), _alternation(spec.uncertainty),
                _alternation(spec.negation_exceptions) if spec.negation_exceptions else None,
                _alternation(spec.pre_negation))


def clause_state(clause: str) -> tuple[State, str]:
    """State of a clause and the cue that decided it ("" when none: positive)."""
    cues = load_cues()
    if match := cues.uncertainty.search(clause):
        return State.UNCERTAIN, match.group(0)
    masked = cues.exceptions.sub(lambda m: "#" * len(m.group(0)), clause) if cues.exceptions else clause
    if match := cues.negation.search(masked):
        return State.NEGATIVE, match.group(0)
    return State.POSITIVE, ""


def strip_cues(clause: str) -> str:
    """The clause without its cue words, for matching against label exemplars."""
    cues = load_cues()
    return cues.negation.sub("", cues.uncertainty.sub("", clause))


# what may follow a negation cue that closes its clause (postposed negation: "积液未见明确显示")
POSTPOSED_TAIL = re.compile(r"明确|确切|明显|显示|出现|[\s.。,，;；!)）]")


def negation_split(clause: str) -> tuple[str, str] | None:
    """(before, from the cue on) when a pre-negation cue (未见, 无 …) starts after the clause's beginning;
    the caller keeps the split only when the part before names a finding."""
    cues = load_cues()
    masked = cues.exceptions.sub(lambda m: "#" * len(m.group(0)), clause) if cues.exceptions else clause
    match = cues.pre_negation.search(masked, 1)
    if match is None or match.start() < 2:
        return None
    if not POSTPOSED_TAIL.sub("", clause[match.end():]):
        return None  # the cue ends the clause: it negates what comes before it ("肺气肿征象未见", "胸腔积液未见显示")
    return clause[:match.start()], clause[match.start():]
