"""Label sets: which labels a run emits, read from rules/labelsets/*.yml or a user file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cxrlabel import schema
from cxrlabel.errors import UserError
from cxrlabel.resources import read_yaml, rules_dir, rules_path
from cxrlabel.schema import NORMAL_RULED_OUT_BY, LabelSetFile

NORMAL = "normal"


@dataclass(frozen=True)
class LabelSpec:
    """One output label; `findings` are the vocabulary entries that count towards it."""

    name: str
    findings: tuple[str, ...] = ()
    description: str = ""
    derived: str = ""  # "normal": positive when no other label is in a state of `normal_ruled_out_by`


@dataclass(frozen=True)
class LabelSet:
    name: str
    lang: str
    labels: tuple[LabelSpec, ...]
    method: str = ""  # how a language labels it, e.g. "clusters" or "regions" for Chinese
    normal_ruled_out_by: tuple[str, ...] = NORMAL_RULED_OUT_BY["en"]  # states of another label that rule out normal
    path: Path = field(compare=False, default=Path())

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]


def available_label_sets() -> list[str]:
    """The shipped label sets (a cluster mapping kept beside the label set that names it is none)."""
    return sorted(p.stem for p in rules_path("labelsets").glob("*.yml")
                  if schema.kind_of(p, rules_dir()) is LabelSetFile)


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
    spec = schema.load(LabelSetFile, path)
    labels = tuple(LabelSpec(label.name, tuple(label.findings), label.description, label.derived)
                   for label in spec.labels)
    label_set = LabelSet(spec.name, spec.lang, labels, spec.method, spec.ruled_out_by, path)
    if not shipped:
        check_label_set(label_set)
    return label_set


def _producible_labels(label_set: LabelSet) -> tuple[set[str], str, str]:
    """The names the labeler can fill for this label set (en: findings), what they are and where they are defined."""
    if label_set.lang == "en":
        from cxrlabel.en.vocabulary import load_vocabulary

        return {finding.name for finding in load_vocabulary()}, "finding", "rules/en/findings/*.yml"
    if label_set.method == "regions":
        from cxrlabel.zh.regions import load_regions

        return {region.name for region in load_regions()[0]}, "region", "rules/zh/regions.yml"
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
    document = read_yaml(label_set.path)
    for index, label in enumerate(label_set.labels):
        if label.derived:
            continue
        if label_set.lang == "en" and not label.findings:
            raise UserError(f"{label_set.path}:{document.line(('labels', index))}: label {label.name!r} names "
                            f"no findings (add findings: [...] or derived: normal)")
        if label_set.lang == "en":
            wanted = [(("labels", index, "findings", number), name) for number, name in enumerate(label.findings)]
        else:
            wanted = [(("labels", index, "name"), label.name)]
        for location, name in wanted:
            if name not in known:
                raise UserError(f"{label_set.path}:{document.line(location)}: label {label.name!r} names "
                                f"unknown {kind} {name!r} (the {kind}s of {where}: {', '.join(sorted(known))})")
