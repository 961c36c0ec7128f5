"""dong10 labelling (Dong et al. 2017): diagnosis clauses → nearest curated exemplar by edit distance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from rapidfuzz import fuzz, process

from cxrlabel.resources import load_yaml, rules_path
from cxrlabel.zh.cues import strip_cues
from cxrlabel.zh.text import canonical


@dataclass(frozen=True)
class Exemplars:
    texts: tuple[str, ...]
    labels: tuple[str | None, ...]  # None: an exemplar of text to ignore
    strip_words: tuple[str, ...]
    max_distance: float
    compounds: dict[str, str]  # whole-clause diagnoses that are one label, not an enumeration
    signs: dict[str, tuple[str, ...]]  # label → the labels it is a sign of


@dataclass(frozen=True)
class Assignment:
    label: str
    exemplar: str
    distance: float


def clean(text: str, strip_words: tuple[str, ...]) -> str:
    """Canonical spelling without the words that do not change the label (sides, extents …)."""
    text = canonical(text)
    for word in strip_words:
        text = text.replace(word, "")
    return text


@cache
def load_exemplars() -> Exemplars:
    data = load_yaml(rules_path("zh", "clusters.yml"))
    strip_words = tuple(sorted(data.get("strip_words", []), key=len, reverse=True))
    pairs = [(clean(t, strip_words), label) for label, texts in data["labels"].items() for t in texts]
    pairs += [(clean(t, strip_words), None) for t in data.get("ignore", [])]
    pairs = [(t, label) for t, label in pairs if t]
    compounds = {_joined(clean(t, strip_words)): label
                 for label, texts in (data.get("compounds") or {}).items() for t in texts}
    signs = {label: tuple(targets) for label, targets in (data.get("signs") or {}).items()}
    return Exemplars(tuple(t for t, _ in pairs), tuple(label for _, label in pairs), strip_words,
                     float(data["max_distance"]), compounds, signs)


def compound_label(clause: str) -> str | None:
    """The label of a clause that is one compound diagnosis ("慢性支气管炎、肺气肿"), else None."""
    exemplars = load_exemplars()
    return exemplars.compounds.get(_joined(clean(strip_cues(clause), exemplars.strip_words)))


JOINERS = re.compile("合并|伴有|[、/并伴及和]")


def _joined(text: str) -> str:
    return JOINERS.sub("", text)


def edit_distance(a: str, b: str) -> float:
    """1 - partial_ratio / 100: normalised Indel distance between the shorter string and its best-aligned
    substring of the longer one, so location words around a term do not count against it."""
    return 1.0 - fuzz.partial_ratio(a, b) / 100.0


MIN_REST = 3  # shortest leftover text matched again after a first exemplar was found in a clause


def _best(text: str, exemplars: Exemplars) -> tuple[int, float, int, int] | None:
    """(exemplar index, distance, start, end of the matched span in `text`) of the nearest exemplar."""
    cutoff = (1.0 - exemplars.max_distance) * 100.0
    candidates = process.extract(text, exemplars.texts, scorer=fuzz.partial_ratio, score_cutoff=cutoff, limit=8)
    if not candidates:
        return None
    # among equally near exemplars the one closest in length is the most specific ("心包积液" before "积液")
    _, score, index = max(candidates, key=lambda c: (c[1], -abs(len(c[0]) - len(text))))
    exemplar = exemplars.texts[index]
    if len(exemplar) >= len(text):
        return index, 1.0 - score / 100.0, 0, len(text)
    span = fuzz.partial_ratio_alignment(exemplar, text)
    return index, 1.0 - score / 100.0, span.dest_start, span.dest_end


@lru_cache(maxsize=200_000)
def assign_all(item: str) -> tuple[Assignment, ...]:
    """Every label named in an item: the nearest exemplar within the distance threshold, its span removed,
    then the leftover pieces again ("心影增大伴主动脉硬化" → two labels). Exemplars of text to ignore
    consume their span without a label. Nothing near: no label ("other")."""
    exemplars = load_exemplars()
    pending = [clean(strip_cues(item), exemplars.strip_words)]
    found: list[Assignment] = []
    first = True
    while pending:
        text = pending.pop()
        if len(text) < (2 if first else MIN_REST):
            continue
        match = _best(text, exemplars)
        first = False
        if match is None:
            continue
        index, distance, start, end = match
        label = exemplars.labels[index]
        if label is not None and all(a.label != label for a in found):
            found.append(Assignment(label, exemplars.texts[index], round(distance, 3)))
        pending += [text[:start], text[end:]]
    return tuple(found)


def assign(item: str) -> Assignment | None:
    """The first label found in an item, else None ("other")."""
    found = assign_all(item)
    return found[0] if found else None
