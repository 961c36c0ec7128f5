"""`cxrlabel review`: write one self-contained HTML page to review a mining run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cxrlabel.errors import UserError, fail


def review(
    run_dir: Annotated[Path, typer.Argument(help="The --out folder of a finished `cxrlabel mine` run.")],
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("review.html"),
    gold: Annotated[
        str | None,
        typer.Option("--gold", help="Gold CSV as `cxrlabel validate` reads it ('openi': the shipped OpenI "
                     "development gold): adds the P/R/F1 table and shows the disagreements first."),
    ] = None,
    reports: Annotated[
        Path | None,
        typer.Option("--reports", help="The reports the run read (or any table with their ids), for the full text. "
                     "Default: the gold file when it holds the text, else the mention sentences only."),
    ] = None,
    sample: Annotated[
        int, typer.Option("--sample", min=0, help="Reports shown besides the disagreements, drawn at random.")
    ] = 500,
    show_all: Annotated[bool, typer.Option("--all", help="Show every report (no sampling).")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random sample.")] = 0,
    uncertain_as: Annotated[
        str, typer.Option("--uncertain-as", help="Score uncertain labels as negative (default) or positive.")
    ] = "negative",
    labels: Annotated[
        str | None,
        typer.Option("--labels", help="The run's label set .yml, when it is not a shipped one (default: the run's)."),
    ] = None,
) -> None:
    """Review a mine run in a browser: one self-contained HTML file (no network needed) with the label counts, with
    a gold the P/R/F1 table and every disagreement first, each shown report with its mentions highlighted by state,
    the deciding rule on hover, filters and search; for English runs a click on a sentence draws its dependency
    graph."""
    from cxrlabel.review.build import write_review

    if uncertain_as not in ("negative", "positive"):
        fail("--uncertain-as takes negative or positive")
    console = Console(stderr=True)
    try:
        page = write_review(run_dir, out, gold=gold, reports=reports, sample=None if show_all else sample,
                            seed=seed, uncertain_as=uncertain_as, labels=labels, console=console)
    except UserError as exc:
        fail(str(exc))
    size = out.stat().st_size
    console.print(f"{len(page.reports)} reports, {len(page.graphs)} sentence graphs → {out} ({size / 1e6:.1f} MB)")
