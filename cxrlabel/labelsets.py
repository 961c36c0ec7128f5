"""Label sets: which labels a run emits, read from rules/labelsets/*.yml or a user file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.resources import load_yaml, rules_path

NORMAL = "normal"
NORMAL_RULED_OUT_BY_DEFAULT = {"en": ("positive", "uncertain"), "zh": ("positive",)}
RULING_OUT_STATES = ("positive", "uncertain")


@dataclass(frozen=True)
class LabelSpec:
    """One output label; `findings` are the vocabulary entries that count towards it."""

    name: str
    findings: tuple[str, ...] = ()
    description: str = ""
    derived: str = ""  # "normal": positive when nothing abnormal is positive or uncertain


@dataclass(frozen=True)
class LabelSet:
    name: str
    lang: str
    labels: tuple[LabelSpec, ...]
    method: str = ""  # how a language labels it, e.g. "clusters" or "regions" for Chinese
    normal_ruled_out_by: tuple[str, ...] = ("positive", "uncertain")  # states of another label that rule out normal
    path: Path = field(compare=False, default=Path())

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]


def available_label_sets() -> list[str]:
    return sorted(p.stem for p in rules_path("labelsets").glob("*.yml"))


def load_label_set(name_or_path: str) -> LabelSet:
    """Load a shipped label set by name (e.g. `chestxray14`) or any YAML file by path."""
    path = Path(name_or_path)
    shipped = not path.suffix  # the shipped files are checked by `cxrlabel rules lint`
    if shipped:
        path = rules_path("labelsets", f"{name_or_path}.yml")
    if not path.is_file():
        raise UserError(
            f"unknown label set {name_or_path!r}: choose one of {', '.join(available_label_sets())} "
            "or give a path to a .yml file"
        )
    data = load_yaml(path)
    try:
        labels = tuple(
            LabelSpec(
                name=str(item["name"]),
                findings=tuple(str(finding) for finding in item.get("findings") or ()),
                description=str(item.get("description", "")),
                derived=str(item.get("derived", "")),
            )
            for item in data["labels"]
        )
        lang = str(data["lang"])
        ruled_out_by = tuple(str(state) for state in data.get("normal_ruled_out_by")
                             or NORMAL_RULED_OUT_BY_DEFAULT.get(lang, RULING_OUT_STATES))
        label_set = LabelSet(name=str(data["name"]), lang=lang, labels=labels,
                             method=str(data.get("method", "")), normal_ruled_out_by=ruled_out_by, path=path)
    except (KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}:1: label set needs name, lang and labels[].name ({exc})") from None
    unknown_states = set(label_set.normal_ruled_out_by) - set(RULING_OUT_STATES)
    if unknown_states:
        raise UserError(f"{path}:1: normal_ruled_out_by takes {' / '.join(RULING_OUT_STATES)}, "
                        f"not {', '.join(sorted(unknown_states))}")
    if not shipped:
        check_label_set(label_set)
    return label_set


def _line_of(path: Path, name: str) -> int:
    """The first line naming `name` as a whole word (1 when none does)."""
    word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if word.search(line):
            return number
    return 1


def _producible_labels(label_set: LabelSet) -> tuple[set[str], str, str]:
    """The names the labeler can fill for this label set (en: findings), what they are and where they are defined."""
    if label_set.lang == "en":
        from cxrlabel.en.vocabulary import load_vocabulary

        return {finding.name for finding in load_vocabulary()}, "finding", "rules/en/findings/*.yml"
    if label_set.method == "regions":
        return set(load_yaml(rules_path("zh", "regions.yml"))["regions"]), "region", "rules/zh/regions.yml"
    if label_set.method == "clusters":
        from cxrlabel.zh.dong import default_mapping, load_exemplars
        from cxrlabel.zh.labeler import mapping_path

        mapping = mapping_path(label_set)
        known = {label for label in load_exemplars(mapping).labels if label}
        return known, "label", f"the exemplar mapping {mapping or default_mapping()}"
    return set(), "", ""


def check_label_set(label_set: LabelSet) -> None:
    """Refuse a label that could only ever be an empty column: an English label naming an unknown finding,
    a Chinese regions label that is no region, a Chinese clusters label that no exemplar of the mapping
    maps to. A UserError names file:line."""
    known, kind, where = _producible_labels(label_set)
    if not kind:
        return  # the labeler reports a method it does not know
    for label in label_set.labels:
        if label.derived:
            continue
        wanted = label.findings if label_set.lang == "en" else (label.name,)
        if label_set.lang == "en" and not wanted:
            raise UserError(f"{label_set.path}:{_line_of(label_set.path, label.name)}: label {label.name!r} names "
                            f"no findings (add findings: [...] or derived: normal)")
        for name in wanted:
            if name not in known:
                raise UserError(f"{label_set.path}:{_line_of(label_set.path, name)}: label {label.name!r} names "
                                f"unknown {kind} {name!r} (the {kind}s of {where}: {', '.join(sorted(known))})")
