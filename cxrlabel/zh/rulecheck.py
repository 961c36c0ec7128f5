"""Consistency checks across the Chinese rule files (rules/zh/*.yml against the dong10 / regions5 label sets).

Each file's own keys, types and regexes are checked by its model in cxrlabel/schema.py when it is loaded.
"""

from __future__ import annotations

from pathlib import Path

from cxrlabel import schema
from cxrlabel.labelsets import load_label_set
from cxrlabel.resources import rules_path
from cxrlabel.schema import ChineseCues, ChineseNormalisation, ChineseRegions, ClusterMapping
from cxrlabel.zh.dong import clean


def check_mapping(path: Path, label_set: str = "dong10") -> list[str]:
    """Problems of a cluster → label mapping: labels the label set lacks, exemplars that clean to nothing
    or to the same text under two labels (or under a label and `ignore`)."""
    mapping = schema.load(ClusterMapping, path)
    names = set(load_label_set(label_set).names)
    problems = [f"{path.name}: label {name!r} is not in label set {label_set}"
                for name in mapping.labels if name not in names]
    strip_words = tuple(sorted(mapping.strip_words, key=len, reverse=True))
    owner: dict[str, str] = {}
    entries = [(label, text) for label, texts in mapping.labels.items() for text in texts]
    entries += [("ignore", text) for text in mapping.ignore]
    for label, text in entries:
        cleaned = clean(text, strip_words)
        if not cleaned:
            problems.append(f"{path.name}: exemplar {text!r} ({label}) is empty once side/extent words are removed")
        elif owner.setdefault(cleaned, label) != label:
            problems.append(f"{path.name}: exemplar {text!r} is both {owner[cleaned]} and {label}")
    return problems


def check_rules(root: Path | None = None) -> list[str]:
    """Problems found across the Chinese rule files under `root` (default: the rules in use); empty when
    consistent. A file that does not fit its schema is a RuleFileError (`rules lint` reports those first)."""
    zh = Path(root) / "zh" if root else rules_path("zh")
    problems = check_mapping(zh / "clusters.yml")
    regions = schema.load(ChineseRegions, zh / "regions.yml").regions
    expected = load_label_set("regions5").names
    if sorted(regions) != sorted(expected):
        problems.append(f"regions.yml: regions {sorted(regions)} differ from label set regions5 {sorted(expected)}")
    normalize = schema.load(ChineseNormalisation, zh / "normalize.yml")
    for table, keys in (("typos", normalize.typos), ("synonyms", normalize.synonyms)):
        problems += [f"normalize.yml: {table} {wrong!r} → {right!r} holds another variant ({key!r}), so the "
                     f"result depends on replacement order" for wrong, right in keys.items() for key in keys
                     if key in right and key != wrong]
    cues = schema.load(ChineseCues, zh / "negation.yml")
    problems += [f"negation.yml: {cue!r} is both a negation and an uncertainty cue"
                 for cue in set(cues.negation) & set(cues.uncertainty)]
    problems += [f"negation.yml: pre_negation cue {cue!r} is not a negation cue"
                 for cue in cues.pre_negation if cue not in cues.negation]
    return problems
