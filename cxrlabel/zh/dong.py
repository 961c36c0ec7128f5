"""dong10 labelling (Dong et al. 2017): diagnosis clauses → nearest curated exemplar by edit distance.

The mapping (label → exemplar clauses, ignore) is rules/zh/clusters.yml, or the file a
label set names under `mapping:` (e.g. one written by `cxrlabel cluster` and then edited).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from cxrlabel import schema
from cxrlabel.resources import rules_path
from cxrlabel.schema import ClusterMapping
from cxrlabel.zh.cues import strip_cues
from cxrlabel.zh.text import canonical


@dataclass(frozen=True)
class Exemplars:
    """The exemplar clauses of a mapping, cleaned, each with its label (None: text to ignore)."""

    texts: tuple[str, ...]
    labels: tuple[str | None, ...]
    strip_words: tuple[str, ...]  # longest first
    max_distance: float


@dataclass(frozen=True)
class Assignment:
    label: str
    exemplar: str
    distance: float
    rule: str = "zh.exemplar"


def clean(text: str, strip_words: tuple[str, ...]) -> str:
    """Canonical spelling without the words that do not change the label (sides, extents …)."""
    text = canonical(text)
    for word in strip_words:
        text = text.replace(word, "")
    return text


def default_mapping() -> Path:
    return rules_path("zh", "clusters.yml")


@cache
def load_exemplars(mapping: Path | None = None) -> Exemplars:
    """The exemplars of a mapping file (default: the shipped dong10 mapping); a RuleFileError names file:line."""
    spec = schema.load(ClusterMapping, mapping or default_mapping())
    strip_words = tuple(sorted(spec.strip_words, key=len, reverse=True))
    pairs = [(clean(t, strip_words), label) for label, texts in spec.labels.items() for t in texts]
    pairs += [(clean(t, strip_words), None) for t in spec.ignore]
    pairs = [(t, label) for t, label in pairs if t]
    return Exemplars(tuple(t for t, _ in pairs), tuple(label for _, label in pairs), strip_words, spec.max_distance)


def edit_distance(exemplar: str, text: str) -> tuple[float, int, int]:
    """(distance, start, end): the exemplar aligned to its best substring of the text (rapidfuzz
    `partial_ratio_alignment`, so location words around a term do not count), then the normalised
    Levenshtein distance between the two aligned pieces; a text shorter than the exemplar is aligned
    inside the exemplar instead ("积液" in "胸腔积液"). Levenshtein on the aligned pieces keeps a term
    cut at the text's edge from matching ("支气管扩张" is not "支气管炎")."""
    span = fuzz.partial_ratio_alignment(exemplar, text)
    if len(exemplar) > len(text):
        return Levenshtein.normalized_distance(text, exemplar[span.src_start:span.src_end]), 0, len(text)
    start, end = span.dest_start, span.dest_end
    return Levenshtein.normalized_distance(exemplar, text[start:end]), start, end


MIN_REST = 3  # shortest leftover text matched again after a first exemplar was found in a clause


def _best(text: str, exemplars: Exemplars, inside: bool) -> tuple[int, float, int, int] | None:
    """(exemplar index, distance, start, end of the matched span in `text`) of the nearest exemplar;
    `inside`: only exemplars no longer than the text."""
    cutoff = (1.0 - exemplars.max_distance) * 100.0
    best = None
    for _, _, index in process.extract(text, exemplars.texts, scorer=fuzz.partial_ratio, score_cutoff=cutoff,
                                       limit=16):
        exemplar = exemplars.texts[index]
        if inside and len(exemplar) > len(text):
            continue
        distance, start, end = edit_distance(exemplar, text)
        # among equally near exemplars the one closest in length is the most specific ("心包积液" before "积液")
        key = (distance, abs(len(exemplar) - len(text)))
        if distance <= exemplars.max_distance and (best is None or key < best[0]):
            best = (key, index, distance, start, end)
    return None if best is None else best[1:]


@lru_cache(maxsize=200_000)
def assign_all(item: str, continuation: bool = False, mapping: Path | None = None,
               whole: bool = False) -> tuple[Assignment, ...]:
    """Every label named in an item: the nearest exemplar within the distance threshold, its span removed,
    then the leftover pieces again ("心影增大伴主动脉硬化" → two labels). Exemplars of text to ignore
    consume their span without a label. Nothing near: no label ("other"). `whole`: only exemplars found
    whole in the item. A `continuation` item (not the first of its sentence) shorter than MIN_REST is
    matched whole only: it continues the item before it ("纹理增多、增粗", "主动脉迂曲，增宽") unless it
    is a whole term itself ("胸水")."""
    exemplars = load_exemplars(mapping)
    pending = [clean(strip_cues(item), exemplars.strip_words)]
    whole = whole or (continuation and len(pending[0]) < MIN_REST)
    found: list[Assignment] = []
    first = True
    while pending:
        text = pending.pop()
        if len(text) < (2 if first else MIN_REST):
            continue
        match = _best(text, exemplars, inside=whole or not first)
        first = False
        if match is None:
            continue
        index, distance, start, end = match
        label = exemplars.labels[index]
        if label is not None and all(a.label != label for a in found):
            found.append(Assignment(label, exemplars.texts[index], round(distance, 3)))
        pending += [text[:start], text[end:]]
    return tuple(found)


def assign(item: str, mapping: Path | None = None) -> Assignment | None:
    """The first label found in an item, else None ("other")."""
    found = assign_all(item, mapping=mapping)
    return found[0] if found else None
