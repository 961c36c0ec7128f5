"""Label sets: which labels a run emits, read from rules/labelsets/*.yml or a user file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.resources import load_yaml, rules_path

NORMAL = "normal"


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
    path: Path = field(compare=False, default=Path())

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]


def available_label_sets() -> list[str]:
    return sorted(p.stem for p in rules_path("labelsets").glob("*.yml"))


def load_label_set(name_or_path: str) -> LabelSet:
    """Load a shipped label set by name (e.g. `chestxray14`) or any YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
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
                findings=tuple(item.get("findings", ())),
                description=str(item.get("description", "")),
                derived=str(item.get("derived", "")),
            )
            for item in data["labels"]
        )
        return LabelSet(name=str(data["name"]), lang=str(data["lang"]), labels=labels,
                        method=str(data.get("method", "")), path=path)
    except (KeyError, TypeError) as exc:
        raise UserError(f"{path}: label set needs name, lang and labels[].name ({exc})") from exc
