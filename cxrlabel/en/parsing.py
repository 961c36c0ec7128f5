"""Parser-neutral parse records: what every backend returns before the canonical graph is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ParsedToken:
    i: int
    text: str
    lemma: str
    pos: str  # Universal POS tag
    dep: str  # the backend's own relation label
    head: int  # index of the head token; -1 for a root
    start: int  # character offsets in the sentence text
    end: int


@dataclass(frozen=True)
class ParsedSentence:
    text: str
    tokens: tuple[ParsedToken, ...]
    scheme: str  # "clear" (spaCy's ClearNLP labels) or "ud" (Universal Dependencies, stanza)


class Parser(Protocol):
    """A dependency parser backend: one parse per input sentence, in order."""

    name: str

    def parse(self, sentences: list[str]) -> list[ParsedSentence]: ...
