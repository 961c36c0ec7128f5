"""Consistency checks of the Chinese rule files (rules/zh/*.yml against the dong10 / regions5 label sets)."""

from __future__ import annotations

import re
from pathlib import Path

from cxrlabel.labelsets import load_label_set
from cxrlabel.resources import load_yaml, rules_path
from cxrlabel.zh.dong import clean


def check_mapping(path: Path, label_set: str = "dong10") -> list[str]:
    """Problems of a cluster → label mapping: labels the label set lacks, exemplars that clean to nothing
    or to the same text under two labels (or under a label and `ignore`)."""
    data = load_yaml(path)
    names = set(load_label_set(label_set).names)
    problems = [f"{path.name}: label {name!r} is not in label set {label_set}"
                for name in data["labels"] if name not in names]
    strip_words = tuple(sorted(data.get("strip_words", []), key=len, reverse=True))
    owner: dict[str, str] = {}
    entries = [(label, text) for label, texts in data["labels"].items() for text in texts]
    entries += [("ignore", text) for text in data.get("ignore", [])]
    for label, text in entries:
        cleaned = clean(text, strip_words)
        if not cleaned:
            problems.append(f"{path.name}: exemplar {text!r} ({label}) is empty once side/extent words are removed")
        elif owner.setdefault(cleaned, label) != label:
            problems.append(f"{path.name}: exemplar {text!r} is both {owner[cleaned]} and {label}")
    return problems


def check_rules(root: Path | None = None) -> list[str]:
    """Problems found in the Chinese rule files under `root` (default: the rules in use); empty when consistent."""
    zh = Path(root) / "zh" if root else rules_path("zh")
    problems = check_mapping(zh / "clusters.yml")
    regions = load_yaml(zh / "regions.yml")["regions"]
    expected = load_label_set("regions5").names
    if sorted(regions) != sorted(expected):
        problems.append(f"regions.yml: regions {sorted(regions)} differ from label set regions5 {sorted(expected)}")
    for name, spec in regions.items():
        problems += [f"regions.yml: region {name} has no {key}" for key in ("cues", "normal", "abnormal_terms")
                     if not spec.get(key)]
    normalize = load_yaml(zh / "normalize.yml")
    for table in ("typos", "synonyms"):
        keys = normalize[table]
        problems += [f"normalize.yml: {table} {wrong!r} → {right!r} holds another variant ({key!r}), so the "
                     f"result depends on replacement order" for wrong, right in keys.items() for key in keys
                     if key in right and key != wrong]
    for pattern, _ in normalize.get("typo_patterns") or []:
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"normalize.yml: typo pattern {pattern!r} is not a regular expression ({exc})")
    problems += [f"normalize.yml: traditional {pair!r} is not a traditional/simplified character pair"
                 for pair in normalize["traditional"].split() if len(pair) != 2 or pair[0] == pair[1]]
    cues = load_yaml(zh / "negation.yml")
    problems += [f"negation.yml: {cue!r} is both a negation and an uncertainty cue"
                 for cue in set(cues["negation"]) & set(cues["uncertainty"])]
    problems += [f"negation.yml: pre_negation cue {cue!r} is not a negation cue"
                 for cue in cues["pre_negation"] if cue not in cues["negation"]]
    return problems
