"""Sentence splitting with NLTK Punkt, using parameters this project trained (rules/en/punkt_params.json).

Numbered list items ("1. ... 2. ...") and line breaks are split first; Punkt splits the rest.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from functools import cache

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

from cxrlabel.resources import rules_path

# A list marker: 1-2 digits then "." or ")" at the start or after a sentence end, before text.
LIST_MARKER = re.compile(r"(?:^|(?<=[.:;]\s)|(?<=\n))\s*\(?\d{1,2}[.)](?=\s+\S)")
MARKER_ONLY = re.compile(r"\s*\(?\d{1,2}[.)]\s*")
DOUBLE_PERIOD = re.compile(r"(?<=\w)\.\.(?=\s|$)")
BLOCK_BREAK = re.compile(r"\n\s*\n|\n(?=\s*[-*•]\s)")
# Report sentences are far shorter; a longer run-on "sentence" (a pasted table, text without punctuation)
# is cut at clause marks or spaces so that no parse sees more than this many characters.
MAX_SENTENCE_CHARS = 1000
CLAUSE_MARK = re.compile(r"[,;:]\s|\s")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # offset in the section text


@cache
def punkt_tokenizer() -> PunktSentenceTokenizer:
    data = json.loads(rules_path("en", "punkt_params.json").read_text())
    params = PunktParameters()
    params.abbrev_types = set(data["abbrev_types"])
    params.collocations = {tuple(c) for c in data["collocations"]}
    params.sent_starters = set(data["sent_starters"])
    params.ortho_context.update(data["ortho_context"])
    return PunktSentenceTokenizer(params)


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans between list markers and blank lines."""
    cuts = {0, len(text)}
    for match in LIST_MARKER.finditer(text):
        cuts.add(match.start())
        cuts.add(match.end())
    for match in BLOCK_BREAK.finditer(text):
        cuts.add(match.start())
        cuts.add(match.end())
    ordered = sorted(cuts)
    spans = []
    for start, end in itertools.pairwise(ordered):
        if MARKER_ONLY.fullmatch(text[start:end]) or not text[start:end].strip():
            continue
        spans.append((start, end))
    return spans


def split_sentences(text: str) -> list[Sentence]:
    """Split section text into sentences with their character offsets."""
    tokenizer = punkt_tokenizer()
    text = DOUBLE_PERIOD.sub(". ", text)  # "normal.." confuses Punkt; same length keeps offsets
    sentences = []
    for block_start, block_end in _blocks(text):
        block = text[block_start:block_end]
        for start, end in tokenizer.span_tokenize(block):
            piece = block[start:end]
            stripped = piece.strip()
            if stripped.strip(".") == "":
                continue
            offset = block_start + start + piece.index(stripped)
            sentences.extend(_cap_length(Sentence(stripped, offset)))
    return sentences


def _cap_length(sentence: Sentence) -> list[Sentence]:
    """Cut a sentence over MAX_SENTENCE_CHARS at its last clause mark (else space) before the limit."""
    pieces = []
    text, start = sentence.text, sentence.start
    while len(text) > MAX_SENTENCE_CHARS:
        window = text[:MAX_SENTENCE_CHARS]
        cuts = [m.end() for m in CLAUSE_MARK.finditer(window) if m.group().strip()] or [
            m.end() for m in CLAUSE_MARK.finditer(window)
        ]
        cut = cuts[-1] if cuts else MAX_SENTENCE_CHARS
        head = text[:cut].rstrip()
        if head:
            pieces.append(Sentence(head, start))
        rest = text[cut:]
        start += cut + len(rest) - len(rest.lstrip())
        text = rest.lstrip()
    if text:
        pieces.append(Sentence(text, start))
    return pieces
