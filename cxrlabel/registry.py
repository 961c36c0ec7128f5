"""The registries of pluggable parts: English parser backends, per-language labelers and label sets.

Each is a `catalogue` registry (as spaCy's are) that also reads entry points, so an installed package adds a
part by declaring it in its own pyproject.toml; nothing in cxrlabel changes:

    [project.entry-points.cxrlabel_parsers]     # name = "module:Class"; Class() builds a Parser
    [project.entry-points.cxrlabel_labelers]    # lang = "module:Class"; Class(label_set, **options) builds a Labeler
    [project.entry-points.cxrlabel_label_sets]  # name = "module:function"; function() returns a label-set YAML path

The shipped parsers and labelers are registered as "module:attribute" strings imported when first built, so the
CLI starts fast and a part's heavy dependencies load only when that part is chosen. The shipped label sets are
the YAML files of the rules folder (rules/labelsets, or $CXRLABEL_RULES); they win over a registered name.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol

import catalogue

from cxrlabel import labelsets
from cxrlabel.errors import UserError
from cxrlabel.labelsets import LabelSet
from cxrlabel.types import LabelError, Report, ReportResult

parsers = catalogue.create("cxrlabel", "parsers", entry_points=True)
labelers = catalogue.create("cxrlabel", "labelers", entry_points=True)
label_sets = catalogue.create("cxrlabel", "label_sets", entry_points=True)

DEFAULT_LABEL_SETS = {"en": "chestxray14", "zh": "dong10"}


class Labeler(Protocol):
    """Turns batches of reports into results, one per report in input order; one labeler per worker process."""

    label_set: LabelSet

    def label_batch(self, reports: list[Report]) -> list[ReportResult | LabelError]: ...


def _imported_on_first_use(target: str) -> Callable[..., Any]:
    """A factory that imports `target` ("module:attribute") when it is first called, and calls it."""
    module_name, attribute = target.split(":")

    def build(*args: Any, **kwargs: Any) -> Any:
        return getattr(import_module(module_name), attribute)(*args, **kwargs)

    build.__doc__ = f"Build {target} (imported on first use)."
    return build


parsers.register("spacy", func=_imported_on_first_use("cxrlabel.en.parse_spacy:SpacyParser"))
parsers.register("stanza", func=_imported_on_first_use("cxrlabel.en.parse_stanza:StanzaParser"))
labelers.register("en", func=_imported_on_first_use("cxrlabel.en.labeler:EnglishLabeler"))
labelers.register("zh", func=_imported_on_first_use("cxrlabel.zh.labeler:ChineseLabeler"))


def registered_names(registry: catalogue.Registry) -> list[str]:
    """Every name of a registry: registered in code and declared by an installed package's entry points."""
    return sorted(registry.get_all())


def _registered(registry: catalogue.Registry, name: str, kind: str) -> Any:
    if name not in registry:
        raise UserError(f"unknown {kind} {name!r}: choose one of {', '.join(registered_names(registry))}")
    return registry.get(name)


def parser_class(name: str) -> Callable[[], Any]:
    """The class (or function) registered as English parser backend `name` (e.g. "spacy"); calling it builds one."""
    return _registered(parsers, name, "parser")


def create_labeler(lang: str, label_set: LabelSet, **options: Any) -> Labeler:
    """Build the labeler for `lang` with the given label set and options (e.g. parser="spacy")."""
    if label_set.lang != lang:
        raise UserError(f"label set {label_set.name!r} is for --lang {label_set.lang}, not {lang}")
    return _registered(labelers, lang, "language")(label_set, **options)


def available_label_sets() -> list[str]:
    """The shipped label sets and those registered by installed packages."""
    return sorted(set(labelsets.available_label_sets()) | set(registered_names(label_sets)))


def load_label_set(name_or_path: str) -> LabelSet:
    """A label set by name (shipped, else registered) or from any YAML file by path."""
    if Path(name_or_path).suffix or name_or_path in labelsets.available_label_sets():
        return labelsets.load_label_set(name_or_path)
    if name_or_path in label_sets:
        path = Path(label_sets.get(name_or_path)())
        if not path.suffix:
            raise UserError(f"label set {name_or_path!r} is registered with {path}, which is no .yml file")
        return labelsets.load_label_set(str(path))
    raise UserError(f"unknown label set {name_or_path!r}: choose one of {', '.join(available_label_sets())} "
                    "or give a path to a .yml file")


def label_set_for(lang: str, labels: str | None) -> LabelSet:
    """The label set a run in `lang` uses: `labels` (a name or a path) or the language's default."""
    if lang not in labelers:
        raise UserError(f"unknown --lang {lang!r}: choose one of {', '.join(registered_names(labelers))}")
    if labels is None and lang not in DEFAULT_LABEL_SETS:
        raise UserError(f"--lang {lang} has no default label set: name one with --labels")
    return load_label_set(labels or DEFAULT_LABEL_SETS[lang])
