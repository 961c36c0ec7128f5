"""English labeler: sections → sentences → mentions → parse (mention sentences only) → rules → labels."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import networkx as nx

from cxrlabel.aggregation import Aggregator, finding_labels
from cxrlabel.en.graph import build_graph
from cxrlabel.en.rules import GraphView, RuleSet, load_rules
from cxrlabel.en.sections import split_sections
from cxrlabel.en.sentences import split_sentences
from cxrlabel.en.vocabulary import Finding, VocabularyMatch, find_mentions, load_vocabulary
from cxrlabel.labelsets import LabelSet
from cxrlabel.registry import parser_class
from cxrlabel.types import LabelError, Mention, Report, ReportResult, State

CACHE_SIZE = 200_000
LATIN_LETTER = re.compile(r"[A-Za-z]")
CJK_CHARACTER = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@dataclass(frozen=True)
class SentenceDecision:
    """A vocabulary match in a sentence with the state the rules gave it."""

    match: VocabularyMatch
    node: int | None
    state: State
    rule_id: str


def head_node(graph: nx.DiGraph, start: int, end: int) -> int | None:
    """The token of a character span whose head lies outside the span (multi-word → head token)."""
    inside = [n for n, a in graph.nodes(data=True) if a["start"] < end and a["end"] > start]
    for node in inside:
        heads = [h for h, _, label in graph.in_edges(node, data="label") if not label.startswith("conj_")]
        if not heads or all(h not in inside for h in heads):
            return node
    return inside[-1] if inside else None


def not_english(text: str) -> str:
    """Why a text cannot be an English report ('' when it can): no Latin letters, or mostly CJK characters."""
    if text.isascii() and LATIN_LETTER.search(text):  # the usual English report: no CJK character to count
        return ""
    latin = len(LATIN_LETTER.findall(text))
    if latin == 0:
        return "no English text (no Latin letters; a Chinese report needs --lang zh)"
    if len(CJK_CHARACTER.findall(text)) > latin:
        return "not an English report (mostly CJK characters; a Chinese report needs --lang zh)"
    return ""


def decide_sentence(graph: nx.DiGraph, matches: list[VocabularyMatch], rules: RuleSet) -> list[SentenceDecision]:
    decisions = []
    view = GraphView.of(graph) if matches else None  # one adjacency view for every mention of the sentence
    for match in matches:
        node = head_node(graph, match.start, match.end)
        state, rule_id = (State.POSITIVE, "default.positive") if node is None else rules.decide(graph, node, view)
        decisions.append(SentenceDecision(match, node, state, rule_id))
    return decisions


class EnglishLabeler:
    def __init__(self, label_set: LabelSet, parser: str = "spacy"):
        self.label_set = label_set
        self.vocabulary: tuple[Finding, ...] = load_vocabulary()
        self.rules = load_rules()
        self.parser = parser_class(parser)()
        # normal: ruled out by any abnormal finding of the whole vocabulary, counted by a label or not
        self.aggregator = Aggregator(label_set, finding_labels(label_set),
                                     frozenset(f.name for f in self.vocabulary if f.abnormal))
        self._cache: OrderedDict[str, list[SentenceDecision]] = OrderedDict()

    def analyse_sentences(self, sentences: list[str]) -> list[list[SentenceDecision]]:
        """Decisions for each sentence; parses only uncached sentences that hold a mention.

        The batch's decisions are kept apart from the bounded cache, so an eviction while the batch is
        being added can never lose one of them.
        """
        known = {s: self._cache[s] for s in set(sentences) if s in self._cache}
        matches = {s: find_mentions(s, self.vocabulary) for s in set(sentences) if s not in known}
        to_parse = [s for s, found in matches.items() if found]
        for sentence, parsed in zip(to_parse, self.parser.parse(to_parse), strict=True):
            known[sentence] = decide_sentence(build_graph(parsed), matches[sentence], self.rules)
        for sentence in matches:
            known.setdefault(sentence, [])
            self._remember(sentence, known[sentence])
        return [known[s] for s in sentences]

    def _remember(self, sentence: str, decisions: list[SentenceDecision]) -> None:
        self._cache[sentence] = decisions
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def label_batch(self, reports: list[Report]) -> list[ReportResult | LabelError]:
        refused = {index: reason for index, report in enumerate(reports)
                   if (reason := not_english(report.text or " ".join(report.sections.values())))}
        located = []  # (report index, section name, sentence text)
        for index, report in enumerate(reports):
            if index in refused:
                continue
            for section in split_sections(report):
                for sentence in split_sentences(section.text):
                    located.append((index, section.name, sentence.text))
        decisions = self.analyse_sentences([text for _, _, text in located])
        mentions: list[list[Mention]] = [[] for _ in reports]
        for (index, section, text), found in zip(located, decisions, strict=True):
            for decision in found:
                mentions[index].append(
                    Mention(reports[index].id, decision.match.finding, section, text, decision.match.start,
                            decision.match.end, decision.match.text, decision.state, decision.rule_id)
                )
        return [
            LabelError(report.id, refused[index], report.source) if index in refused else self._result(report, found)
            for index, (report, found) in enumerate(zip(reports, mentions, strict=True))
        ]

    def _result(self, report: Report, mentions: list[Mention]) -> ReportResult:
        return ReportResult(report.id, self.aggregator.labels(mentions), mentions)
