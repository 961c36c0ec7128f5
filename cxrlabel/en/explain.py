"""`cxrlabel explain`: show every stage's output for a text, and the rule that decided each mention."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from cxrlabel.en.graph import build_graph, edge_list
from cxrlabel.en.labeler import EnglishLabeler, decide_sentence
from cxrlabel.en.sections import split_sections
from cxrlabel.en.sentences import split_sentences
from cxrlabel.en.vocabulary import find_mentions
from cxrlabel.registry import load_label_set
from cxrlabel.types import Report


def explain_text(text: str, labels: str = "chestxray14", parser: str = "spacy", console: Console | None = None) -> None:
    console = console or Console()
    labeler = EnglishLabeler(load_label_set(labels), parser=parser)
    report = Report(id="explain", text=text)
    for section in split_sections(report):
        console.print(f"[bold]section[/] {section.name}")
        for sentence in split_sentences(section.text):
            console.print(f"\n[bold cyan]sentence[/] {sentence.text}")
            matches = find_mentions(sentence.text, labeler.vocabulary)
            if not matches:
                console.print("  (no finding mentioned: not parsed)")
                continue
            graph = build_graph(labeler.parser.parse([sentence.text])[0])
            for head, label, dependent in edge_list(graph):
                console.print(f"  {head} -{label}-> {dependent}")
            table = Table("finding", "text", "head token", "state", "rule", "rule comment")
            comments = {rule.id: rule.comment for rule in labeler.rules.rules}
            for decision in decide_sentence(graph, matches, labeler.rules):
                head = "—" if decision.node is None else f"{graph.nodes[decision.node]['text']}-{decision.node}"
                table.add_row(decision.match.finding, decision.match.text, head, decision.state.value,
                              decision.rule_id, comments.get(decision.rule_id, ""))
            console.print(table)
    result = labeler.label_batch([report])[0]
    summary = ", ".join(f"{name}={state.value}" for name, state in result.labels.items())
    console.print(f"\n[bold]labels[/] {summary}")
