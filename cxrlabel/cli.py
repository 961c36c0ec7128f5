"""`cxrlabel` command line: mine, validate, explain, rules lint, cluster, build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cxrlabel.errors import UserError, fail

app = typer.Typer(
    help="Mine chest X-ray reports (English or Chinese) into per-finding labels with evidence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
rules_app = typer.Typer(help="Check the rule, vocabulary and label-set files.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
console = Console(stderr=True)

LangOption = Annotated[str, typer.Option("--lang", help="Report language: en or zh.")]
LabelsOption = Annotated[
    str | None,
    typer.Option(
        "--labels",
        help="Label set: chestxray14 or chexpert (en), dong10 or regions5 (zh), or a path to a .yml "
        "file. Default: chestxray14 for en, dong10 for zh.",
    ),
]
ParserOption = Annotated[
    str, typer.Option("--parser", help="English dependency parser backend: spacy (default) or stanza.")
]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")]
ShardOption = Annotated[
    str | None,
    typer.Option("--shard", help="I/N: process only shard I of N (1..N), a stable split by report id; join the N "
                 "output folders with `cxrlabel merge`."),
]


def labeler_options(lang: str, parser: str) -> dict:
    return {"parser": parser} if lang == "en" else {}


@app.command()
def mine(
    reports: Annotated[
        Path,
        typer.Argument(
            help="A folder of .txt reports (id = file stem), a .csv/.tsv table or a .jsonl file. "
            "CSV/JSONL: the id column and the text column(s) are found automatically (id, uid, "
            "filename...; findings/impression, 影像所见/诊断, text...) or named with the options."
        ),
    ],
    lang: LangOption = "en",
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out"),
    labels: LabelsOption = None,
    parser: ParserOption = "spacy",
    id_column: Annotated[str | None, typer.Option(help="CSV/JSONL column holding the report id.")] = None,
    text_column: Annotated[
        list[str] | None, typer.Option(help="CSV/JSONL column(s) holding report text; repeat for several.")
    ] = None,
    workers: WorkersOption = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Reports per batch sent to a worker.")] = 64,
    max_chars: Annotated[int, typer.Option(min=1, help="Longer reports go to errors.csv.")] = 100_000,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run from its last finished batch (same "
                           "inputs and options).")
    ] = False,
    shard: ShardOption = None,
) -> None:
    """Label every report and write OUT/labels.csv (1 positive, 0 negative, -1 uncertain, empty not
    mentioned), OUT/mentions.jsonl (evidence: sentence, span, state, deciding rule), OUT/errors.csv
    (records that could not be processed, with the reason) and OUT/summary.json. The files reach OUT
    only when the run finishes: a failed or interrupted run leaves the previous ones as they were."""
    from cxrlabel.mining import MiningInterrupted, mine_reports
    from cxrlabel.sharding import parse_shard

    try:
        summary = mine_reports(
            reports, lang=lang, out=out, labels=labels, options=labeler_options(lang, parser),
            id_column=id_column, text_columns=text_column, workers=workers, batch_size=batch_size,
            max_chars=max_chars, resume=resume, console=console, shard=parse_shard(shard),
        )
    except UserError as exc:
        fail(str(exc))
    except MiningInterrupted as stopped:
        done = stopped.summary["reports_read"]
        kept = (f"the partial run ({done} reports, summary.json \"complete\": false) is in {stopped.partial_dir}; "
                "run the same command with --resume to continue" if done else "nothing was labelled")
        console.print(f"[yellow]interrupted:[/] {out} keeps its previous results; {kept}", soft_wrap=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted:[/] {out} keeps its previous results")
        raise typer.Exit(130) from None
    console.print(
        f"{summary['reports_written']} reports labelled, {summary['reports_failed']} in errors.csv "
        f"({summary['reports_per_second']:.0f} reports/s) → {out}"
    )
    if summary["reports_written"] == 0 and (summary["reports_read"] or "shard" not in summary):
        fail("no report could be processed; see errors.csv", code=1)


@app.command()
def merge(
    out: Annotated[Path, typer.Argument(help="New or empty folder for the merged output (for mined labels, also an "
                                        "earlier merge's folder: its four files are replaced).")],
    shard_dirs: Annotated[list[Path], typer.Argument(help="The output folders of `cxrlabel mine --shard I/N` (or all "
                                                     "of `cxrlabel build --shard I/N`), all N of them, any order.")],
) -> None:
    """Join the N output folders of `--shard I/N` runs into one. Mined labels: labels.csv, mentions.jsonl, errors.csv
    concatenated in shard order (1..N; within a shard, input order), summary.json counts summed. Datasets: each split
    joined with datasets.concatenate_datasets, errors.csv concatenated, summary and card recomputed. Refused (nothing
    written) unless the folders are shards 1..N of one run (inputs, options, version), each present once, finished."""
    from cxrlabel.merge import merge_shards

    try:
        summary = merge_shards(out, shard_dirs)
    except UserError as exc:
        fail(str(exc))
    if "splits" in summary:
        rows = {name: split["rows"] for name, split in summary["splits"].items()}
        console.print(f"{summary['merged_from']['count']} dataset shards merged: rows {rows}, {summary['errors']} "
                      f"problems in errors.csv → {out}")
        return
    console.print(f"{summary['merged_from']['count']} shards merged: {summary['reports_written']} reports labelled, "
                  f"{summary['reports_failed']} in errors.csv → {out}")


@app.command()
def validate(
    gold: Annotated[
        str, typer.Option("--gold", help="'openi' (the shipped OpenI development gold) or a gold CSV path.")
    ] = "openi",
    reports: Annotated[
        Path | None,
        typer.Option("--reports", help="Reports CSV for a gold file (en: uid,findings,impression; "
                     "zh: id,findings,diagnosis). May be the gold file itself."),
    ] = None,
    lang: LangOption = "en",
    labels: LabelsOption = None,
    parser: ParserOption = "spacy",
    uncertain_as: Annotated[
        str, typer.Option("--uncertain-as", help="Score uncertain labels as negative (default) or positive.")
    ] = "negative",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the scores as JSON here.")] = None,
    errors_path: Annotated[
        Path | None,
        typer.Option("--errors", help="Write every false positive / negative with its evidence (CSV)."),
    ] = None,
    workers: WorkersOption = 1,
) -> None:
    """Score the labeler against a gold standard: per-label precision, recall, F1 and support, micro
    and macro rows, and (English) the ChestX-ray8 Table 2 layout beside the published numbers."""
    from cxrlabel.validation import run_validation

    if uncertain_as not in ("negative", "positive"):
        fail("--uncertain-as takes negative or positive")
    try:
        run_validation(
            gold=gold, reports=reports, lang=lang, labels=labels, options=labeler_options(lang, parser),
            uncertain_as=uncertain_as, json_path=json_path, errors_path=errors_path, workers=workers,
        )
    except UserError as exc:
        fail(str(exc))


@app.command()
def explain(
    text: Annotated[str, typer.Argument(help="Report or sentence text to explain.")],
    labels: LabelsOption = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="Report language: en or zh (default: the label set's, else en).")
    ] = None,
    parser: ParserOption = "spacy",
) -> None:
    """Show how a text is labelled and the rule that decided each label. English: sentences, canonical graph
    edges, mentions. Chinese: sentences, clauses with their cue, matched exemplars (dong10) or routed
    statements with templates/terms (regions5)."""
    from cxrlabel.registry import load_label_set

    try:
        if lang not in (None, "en", "zh"):
            raise UserError(f"unknown language {lang!r}: choose en or zh")
        label_set = load_label_set(labels or ("dong10" if lang == "zh" else "chestxray14"))
        lang = lang or label_set.lang
        if label_set.lang != lang:
            raise UserError(f"label set {label_set.name!r} is for --lang {label_set.lang}, not {lang}")
        if lang == "zh":
            from cxrlabel.zh.explain import explain_text as explain_chinese

            explain_chinese(text, label_set)
        else:
            from cxrlabel.en.explain import explain_text

            explain_text(text, labels=labels or "chestxray14", parser=parser)
    except UserError as exc:
        fail(str(exc))


@rules_app.command("lint")
def rules_lint(
    rules_dir: Annotated[
        Path | None, typer.Option("--rules-dir", help="Rules folder to check (default: the installed one).")
    ] = None,
) -> None:
    """Validate every rule, vocabulary and label-set file; print file:line messages; exit 1 on problems."""
    from cxrlabel.lint import lint_rules

    problems = lint_rules(rules_dir)
    for problem in problems:
        typer.echo(problem)
    if problems:
        fail(f"{len(problems)} problem(s)", code=1)
    typer.echo("rules: OK")

from cxrlabel.extras import needs_extra  # noqa: E402
from cxrlabel.zh.cluster_command import cluster  # noqa: E402

app.command()(needs_extra("zh", "cxrlabel cluster")(cluster))
from cxrlabel.imageset.build_command import build  # noqa: E402

app.command()(needs_extra("build", "cxrlabel build")(build))
from cxrlabel.review.command import review  # noqa: E402

app.command()(review)
