"""The rule files, each kind defined once: typed models that the loaders AND `cxrlabel rules lint` validate with.

A file's problems read `file:line: what is wrong`, the line taken from the YAML node of the key or item at fault
(an unknown key, a value of the wrong type, a missing key, a regex that does not compile ...). A loader raises
the first as a RuleFileError (a UserError: one line, exit 2); `rules lint` lists them all. Checks that need
several files at once (a label naming an unknown finding, a phrase claimed by two findings) stay with the lint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path, PurePosixPath
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cxrlabel.errors import UserError
from cxrlabel.resources import Location, read_yaml
from cxrlabel.types import State

CUE_FAMILIES_FILE = "cue_families.yml"  # in the language folder, next to the rules/ folder of rule files
Model = TypeVar("Model", bound="RuleModel")


class RuleFileError(UserError):
    """A rule file that does not fit its kind: the first problem as the message, every problem in `problems`."""

    def __init__(self, problems: list[str]):
        more = f" (and {len(problems) - 1} more: `cxrlabel rules lint` lists them)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)
        self.problems = problems


class LocatedValueError(ValueError):
    """A validator's error about a part of the value: `at` continues the location of the value validated."""

    def __init__(self, message: str, at: Location):
        super().__init__(message)
        self.at = at


class RuleModel(BaseModel):
    """A mapping of a rule file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def context_for(cls, path: Path) -> dict[str, Any] | None:
        """What validating the file at `path` needs beyond its own text (None: nothing)."""
        return None


def _none_as_empty(value: object) -> object:
    return [] if value is None else value  # `exclude:` with nothing after it


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"bad regex {value!r}: {exc}") from None
    return value


Texts = Annotated[list[str], BeforeValidator(_none_as_empty)]
Regex = Annotated[str, AfterValidator(_compiles)]
Regexes = Annotated[list[Regex], BeforeValidator(_none_as_empty)]
NonEmptyTexts = Annotated[list[str], Field(min_length=1)]
Distance = Annotated[float, Field(ge=0.0, le=1.0)]

# --- English findings: rules/en/findings/<name>.yml -----------------------------------------------------------


class FindingFile(RuleModel):
    """One finding's vocabulary: phrases (inflected last word) and/or regexes, and what vetoes a mention."""

    name: str
    cuis: list[Annotated[str, StringConstraints(pattern=r"^C\d{7}$")]] = []  # UMLS concept ids
    phrases: Texts = []
    regex: Regexes = []
    exclude: Texts = []  # phrases a mention must not lie inside ("pericardial effusion")
    exclude_regex: Regexes = []
    abnormal: bool = True  # a positive or uncertain mention rules out the derived "normal" label

    @model_validator(mode="after")
    def _matches_something(self) -> FindingFile:
        if not self.phrases and not self.regex:
            raise ValueError("a finding needs phrases or regex")
        return self


# --- English graph rules: rules/en/rules/*.yml, rules/en/cue_families.yml, rules/en/settings.yml ---------------

Stage = Literal["affirmation", "uncertainty_pre", "negation", "uncertainty_post"]
FAMILY_REFERENCE = re.compile(r"@(\w+)")


def rule_pattern(value: str, families: Mapping[str, str]) -> re.Pattern:
    """A rule's edge or node regex, matched case-insensitively: `*` is any, `@name` a cue family's alternation."""
    def expand(match: re.Match) -> str:
        if match.group(1) not in families:
            raise ValueError(f"unknown cue family @{match.group(1)}; defined: {', '.join(sorted(families))}")
        return f"(?:{families[match.group(1)]})"
    try:
        return re.compile(".*" if value == "*" else FAMILY_REFERENCE.sub(expand, value), re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"bad regex {value!r}: {exc}") from None


def _rule_pattern_compiles(value: str, info: ValidationInfo) -> str:
    rule_pattern(value, (info.context or {}).get("families", {}))
    return value


RulePattern = Annotated[str, AfterValidator(_rule_pattern_compiles)]


class CueFamilies(RuleModel):
    """Cue families (ConText-style trigger classes), named in rule regexes as @name."""

    families: dict[Annotated[str, StringConstraints(pattern=r"^\w+$")], Regex]


class RuleSettings(RuleModel):
    """How far a rule tried on a finding reaches; these defaults are the ones rules/en/settings.yml states."""

    conj_scope: Regex = "conj_(and|or|nor)"  # conjunction labels through which a rule reaches other conjuncts
    list_scope: Regex = "appos|amod|compound|nmod|preconj|dep|npadvmod"  # noun-to-noun labels of list items
    scope_depth: NonNegativeInt = 3  # how many such links a rule may climb from the finding


class NodeSpec(RuleModel):
    """Regex tests on the node a step lands on (full match); `not_` ones must not match."""

    word: RulePattern | None = None
    lemma: RulePattern | None = None
    pos: RulePattern | None = None
    not_word: RulePattern | None = None
    not_lemma: RulePattern | None = None


class StepSpec(RuleModel):
    """One step of a rule's path: an edge followed out of (`out`) or into (`in`) the node, `repeat` times."""

    edge: RulePattern = "*"
    dir: Literal["in", "out"] = "out"
    node: NodeSpec = NodeSpec()
    repeat: tuple[NonNegativeInt, NonNegativeInt] = (1, 1)

    @field_validator("repeat")
    @classmethod
    def _repeat_not_empty(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[1] < value[0] or value[1] == 0:
            raise ValueError(f"repeat [{value[0]}, {value[1]}] is empty")
        return value


class ExampleSpec(RuleModel):
    """A report sentence the rule must decide: the mention of `finding` in `text` gets `state`."""

    text: str
    finding: str
    state: State


class RuleSpec(RuleModel):
    id: str
    comment: str = ""
    path: list[StepSpec]
    examples: Annotated[list[ExampleSpec], BeforeValidator(_none_as_empty)] = []


class RuleFile(RuleModel):
    """One stage of graph rules."""

    stage: Stage
    rules: Annotated[list[RuleSpec], BeforeValidator(_none_as_empty)] = []

    @classmethod
    def context_for(cls, path: Path) -> dict[str, Any]:
        return {"families": cue_families(path)}


def cue_families(rule_file: Path) -> dict[str, str]:
    """The cue families a rule file may name: those of the language folder above its rules/ folder."""
    path = rule_file.parent.parent / CUE_FAMILIES_FILE
    return load(CueFamilies, path).families if path.is_file() else {}


class EnglishSections(RuleModel):
    """Section headers of English reports: canonical name → header variants; labels read `label_sections`."""

    label_sections: list[str]
    headers: dict[str, list[str]]

    @model_validator(mode="after")
    def _label_sections_have_headers(self) -> EnglishSections:
        for index, name in enumerate(self.label_sections):
            if name not in self.headers:
                raise LocatedValueError(f"label section {name!r} is none of the headers "
                                        f"({', '.join(self.headers)})", ("label_sections", index))
        return self


# --- label sets: rules/labelsets/*.yml or a user's file --------------------------------------------------------

RulingOutState = Literal["positive", "uncertain"]
NORMAL_RULED_OUT_BY = {"en": ("positive", "uncertain"), "zh": ("positive",)}  # when a label set does not say


class LabelSpecFile(RuleModel):
    name: str
    findings: Texts = []  # English: the vocabulary findings that count towards the label
    description: str = ""
    derived: Literal["", "normal"] = ""  # "normal": positive when no other label rules it out
    aliases: Texts = []  # other names of the label in a gold box file (cxrtrain heatmap)


class LabelSetFile(RuleModel):
    name: str
    lang: str
    labels: Annotated[list[LabelSpecFile], Field(min_length=1)]
    description: str = ""
    method: str = ""  # how Chinese labels it: "clusters" (exemplars of a mapping) or "regions"
    mapping: str = ""  # method clusters: the cluster → label mapping file, relative to the label set
    normal_ruled_out_by: tuple[RulingOutState, ...] = ()  # states of another label that rule out "normal"
    aliases: dict[str, str] = {}  # a gold box file's class name → label name (cxrtrain heatmap)

    @field_validator("normal_ruled_out_by")
    @classmethod
    def _some_state(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name the states that rule out normal: [positive], or [positive, uncertain]")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> LabelSetFile:
        seen: set[str] = set()
        for index, label in enumerate(self.labels):
            if label.name in seen:
                raise LocatedValueError(f"duplicate label {label.name!r}", ("labels", index, "name"))
            seen.add(label.name)
        for alias, name in self.aliases.items():
            if name not in seen:
                raise LocatedValueError(f"alias {alias!r} names no label of this set ({name!r})", ("aliases", alias))
        return self

    @property
    def ruled_out_by(self) -> tuple[str, ...]:
        """The states that rule out normal: as written, else the language's default."""
        return self.normal_ruled_out_by or NORMAL_RULED_OUT_BY.get(self.lang, ("positive", "uncertain"))


# --- Chinese: rules/zh/*.yml -------------------------------------------------------------------------------------


class ClusterMapping(RuleModel):
    """Label → exemplar clauses (rules/zh/clusters.yml, or one `cxrlabel cluster` wrote)."""

    max_distance: Distance
    strip_words: Texts = []
    labels: dict[str, list[str]]
    ignore: Texts = []


class ChineseCues(RuleModel):
    """Negation and uncertainty cues (rules/zh/negation.yml)."""

    negation: NonEmptyTexts
    uncertainty: NonEmptyTexts
    pre_negation: NonEmptyTexts
    negation_exceptions: Texts = []


class ChineseNormalisation(RuleModel):
    """Text normalisation tables (rules/zh/normalize.yml)."""

    traditional: str  # "兩两 紋纹 …": traditional/simplified character pairs
    typos: dict[str, str]
    typo_patterns: Annotated[list[tuple[Regex, str]], BeforeValidator(_none_as_empty)] = []
    synonyms: dict[str, str]
    clause_separators: str
    item_separators: str
    variable_pattern: Regex

    @field_validator("traditional")
    @classmethod
    def _pairs(cls, value: str) -> str:
        for pair in value.split():
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ValueError(f"{pair!r} is not a traditional/simplified character pair")
        return value


class RatioSpec(RuleModel):
    """A measured ratio ("心胸比约0.56"): its cue words and the value above which it is abnormal."""

    cues: NonEmptyTexts
    above: float


class RegionSpec(RuleModel):
    cues: NonEmptyTexts
    normal: NonEmptyTexts  # normal template statements
    abnormal: Texts = []  # abnormal example statements
    abnormal_terms: NonEmptyTexts
    ratio: RatioSpec | None = None
    signs: Texts = []  # signs of this region's finding that route their clause here


class ChineseRegions(RuleModel):
    """Region templates (rules/zh/regions.yml)."""

    max_distance: Distance
    regions: dict[str, RegionSpec]


class ChineseSections(RuleModel):
    """Section headers of Chinese reports: canonical name → header variants (rules/zh/sections.yml)."""

    headers: dict[str, list[str]]


# --- which file is which kind ------------------------------------------------------------------------------------

RULE_FILE_KINDS: dict[str, type[RuleModel]] = {
    "en/findings/*.yml": FindingFile,
    "en/rules/*.yml": RuleFile,
    f"en/{CUE_FAMILIES_FILE}": CueFamilies,
    "en/settings.yml": RuleSettings,
    "en/sections.yml": EnglishSections,
    "labelsets/*.yml": LabelSetFile,
    "zh/clusters.yml": ClusterMapping,
    "zh/negation.yml": ChineseCues,
    "zh/normalize.yml": ChineseNormalisation,
    "zh/regions.yml": ChineseRegions,
    "zh/sections.yml": ChineseSections,
}


MOVED_FILES = {"en/rules/settings.yaml": "en/settings.yml", "en/rules/cues.yaml": f"en/{CUE_FAMILIES_FILE}"}


def moved_file_problem(path: Path, root: Path) -> str | None:
    """A problem when `path` is a rule file under its name before the schema (a copied rules folder), else None."""
    new = MOVED_FILES.get(path.relative_to(root).as_posix())
    return f"{path}:1: this file is now read from {root / new}; move it there" if new else None


def _named_mappings(folder: Path) -> set[Path]:
    """The cluster mappings the label sets of a folder name under `mapping:` (as `cxrlabel cluster` writes them)."""
    named = set()
    for path in folder.glob("*.yml"):
        try:
            data = read_yaml(path).data
        except UserError:
            continue
        if isinstance(data, dict) and isinstance(data.get("mapping"), str):
            named.add((folder / data["mapping"]).resolve())
    return named


def kind_of(path: Path, root: Path) -> type[RuleModel] | None:
    """The kind of a file under a rules folder (None: no file the labelers read); a file in labelsets/ that a
    label set there names as its mapping is a cluster mapping."""
    relative = PurePosixPath(path.relative_to(root).as_posix())
    for pattern, model in RULE_FILE_KINDS.items():
        if len(relative.parts) == len(PurePosixPath(pattern).parts) and relative.match(pattern):
            if model is LabelSetFile and path.resolve() in _named_mappings(path.parent):
                return ClusterMapping
            return model
    return None


# --- validation and its messages ---------------------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """The type inside Annotated[X, ...] and X | None."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
        else:
            return annotation


def _keys_at(model: type[BaseModel], location: Location) -> list[str]:
    """The keys allowed at `location` of a `model` document (empty when that is not a model's mapping)."""
    current: Any = model
    for part in location:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (list, tuple, dict):
            current = get_args(current)[-1 if get_origin(current) is dict else 0]
        else:
            return []
    current = _unwrap(current)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _at(location: Location) -> str:
    """`labels[0].name: ` for a location inside the document, nothing for its top."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location).lstrip(".")
    return f"{text}: " if text else ""


def _problem(path: Path, model: type[RuleModel], error: Mapping[str, Any]) -> str:
    location: Location = tuple(part for part in error["loc"] if part != "[key]")
    kind = error["type"]
    cause = (error.get("ctx") or {}).get("error")
    if kind == "extra_forbidden":
        allowed = ", ".join(_keys_at(model, location[:-1]))
        message = f"{_at(location[:-1])}unknown key {location[-1]!r} (allowed: {allowed})"
    elif kind == "missing":
        message = f"{_at(location[:-1])}missing key {location[-1]!r}"
    elif isinstance(cause, ValueError):  # raised by a validator here, a LocatedValueError saying where inside
        location = (*location, *getattr(cause, "at", ()))
        message = f"{_at(location)}{cause}"
    else:
        shown = repr(error["input"])
        message = f"{_at(location)}{error['msg']}, not {shown if len(shown) <= 60 else shown[:57] + '...'}"
    return f"{path}:{read_yaml(path).line(location)}: {message}"


@cache
def _validated(model: type[RuleModel], path: Path) -> tuple[RuleModel | None, tuple[str, ...]]:
    try:
        data = read_yaml(path).data
        return model.model_validate(data if data is not None else {}, context=model.context_for(path)), ()
    except RuleFileError as exc:
        return None, tuple(exc.problems)
    except UserError as exc:  # a YAML syntax error, a file that cannot be read
        return None, (str(exc),)
    except ValidationError as exc:
        if any(error["type"] == "model_type" and not error["loc"] for error in exc.errors()):
            return None, (f"{path}:1: expected a mapping of keys ({model.__name__}), not {type(data).__name__}",)
        return None, tuple(_problem(path, model, error) for error in exc.errors())


def problems(model: type[RuleModel], path: Path) -> list[str]:
    """Every problem of the file at `path` read as a `model` (empty: it fits)."""
    return list(_validated(model, path)[1])


def load(model: type[Model], path: Path) -> Model:
    """The file at `path` read as a `model`; a RuleFileError names file:line of the first problem."""
    instance, found = _validated(model, path)
    if found:
        raise RuleFileError(list(found))
    return instance  # type: ignore[return-value]


def check_folder(root: Path) -> None:
    """Check every YAML file of a rules folder against its kind (a UserError names the first problem, a file
    under its old name first); a file of no kind must still be valid YAML."""
    paths = sorted(root.rglob("*.y*ml"))
    for path in paths:
        moved = moved_file_problem(path, root)
        if moved:
            raise UserError(moved)
    for path in paths:
        model = kind_of(path, root)
        if model is None:
            read_yaml(path)
        else:
            load(model, path)
