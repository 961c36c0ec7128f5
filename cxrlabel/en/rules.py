"""Declarative negation / uncertainty rules matched on the canonical graph.

A rule is a path from the finding's head node (the anchor). Each step follows one edge whose label
matches `edge` (regex; `*` for any), `dir: out` (anchor side is the head) or `dir: in` (anchor side
is the dependent), and lands on a node that passes the `node` test (regexes on word / lemma / pos,
full match, case-insensitive; `not_lemma` / `not_word` reject). `repeat: [min, max]` lets a step be
taken that many times. Rules live in rules/en/rules/*.yml, one stage per file; stages run in the
order affirmation → uncertainty_pre → negation → uncertainty_post; the first match decides. `@name` in a node
regex is a cue family of rules/en/cue_families.yml; rules/en/settings.yml sets how far a rule reaches. The
files' keys are defined in cxrlabel/schema.py.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import networkx as nx

from cxrlabel import schema
from cxrlabel.resources import read_yaml, rules_path
from cxrlabel.schema import NodeSpec, RuleFile, RuleSettings, RuleSpec, cue_families, rule_pattern
from cxrlabel.types import State

STAGES = {
    "affirmation": State.POSITIVE,
    "uncertainty_pre": State.UNCERTAIN,
    "negation": State.NEGATIVE,
    "uncertainty_post": State.UNCERTAIN,
}
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


def compile_node(spec: NodeSpec, families: dict[str, str]) -> NodeTest:
    tests = []
    for key, value in spec.model_dump(exclude_none=True).items():
        attribute = key.removeprefix("not_")
        tests.append(("text" if attribute == "word" else attribute, rule_pattern(value, families),
                      not key.startswith("not_")))
    return NodeTest(tuple(tests))


def compile_rule(spec: RuleSpec, stage: str, where: str, families: dict[str, str]) -> Rule:
    options = []
    for step in spec.path:
        compiled = Step(rule_pattern(step.edge, families), step.dir == "out", compile_node(step.node, families))
        low, high = step.repeat
        options.append([(compiled,) * count for count in range(low, high + 1)])
    paths = tuple(sum(combo, ()) for combo in itertools.product(*options))
    examples = tuple(RuleExample(example.text, example.finding, example.state) for example in spec.examples)
    return Rule(spec.id, stage, spec.comment, paths, where, examples)


def load_rule_file(path: Path) -> list[Rule]:
    """The rules of one stage file; a RuleFileError names file:line of the first problem."""
    rule_file = schema.load(RuleFile, path)
    families = cue_families(path)
    document = read_yaml(path)
    return [compile_rule(spec, rule_file.stage, f"{path}:{document.line(('rules', index))}", families)
            for index, spec in enumerate(rule_file.rules)]


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
    settings_file = folder.parent / "settings.yml"
    settings = schema.load(RuleSettings, settings_file) if settings_file.is_file() else RuleSettings()
    return RuleSet(tuple(rules), re.compile(settings.conj_scope), re.compile(settings.list_scope),
                   settings.scope_depth)
