"""The canonical dependency graphs of the shown English sentences, as compact JSON for the page.

Only sentences that carry a mention on a shown report are parsed (each distinct text once), with the run's
parser and the project's own graph builder (`cxrlabel.en.graph.build_graph`, as `cxrlabel explain` shows it)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cxrlabel.review.model import ReportView, SentenceView
from cxrlabel.types import State

BATCH = 64


def graph_json(graph, states: dict[int, str]) -> dict:
    """{"words": token texts, "edges": [[head, dependent, label], ...], "states": {token: mention state}}."""
    nodes = sorted(graph.nodes)
    return {
        "words": [graph.nodes[n]["text"] for n in nodes],
        "edges": sorted([h, d, data["label"]] for h, d, data in graph.edges(data=True)),
        "states": {str(n): states[n] for n in nodes if n in states},
    }


def _mention_states(view: SentenceView, graph) -> dict[int, str]:
    states: dict[int, str] = {}
    for marked in view.mentions:
        mention = marked.mention
        for node, data in graph.nodes(data=True):
            if data["start"] < mention.end and mention.start < data["end"]:
                if states.get(node) != State.POSITIVE.value:
                    states[node] = mention.state.value
    return states


def attach_graphs(reports: list[ReportView], parser_name: str, console: Console) -> dict[str, dict]:
    """Parse the mention sentences of `reports`, set each SentenceView's graph_id, return the graphs by id."""
    from cxrlabel.en.graph import build_graph
    from cxrlabel.registry import parser_class

    views: dict[str, list[SentenceView]] = {}
    for report in reports:
        for view in [s.sentence for s in report.segments if s.sentence] + report.unplaced:
            views.setdefault(view.text, []).append(view)
    texts = list(views)
    if not texts:
        return {}
    parser = parser_class(parser_name)()
    graphs: dict[str, dict] = {}
    columns = (TextColumn("parsing sentences"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("parse", total=len(texts))
        for first in range(0, len(texts), BATCH):
            batch = texts[first:first + BATCH]
            for text, parsed in zip(batch, parser.parse(batch), strict=True):
                graph = build_graph(parsed)
                graph_id = f"g{len(graphs)}"
                graphs[graph_id] = graph_json(graph, _mention_states(views[text][0], graph))
                for view in views[text]:
                    view.graph_id = graph_id
            progress.advance(task, len(batch))
    return graphs
