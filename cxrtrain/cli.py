"""`cxrtrain` command line: fit, evaluate, heatmap."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxrlabel.errors import UserError

app = typer.Typer(help="Train and evaluate multi-label chest X-ray classifiers on datasets built by `cxrlabel build`.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


def _fail(exc: UserError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


@app.command()
def fit(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder written by `cxrlabel build` (with images).")],
    out: Annotated[Path, typer.Option("--out", help="Run folder: best.pt, last.pt, train_log.jsonl, config.json.")],
    backbone: Annotated[str, typer.Option(
        help="Architecture: a hub name (microsoft/resnet-50, microsoft/resnet-18, microsoft/resnet-101, "
             "facebook/convnext-tiny-224, any AutoBackbone checkpoint), a local checkpoint folder, or the short "
             "names resnet-18/50/101, convnext-tiny, tiny.")] = "microsoft/resnet-50",
    pretrained: Annotated[str, typer.Option(
        help="Weights: auto (those of --backbone), a hub NAME, a local PATH, or none (random init). A hub name that "
             "cannot be reached → random init, said on the first line.")] = "auto",
    pool: Annotated[str, typer.Option(help="Global pooling: avg, max or lse.")] = "lse",
    lse_r: Annotated[float, typer.Option(help="LSE sharpness r (small → mean, large → max).")] = 10.0,
    transition: Annotated[int, typer.Option(min=1, help="Channels D of the transition layer.")] = 1024,
    loss: Annotated[str, typer.Option(help="bce or wcel (positive/negative balanced, ChestX-ray8).")] = "wcel",
    optimizer: Annotated[str, typer.Option(help="adamw or sgd (momentum 0.9).")] = "adamw",
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-4,
    weight_decay: Annotated[float, typer.Option()] = 1e-4,
    schedule: Annotated[str, typer.Option(help="cosine (over --epochs) or step (×0.1 every epochs/3).")] = "cosine",
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per step (per GPU under torchrun).")] = 32,
    accumulate: Annotated[int, typer.Option(min=1, help="Gradient accumulation steps.")] = 1,
    patience: Annotated[int, typer.Option(min=1, help="Early stop after this many epochs without AUC gain.")] = 3,
    min_share: Annotated[float, typer.Option(
        help="Re-sample so each label is ≥ this share of drawn images (Dong et al.: 0.03); 0 = off.")] = 0.0,
    resize: Annotated[int, typer.Option(min=1, help="Resize (square) before cropping.")] = 256,
    crop: Annotated[int, typer.Option(min=1, help="Random crop (train) / centre crop (validation) size.")] = 224,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes (per GPU).")] = 0,
    seed: Annotated[int, typer.Option()] = 0,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    max_steps: Annotated[int, typer.Option(min=0, help="Cap on steps per epoch (0 = whole split).")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt (same options).")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Stop at the first row whose image cannot be decoded (default: skip it, count it in "
                         "train_log.jsonl and list it in OUT/errors.csv).")] = False,
) -> None:
    """Fine-tune a CNN (transformers backbone, ChestX-ray8 head: transition layer, pooling, prediction layer) with
    sigmoid multi-label outputs; early stopping on the validation mean AUC. Uses the GPU when present (bf16
    autocast, channels_last, pinned memory), the CPU otherwise. Multi-GPU: `torchrun --nproc-per-node N -m cxrtrain
    fit ...`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cxrtrain.data import Preprocessing
    from cxrtrain.train import TrainConfig
    from cxrtrain.train import fit as run_fit

    config = TrainConfig(backbone=backbone, pretrained=pretrained, pool=pool, lse_r=lse_r, transition=transition,
                         loss=loss, optimizer=optimizer, lr=lr, weight_decay=weight_decay, schedule=schedule,
                         epochs=epochs, batch_size=batch_size, accumulate=accumulate, patience=patience,
                         min_share=min_share, seed=seed, workers=workers, compile=compile_model,
                         max_steps=max_steps, prep=Preprocessing(resize=resize, crop=crop))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn()) as progress:
        try:
            def log(message: str) -> None:  # one line each (no wrapping), paths printed as they are (no markup)
                progress.console.print(message, soft_wrap=True, markup=False, highlight=False)

            result = run_fit(str(dataset), out, config, resume=resume, progress=progress, log=log, strict=strict)
        except UserError as exc:
            _fail(exc)
    if result["history"]:
        typer.echo(f"best validation mean AUC {result['best_val_mean_auc']:.4f} → {out / 'best.pt'}")


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder of `cxrtrain fit`.")],
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    dataset: Annotated[Path | None, typer.Option(help="Dataset folder (default: the one the run trained on).")] = None,
    crops: Annotated[str, typer.Option(help="center, or five (mean of 4 corners + centre, Dong et al.).")] = "center",
    strict: Annotated[bool, typer.Option(
        "--strict", help="Stop at the first row whose image cannot be decoded (default: leave it out of the scores, "
                         "count it in metrics.json and list it in RUN/evaluate_errors.csv).")] = False,
) -> None:
    """Write RUN/metrics.json (per label AUC, sensitivity and specificity at the Youden threshold chosen on the
    validation split and stored in RUN/thresholds.json, top-3 sensitivity, support; mean AUC; mean per-image
    average precision), RUN/roc.png, and print the table."""
    from rich.console import Console
    from rich.table import Table

    from cxrtrain.data import SkipLog
    from cxrtrain.evaluate import evaluate_run

    skips = SkipLog(strict)
    try:
        result = evaluate_run(run, split, str(dataset) if dataset else None, crops, skips)
    except UserError as exc:
        _fail(exc)
    table = Table(title=f"{split}: {result['n_images']} images ({crops} crop)")
    for column in ("label", "AUC", "sensitivity", "specificity", "top-3 sens.", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")

    def fmt(value):
        return "—" if value is None else f"{value:.3f}"

    for name, row in result["labels"].items():
        table.add_row(name, fmt(row["auc"]), fmt(row["sensitivity"]), fmt(row["specificity"]),
                      fmt(row["top3_sensitivity"]), str(row["support"]))
    Console().print(table)
    typer.echo(f"mean AUC {fmt(result['mean_auc'])}, mean per-image AP {fmt(result['mean_average_precision'])} "
               f"→ {run / 'metrics.json'}, {run / 'roc.png'}")
    if skips.rows:
        typer.echo(f"{skips.summary()} → {run / 'evaluate_errors.csv'}")


@app.command()
def heatmap(
    run: Annotated[Path, typer.Argument(help="Run folder of `cxrtrain fit`.")],
    target: Annotated[str, typer.Argument(help="An image file or folder (PNG/JPEG/DICOM), or a split name.")],
    bbox: Annotated[
        Path | None, typer.Option("--bbox", help="Gold boxes CSV: Image Index, Finding Label, x, y, w, h.")
    ] = None,
    thresholds: Annotated[str, typer.Option(help="Heatmap thresholds on the [0, 255] scale.")] = "60,180",
    max_images: Annotated[int, typer.Option(min=1, help="Most images drawn.")] = 20,
    top: Annotated[int, typer.Option(min=1, help="Labels drawn per image without gold boxes (top scores).")] = 2,
) -> None:
    """Class activation maps (transition-layer activations × prediction weights) overlaid on the images with the
    boxes of the thresholded heatmap, in RUN/heatmaps/. With --bbox, per-class localisation accuracy and average
    false positives at T(IoBB) and T(IoU) ∈ {0.1, 0.25, 0.5, 0.75, 0.9} go to RUN/localisation.json; images are
    matched by file name (or a split's report_id / source file name); boxes are in the image's pixels."""
    from cxrtrain.heatmap import heatmap_run

    try:
        cuts = tuple(float(v) for v in thresholds.split(","))
    except ValueError:
        _fail(UserError("--thresholds is a comma-separated list of numbers, e.g. 60,180"))
    try:
        summary = heatmap_run(run, target, bbox, cuts, max_images, top)
    except UserError as exc:
        _fail(exc)
    if summary["skipped"]:
        typer.echo(f"{summary['skipped']} unreadable image(s) skipped → {summary['errors']}", err=True)
    if not summary["images"]:
        typer.echo(f"error: none of the {summary['skipped']} image(s) could be read (reasons in {summary['errors']})",
                   err=True)
        raise typer.Exit(1)
    typer.echo(f"{summary['images']} image(s) → {summary['out']}")
    if "localisation" in summary:
        typer.echo(f"localisation scores → {summary['localisation']}")
