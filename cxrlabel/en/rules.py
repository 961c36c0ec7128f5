"""Declarative negation / uncertainty rules matched on the canonical graph.

A rule is a path from the finding's head node (the anchor). Each step follows one edge whose label
matches `edge` (regex; `*` for any), `dir: out` (anchor side is the head) or `dir: in` (anchor side
is the dependent), and lands on a node that passes the `node` test (regexes on word / lemma / pos,
full match, case-insensitive; `not_lemma` / `not_word` reject). `repeat: [min, max]` lets a step be
taken that many times. Rules live in rules/en/rules/*.yml, one stage per file; stages run in the
order affirmation → uncertainty_pre → negation → uncertainty_post; the first match decides.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import networkx as nx

from cxrlabel.resources import load_yaml, rules_path
from cxrlabel.types import State

STAGES = {
    "affirmation": State.POSITIVE,
    "uncertainty_pre": State.UNCERTAIN,
    "negation": State.NEGATIVE,
    "uncertainty_post": State.UNCERTAIN,
}
NODE_KEYS = {"word", "lemma", "pos", "not_word", "not_lemma"}
STEP_KEYS = {"edge", "dir", "node", "repeat"}
RULE_KEYS = {"id", "comment", "path", "examples"}
EXAMPLE_KEYS = {"text", "finding", "state"}
POSITIVE_RULE = "default.positive"


@dataclass(frozen=True)
class NodeTest:
    tests: tuple[tuple[str, re.Pattern, bool], ...]  # (attribute, regex, must match)

    def __call__(self, attrs: dict) -> bool:
        return all(bool(regex.fullmatch(attrs[attribute])) == wanted for attribute, regex, wanted in self.tests)


@dataclass(frozen=True)
class Step:
    edge: re.Pattern
    outgoing: bool
    node: NodeTest


@dataclass(frozen=True)
class RuleExample:
    """A report sentence this rule must decide: the mention of `finding` in `text` gets `state` from this rule."""

    text: str
    finding: str  # a vocabulary finding name (rules/en/findings/<finding>.yml)
    state: State


@dataclass(frozen=True)
class Rule:
    id: str
    stage: str
    comment: str
    paths: tuple[tuple[Step, ...], ...]  # the path with every `repeat` expanded
    source: str  # file:line
    examples: tuple[RuleExample, ...] = ()

    def matches(self, view: GraphView, anchors: list[int], clause: int) -> bool:
        """Whether a path leads from an anchor to a cue that lies in the finding's clause."""
        return any(_walk(view, anchor, path, 0, clause) for anchor in anchors for path in self.paths)


@dataclass(frozen=True)
class GraphView:
    """Plain adjacency lists of a canonical graph (node → [(neighbour, label)]), built once per decision: walking
    them is several times cheaper than networkx's views."""

    nodes: dict[int, dict]
    out: dict[int, list[tuple[int, str]]]
    into: dict[int, list[tuple[int, str]]]

    @classmethod
    def of(cls, graph: nx.DiGraph) -> GraphView:
        out: dict[int, list[tuple[int, str]]] = {n: [] for n in graph.nodes}
        into: dict[int, list[tuple[int, str]]] = {n: [] for n in graph.nodes}
        for head, dependent, label in graph.edges(data="label"):
            out[head].append((dependent, label))
            into[dependent].append((head, label))
        return cls(dict(graph.nodes(data=True)), out, into)


def _walk(view: GraphView, node: int, path: tuple[Step, ...], index: int, clause: int) -> bool:
    if index == len(path):
        return view.nodes[node]["clause"] == clause  # the cue's scope ends at a clause boundary
    step = path[index]
    for neighbour, label in (view.out if step.outgoing else view.into)[node]:
        if step.edge.fullmatch(label) and step.node(view.nodes[neighbour]):
            if _walk(view, neighbour, path, index + 1, clause):
                return True
    return False


FAMILY_REFERENCE = re.compile(r"@(\w+)")


def expand_families(value: str, families: dict[str, str], where: str) -> str:
    """Replace each @name by its cue family's alternation (rules/en/rules/cues.yaml)."""
    def expand(match: re.Match) -> str:
        if match.group(1) not in families:
            raise ValueError(f"{where}: unknown cue family @{match.group(1)}; defined: {sorted(families)}")
        return f"(?:{families[match.group(1)]})"
    return FAMILY_REFERENCE.sub(expand, value)


def _regex(value: str, where: str, families: dict[str, str] | None = None) -> re.Pattern:
    value = expand_families(value, families or {}, where)
    try:
        return re.compile(".*" if value == "*" else value, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"{where}: bad regex {value!r}: {exc}") from exc


def compile_node(spec: dict | None, where: str, families: dict[str, str] | None = None) -> NodeTest:
    spec = spec or {}
    unknown = set(spec) - NODE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown node key(s) {sorted(unknown)}; allowed {sorted(NODE_KEYS)}")
    tests = []
    for key, value in spec.items():
        attribute = key.removeprefix("not_")
        tests.append(("text" if attribute == "word" else attribute, _regex(str(value), where, families),
                      not key.startswith("not_")))
    return NodeTest(tuple(tests))


def compile_rule(spec: dict, stage: str, where: str, families: dict[str, str] | None = None) -> Rule:
    unknown = set(spec) - RULE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown rule key(s) {sorted(unknown)}; allowed {sorted(RULE_KEYS)}")
    if "id" not in spec or "path" not in spec:
        raise ValueError(f"{where}: a rule needs an id and a path")
    options = []
    for number, step in enumerate(spec["path"], start=1):
        step_where = f"{where} step {number}"
        if set(step) - STEP_KEYS:
            raise ValueError(f"{step_where}: unknown step key(s) {sorted(set(step) - STEP_KEYS)}")
        if step.get("dir", "out") not in ("in", "out"):
            raise ValueError(f"{step_where}: dir must be in or out")
        compiled = Step(_regex(str(step.get("edge", "*")), step_where), step.get("dir", "out") == "out",
                        compile_node(step.get("node"), step_where, families))
        low, high = step.get("repeat", [1, 1])
        options.append([(compiled,) * count for count in range(int(low), int(high) + 1)])
    paths = tuple(sum(combo, ()) for combo in itertools.product(*options))
    examples = tuple(compile_example(example, f"{where} example {number}")
                     for number, example in enumerate(spec.get("examples") or [], start=1))
    return Rule(str(spec["id"]), stage, str(spec.get("comment", "")), paths, where, examples)


def compile_example(spec: dict, where: str) -> RuleExample:
    if not isinstance(spec, dict) or set(spec) != EXAMPLE_KEYS:
        raise ValueError(f"{where}: an example needs exactly the keys {sorted(EXAMPLE_KEYS)}")
    try:
        state = State(str(spec["state"]))
    except ValueError as exc:
        raise ValueError(f"{where}: state must be one of {[s.value for s in State]}") from exc
    return RuleExample(str(spec["text"]), str(spec["finding"]), state)


def _line_numbers(path: Path) -> list[int]:
    """Line numbers of the `- id:` entries, for file:line messages."""
    return [n for n, line in enumerate(path.read_text().splitlines(), start=1) if re.match(r"\s*-\s+id:", line)]


def load_families(folder: Path) -> dict[str, str]:
    """The cue families of a rules folder (`cues.yaml`, `families:` name → lemma alternation)."""
    path = folder / "cues.yaml"
    families = (load_yaml(path) or {}).get("families", {}) if path.exists() else {}
    return {str(name): str(value) for name, value in families.items()}


def load_rule_file(path: Path) -> list[Rule]:
    families = load_families(path.parent)
    data = load_yaml(path)
    stage = data.get("stage")
    if stage not in STAGES:
        raise ValueError(f"{path}:1: stage must be one of {list(STAGES)}, not {stage!r}")
    lines = _line_numbers(path)
    rules = []
    for index, spec in enumerate(data.get("rules", [])):
        line = lines[index] if index < len(lines) else 1
        rules.append(compile_rule(spec, stage, f"{path}:{line}", families))
    return rules


NOUN_POS = {"NOUN", "PROPN"}


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    conj_scope: re.Pattern  # conjunction labels through which a rule reaches other conjuncts
    list_scope: re.Pattern  # noun-to-noun labels a parser gives to list items ("X, Y, Z") by mistake
    scope_depth: int

    def anchors(self, graph: nx.DiGraph, node: int) -> list[int]:
        """The finding node plus the list items / conjuncts that head it, up to `scope_depth` levels."""
        found, frontier = [node], [node]
        for _ in range(self.scope_depth):
            nxt = []
            for current in frontier:
                for head, _, label in graph.in_edges(current, data="label"):
                    in_list = (self.list_scope.fullmatch(label) and graph.nodes[head]["pos"] in NOUN_POS
                               and graph.nodes[current]["pos"] in NOUN_POS)
                    if head not in found and (self.conj_scope.fullmatch(label) or in_list):
                        found.append(head)
                        nxt.append(head)
            frontier = nxt
        return found

    def decide(self, graph: nx.DiGraph, node: int, view: GraphView | None = None) -> tuple[State, str]:
        """The state of the finding at `node` and the rule that set it; `view`: the graph's GraphView when the
        caller decides several mentions of one graph (built here otherwise)."""
        anchors = self.anchors(graph, node)
        clause = graph.nodes[node]["clause"]
        view = view or GraphView.of(graph)
        for rule in self.rules:
            if rule.matches(view, anchors, clause):
                return STAGES[rule.stage], rule.id
        return State.POSITIVE, POSITIVE_RULE


@cache
def load_rules(folder: Path | None = None) -> RuleSet:
    folder = folder or rules_path("en", "rules")
    rules = [rule for path in sorted(folder.glob("*.yml")) for rule in load_rule_file(path)]
    order = list(STAGES)
    rules.sort(key=lambda r: order.index(r.stage))  # stable: file order kept within a stage
    settings = load_yaml(folder / "settings.yaml") if (folder / "settings.yaml").exists() else {}
    return RuleSet(
        tuple(rules),
        re.compile(settings.get("conj_scope", "conj_(and|or|nor)")),
        re.compile(settings.get("list_scope", "appos")),
        int(settings.get("scope_depth", 2)),
    )
