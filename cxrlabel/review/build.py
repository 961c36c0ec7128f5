"""Read a run, compare it with a gold, lay out the chosen reports, add graphs and write the page."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from cxrlabel.errors import UserError
from cxrlabel.review.assemble import build_page
from cxrlabel.review.collect import read_run
from cxrlabel.review.graphs import attach_graphs
from cxrlabel.review.model import ReviewPage
from cxrlabel.review.page import render_page
from cxrlabel.review.scoring import compare_with_gold
from cxrlabel.validation import OPENI_DIR, gold_file


def _reports_source(gold: str | None, reports: Path | None) -> Path | None:
    """--reports; else the OpenI reports for --gold openi; else the gold file when it holds report text."""
    if reports is not None or gold is None:
        return reports
    if gold == "openi":
        return OPENI_DIR / "reports_dev.csv"
    from cxrlabel.readers import iter_reports

    try:
        next(iter(iter_reports(gold_file(gold))), None)
    except UserError:
        return None  # no text column: the page shows the mention sentences
    return gold_file(gold)


def write_review(run_dir: Path, out: Path, *, gold: str | None, reports: Path | None, sample: int | None, seed: int,
                 uncertain_as: str, labels: str | None, console: Console) -> ReviewPage:
    if out.exists() and out.is_dir():
        raise UserError(f"--out {out} is a folder; give the .html file to write")
    run = read_run(run_dir, labels)
    comparison = compare_with_gold(run, gold, uncertain_as) if gold else None
    page = build_page(run, comparison, _reports_source(gold, reports), sample, seed)
    if run.lang == "en":
        page.graphs = attach_graphs(page.reports, run.summary.get("parser", "spacy"), console)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(page), encoding="utf-8")
    return page
