"""`cxrlabel build`: mined labels (+ DICOM/PNG/JPEG images) → a Hugging Face dataset on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def build(
    labels: Annotated[Path, typer.Option("--labels", help="labels.csv written by `cxrlabel mine`.")],
    out: Annotated[Path, typer.Option("--out", help="Dataset folder (save_to_disk layout + parquet shards).")],
    id_salt: Annotated[
        str | None,
        typer.Option("--id-salt", envvar="CXRLABEL_ID_SALT",
                     help="Secret key for the patient-id and path hashes; required; stored nowhere in the output."),
    ] = None,
    images: Annotated[
        Path | None, typer.Option("--images", help="Images root (DICOM, PNG, JPEG). Omit for a text-only dataset.")
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", help="CSV report id → image path (+ view, patient), e.g. OpenI projections.csv. "
                     "Without it, DICOM AccessionNumber / StudyInstanceUID are matched to report ids."),
    ] = None,
    reports: Annotated[
        Path | None, typer.Option("--reports", help="The mined reports, to store findings / impression text.")
    ] = None,
    views: Annotated[str, typer.Option("--views", help="all, or frontal (PA/AP only).")] = "all",
    size: Annotated[
        int, typer.Option("--size", min=32, help="Square output size; aspect kept by black padding.")
    ] = 1024,
    bits: Annotated[int, typer.Option("--bits", help="PNG bit depth: 8 or 16.")] = 8,
    split: Annotated[str, typer.Option("--split", help="train/validation/test ratios, by patient.")] = "70/10/20",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the patient split.")] = 0,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes decoding images.")] = 1,
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Studies per shard.")] = 1000,
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished shards of an interrupted build.")] = False,
    errors: Annotated[
        Path | None,
        typer.Option("--errors", help="Errors CSV (default OUT.errors.csv, beside the dataset: it names source "
                     "files, so it is kept out of the shareable folder)."),
    ] = None,
) -> None:
    """Pair each report's labels with its images (or build a text-only label dataset), convert DICOM with its
    stored window to square PNGs, split by patient and write a `datasets` DatasetDict with features image,
    labels (ClassLabel names = label set), label_states, report_id, patient_id (keyed hash), view, findings,
    impression, source_path (re-keyed), plus parquet shards, summary.json and a dataset card."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cxrlabel.build.dataset import BuildOptions, DatasetBuilder
    from cxrlabel.build.splits import parse_ratios
    from cxrlabel.errors import UserError

    console = Console(stderr=True)

    def fail(message: str) -> None:
        console.print(f"[bold red]error:[/] {message}")
        raise typer.Exit(2)

    if not id_salt:
        fail("--id-salt is required: a secret key for hashing patient ids (keep it outside the dataset)")
    if views not in ("all", "frontal"):
        fail("--views takes all or frontal")
    if bits not in (8, 16):
        fail("--bits takes 8 or 16")
    try:
        ratios = parse_ratios(split)
    except ValueError as exc:
        fail(str(exc))
    options = BuildOptions(out=out, size=size, bits=bits, frontal_only=views == "frontal", ratios=ratios, seed=seed,
                           salt=id_salt, workers=workers, shard_size=shard_size, resume=resume)
    try:
        builder = DatasetBuilder(labels, options, reports)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            summary = builder.build(images, manifest, progress)
    except UserError as exc:
        fail(str(exc))
    errors_path = errors or out.with_name(out.name + ".errors.csv")
    builder.write_errors(errors_path)
    rows = {name: split_summary["rows"] for name, split_summary in summary["splits"].items()}
    console.print(f"dataset → {out}: {rows}; {summary['errors']} problems listed in {errors_path}")
