"""`cxrlabel build`: mined labels (+ DICOM/PNG/JPEG images) → a Hugging Face dataset on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _optional_path(flag: str, help: str) -> object:
    """The annotation of a path option that may be left out (None)."""
    return Annotated[Path | None, typer.Option(flag, help=help)]


def build(
    labels: Annotated[Path, typer.Option("--labels", help="labels.csv written by `cxrlabel mine` (its summary.json "
                                         "beside it names the label set), or a public layout's labels: NIH "
                                         "Data_Entry_2017*.csv, CheXpert train.csv / valid.csv, MIMIC-CXR-JPG "
                                         "*-chexpert.csv / *-negbio.csv, or a generic labels table (see README).")],
    out: Annotated[Path, typer.Option("--out", help="Dataset folder: save_to_disk layout, parquet/<split>/ shards, "
                                      "summary.json, README.md card, errors.csv. New, empty or an earlier build's "
                                      "(only what a build wrote is ever replaced).")],
    id_salt: Annotated[
        str | None,
        typer.Option("--id-salt", envvar="CXRLABEL_ID_SALT",
                     help="Secret key of the patient-id / path hashes (or env CXRLABEL_ID_SALT); required; stored "
                     "nowhere in the output. Keep it to rebuild with the same pseudonyms."),
    ] = None,
    images: _optional_path("--images", "Images root (DICOM, PNG, JPEG). Omit for a text-only dataset.") = None,
    manifest: _optional_path("--manifest", "CSV report id → image path relative to --images (+ optional view / "
                             "projection and patient_id columns), e.g. OpenI projections.csv. Without it, DICOM "
                             "AccessionNumber, then StudyInstanceUID, are matched to report ids. Text-only builds "
                             "with a manifest get one row per listed image.") = None,
    reports: _optional_path("--reports", "The mined reports (CSV / JSONL / .txt folder), read for --text.") = None,
    text: Annotated[
        str, typer.Option("--text", help="Store report text: findings and / or impression (comma-separated), "
                          "de-identified with Presidio. Default: no free text in the dataset.")
    ] = "",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Build in a non-empty folder that no build wrote; "
                                            "its files are kept, never replaced.")] = False,
    views: Annotated[str, typer.Option("--views", help="all, or frontal (PA / AP only; from the manifest view "
                                       "column or the DICOM ViewPosition).")] = "all",
    size: Annotated[
        int, typer.Option("--size", min=32, max=8192, help="Square output size; aspect kept by black padding.")
    ] = 1024,
    bits: Annotated[int, typer.Option("--bits", help="PNG bit depth: 8 or 16.")] = 8,
    source: Annotated[str, typer.Option("--source", help="Layout of --labels: auto (from its header), mined, nih, "
                                        "chexpert, mimic, table. Open-i: mined labels + --manifest projections.csv.")
                      ] = "auto",
    split_from: Annotated[
        list[Path] | None,
        typer.Option("--split-from", help="A given split, kept as given: split lists (NIH train_val_list.txt, "
                     "test_list.txt: the file name says the split) or a CSV with an image and a split column "
                     "(NIH nih_images.csv, MIMIC *-split.csv; for mined labels, keyed by the manifest's or the DICOM "
                     "file names). Repeatable. NIH's lists beside Data_Entry are used when none is given."),
    ] = None,
    uncertain: Annotated[str, typer.Option("--uncertain", help="Uncertain labels (CheXpert policies): ignore (kept "
                                           "as uncertain), zeros (negative) or ones (positive).")] = "ignore",
    min_paired: Annotated[float, typer.Option("--min-paired", min=0.0, max=1.0, help="Refuse the build (exit 1, "
                                              "nothing written) when fewer than this share of the image files "
                                              "pair, or a split given by the source pairs no image; 0: off.")
                          ] = 0.5,
    split: Annotated[str, typer.Option("--split", help="train/validation/test ratios, by patient (when the source "
                                       "gives no split).")] = "70/10/20",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the patient split.")] = 0,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes decoding images.")] = 1,
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Rows per shard (the unit of --resume).")
                          ] = 1000,
    resume: Annotated[bool, typer.Option("--resume", help="Keep the finished shards of an interrupted build "
                                         "(same inputs and options).")] = False,
    hash_report_ids: Annotated[
        bool | None,
        typer.Option("--hash-report-ids/--keep-report-ids", help="Store report ids as keyed hashes (use when they are "
                     "accession numbers). Default: hashed when they come from DICOM tags or a generic --source table, "
                     "kept otherwise (mined ids, NIH / CheXpert / MIMIC ids)."),
    ] = None,
    source_map: _optional_path("--source-map", "Also write re-keyed name → original path to this CSV, for the "
                               "data holder (must be outside --out).") = None,
    shard: Annotated[str | None, typer.Option("--shard", help="I/N: build only shard I of N (1..N), the rows of the "
                                              "patients whose key hashes there (all images of a patient in one "
                                              "shard); join the N datasets' splits with "
                                              "datasets.concatenate_datasets.")] = None,
) -> None:
    """Pair each report's labels with its images (or build a text-only label dataset), convert DICOM with its
    stored window to square PNGs, split by patient and write a `datasets` DatasetDict with features image,
    labels (ClassLabel names = label set), label_states, report_id, patient_id (keyed hash), view, findings,
    impression, source_path (re-keyed), plus parquet shards, summary.json, a dataset card and errors.csv."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cxrlabel.errors import UserError, fail
    from cxrlabel.imageset.dataset import BuildOptions, DatasetBuilder
    from cxrlabel.imageset.layouts import SOURCES, UNCERTAIN_POLICIES
    from cxrlabel.imageset.pairing_check import PairingError
    from cxrlabel.imageset.splits import parse_ratios
    from cxrlabel.imageset.texts import parse_text_fields
    from cxrlabel.sharding import parse_shard

    console = Console(stderr=True)

    if not id_salt:
        fail("--id-salt is required: a secret key for hashing patient ids (keep it outside the dataset)")
    if len(id_salt) < 12:
        console.print("[yellow]note:[/] an --id-salt shorter than 12 characters can be guessed from the hashes; "
                      "use a long random secret for real data")
    if views not in ("all", "frontal"):
        fail("--views takes all or frontal")
    if bits not in (8, 16):
        fail("--bits takes 8 or 16")
    if source not in SOURCES:
        fail(f"--source takes {', '.join(SOURCES)}")
    if uncertain not in UNCERTAIN_POLICIES:
        fail(f"--uncertain takes {', '.join(UNCERTAIN_POLICIES)}")
    if manifest is not None and images is None:
        console.print("text-only build with a manifest: one row per listed image")
    try:
        ratios = parse_ratios(split)
        text_fields = parse_text_fields(text)
        parsed_shard = parse_shard(shard)
    except (ValueError, UserError) as exc:
        fail(exc)
    if reports is not None and not text_fields:
        console.print("[yellow]note:[/] --reports without --text: no report text is stored (add --text "
                      "findings,impression to store it, de-identified)")
    options = BuildOptions(out=out, size=size, bits=bits, frontal_only=views == "frontal", ratios=ratios, seed=seed,
                           salt=id_salt, workers=workers, shard_size=shard_size, resume=resume,
                           hash_report_ids=hash_report_ids, text_fields=text_fields, overwrite=overwrite,
                           source=source, split_from=tuple(split_from or ()), uncertain=uncertain,
                           min_paired=min_paired, shard=parsed_shard)
    try:
        builder = DatasetBuilder(labels, options, reports, manifest)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            summary = builder.build(images, manifest, progress, source_map)
    except PairingError as exc:  # console only: these lines name files and ids, which the dataset never holds
        console.print(f"[bold red]error:[/] {exc}")
        for line in exc.details:
            console.print(f"  {line}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    except UserError as exc:
        fail(exc)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted:[/] run the same command with --resume to keep the finished shards")
        raise typer.Exit(130) from None
    for note in builder.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(f"source: {summary['source']}; split: "
                  f"{'as given (' + summary['split_from'] + ')' if summary['split_from'] else 'by patient'}")
    if summary["listed_without_image_file"]:
        console.print(f"{summary['listed_without_image_file']} listed images are not under {images} (a subset): "
                      "left out")
    rows = {name: split_summary["rows"] for name, split_summary in summary["splits"].items()}
    patients = {name: split_summary["patients"] for name, split_summary in summary["splits"].items()}
    console.print(f"dataset → {out}: rows {rows}, patients {patients}; {summary['excluded_views']} non-frontal "
                  f"views left out; {summary['skipped_non_image_files']} non-image files skipped; {summary['errors']} "
                  f"problems in {out / 'errors.csv'}")
    if summary["patient_id_from"].get("report id"):
        console.print(f"[yellow]note:[/] {summary['patient_id_from']['report id']} rows had no patient id "
                      "(manifest patient_id column or DICOM PatientID); each of their reports counts as its own "
                      "patient in the split")
