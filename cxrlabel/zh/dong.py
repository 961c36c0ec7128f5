"""dong10 labelling (Dong et al. 2017): diagnosis clauses → nearest curated exemplar by edit distance."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from rapidfuzz import fuzz, process

from cxrlabel.resources import load_yaml, rules_path
from cxrlabel.zh.cues import strip_cues


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


def _joined(text: str) -> str:
    return "".join(ch for ch in text if ch not in "、/")


def edit_distance(a: str, b: str) -> float:
    """1 - partial_ratio / 100: normalised Indel distance between the shorter string and its best-aligned
    substring of the longer one, so location words around a term do not count against it."""
    return 1.0 - fuzz.partial_ratio(a, b) / 100.0


def assign(item: str) -> Assignment | None:
    """The label of the nearest exemplar within the distance threshold, else None ("other")."""
    exemplars = load_exemplars()
    text = clean(strip_cues(item), exemplars.strip_words)
    if len(text) < 2:
        return None
    best = process.extractOne(text, exemplars.texts, scorer=fuzz.partial_ratio)
    if best is None:
        return None
    _, score, index = best
    distance = 1.0 - score / 100.0
    label = exemplars.labels[index]
    if label is None or distance > exemplars.max_distance:
        return None
    return Assignment(label, exemplars.texts[index], round(distance, 3))
