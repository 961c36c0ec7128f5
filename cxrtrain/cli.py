"""`cxrtrain` command line (fit / evaluate / heatmap)."""

import typer

app = typer.Typer(help="Train and evaluate chest X-ray classifiers on cxrlabel datasets.", no_args_is_help=True)


@app.command()
def fit() -> None:
    """Not implemented yet (issue 6)."""
    raise typer.Exit(1)
