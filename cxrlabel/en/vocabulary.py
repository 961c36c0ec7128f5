"""Finding vocabularies (rules/en/findings/*.yml) compiled into regular expressions.

A phrase is a sequence of words; words may be separated by spaces or hyphens, and the last word
also matches its regular plural (s / es / y→ies / is→es / um→a). Irregular forms are listed as
phrases of their own. `regex` entries are used as they are; `exclude` phrases veto any mention
that lies inside them (e.g. "pericardial effusion" for pleural effusion).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cxrlabel import schema
from cxrlabel.resources import rules_path
from cxrlabel.schema import FindingFile


@dataclass(frozen=True)
class Finding:
    name: str
    pattern: re.Pattern
    exclude: re.Pattern | None
    abnormal: bool  # counts against "normal"
    cuis: tuple[str, ...]
    path: Path


@dataclass(frozen=True)
class VocabularyMatch:
    finding: str
    start: int
    end: int
    text: str


def _inflect(word: str) -> str:
    escaped = re.escape(word)
    if word.endswith("is"):
        return f"{re.escape(word[:-2])}(?:is|es)"
    if word.endswith("um"):
        return f"{re.escape(word[:-2])}(?:um|a)"
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return f"{re.escape(word[:-1])}(?:y|ies)"
    if word.endswith(("s", "x", "ch", "sh")):
        return f"{escaped}(?:es)?"
    return f"{escaped}s?"


def phrase_regex(phrase: str) -> str:
    """Regex source for a vocabulary phrase (inflected last word, flexible separators)."""
    words = phrase.lower().split()
    parts = [re.escape(w) for w in words[:-1]] + [_inflect(words[-1])]
    return r"\b" + r"[\s\-]+".join(parts) + r"\b"


def compile_phrases(phrases: list[str], regexes: list[str]) -> re.Pattern | None:
    sources = [phrase_regex(p) for p in sorted(phrases, key=len, reverse=True)] + list(regexes)
    return re.compile("|".join(f"(?:{s})" for s in sources), re.IGNORECASE) if sources else None


def load_finding(path: Path) -> Finding:
    """One finding file; a RuleFileError names file:line of the first problem."""
    spec = schema.load(FindingFile, path)
    return Finding(
        name=spec.name,
        pattern=compile_phrases(spec.phrases, spec.regex),  # the schema wants phrases or regex: never None
        exclude=compile_phrases(spec.exclude, spec.exclude_regex),
        abnormal=spec.abnormal,
        cuis=tuple(spec.cuis),
        path=path,
    )


@cache
def load_vocabulary(folder: Path | None = None) -> tuple[Finding, ...]:
    folder = folder or rules_path("en", "findings")
    return tuple(load_finding(p) for p in sorted(folder.glob("*.yml")))


def find_mentions(text: str, vocabulary: tuple[Finding, ...]) -> list[VocabularyMatch]:
    """All vocabulary matches in a sentence, minus those inside an exclusion phrase."""
    matches = []
    for finding in vocabulary:
        vetoes = [m.span() for m in finding.exclude.finditer(text)] if finding.exclude else []
        for match in finding.pattern.finditer(text):
            start, end = match.span()
            if any(v_start <= start and end <= v_end for v_start, v_end in vetoes):
                continue
            matches.append(VocabularyMatch(finding.name, start, end, match.group(0)))
    return matches
