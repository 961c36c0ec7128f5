"""`cxrtrain` command line: fit, evaluate, heatmap, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxrlabel.errors import UserError, fail
from cxrlabel.extras import needs_extra
from cxrtrain.recipes import DEFAULT_RECIPE, NO_RECIPE

app = typer.Typer(help="Train and evaluate multi-label chest X-ray classifiers on datasets built by `cxrlabel build`.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


@app.command()
@needs_extra("train", "cxrtrain fit")
def fit(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(help="Dataset folder written by `cxrlabel build` (with images).")],
    out: Annotated[Path, typer.Option("--out", help="Run folder: best.pt, last.pt, train_log.jsonl, config.json.")],
    backbone: Annotated[str, typer.Option(
        help="Architecture: a transformers hub name (microsoft/resnet-50, microsoft/resnet-18, microsoft/resnet-101, "
             "facebook/convnext-tiny-224, any AutoBackbone checkpoint), a local checkpoint folder, the short names "
             "resnet-18/50/101, convnext-tiny, tiny; or built in with torchvision's / timm's parameter names: "
             "densenet121 (CheXNet), resnet18, resnet34, resnet50, resnet101, efficientnet_b0, convnext_tiny (also "
             "as timm:NAME, torchvision:NAME)."
    )] = "microsoft/resnet-50",
    pretrained: Annotated[str, typer.Option(
        help="Weights: auto (those of --backbone; timm's hub weights for the built-in ones), a hub NAME, a "
             "transformers folder, a weight FILE (.pth/.pt/.bin/.safetensors from torchvision, timm or "
             "torchxrayvision; the tensors loaded / missing / unexpected are listed on one line), or none (random "
             "init). A hub name that cannot be reached → random init, said on the first line.")] = "auto",
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
    flip: Annotated[bool, typer.Option(help="Flip training crops left-right at random (CheXNet's augmentation).")
                    ] = False,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes (per GPU).")] = 0,
    seed: Annotated[int, typer.Option()] = 0,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    max_steps: Annotated[int, typer.Option(min=0, help="Cap on steps per epoch (0 = whole split).")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt (same options).")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Stop at the first row whose image cannot be decoded (default: skip it, count it in "
                         "train_log.jsonl and list it in OUT/errors.csv).")] = False,
    recipe: Annotated[str, typer.Option(
        help="A paper's defaults: chestxray8, chexnet or dong2017 (see README), or none (the options' own "
             f"defaults); options given here override them. Default {DEFAULT_RECIPE}: the best out-of-fold AUC in "
             "benchmarks/nih_small.py.")] = DEFAULT_RECIPE,
    min_positives: Annotated[int, typer.Option(
        help="Select the best epoch on the mean validation AUC over labels with at least this many positives "
             "(all labels with an AUC, with a warning, when none has).")] = 5,
) -> None:
    """Fine-tune a CNN (transformers backbone, ChestX-ray8 head: transition layer, pooling, prediction layer) with
    sigmoid multi-label outputs; early stopping on the validation mean AUC. Uses the GPU when present (bf16
    autocast, channels_last, pinned memory), the CPU otherwise. Multi-GPU: `torchrun --nproc-per-node N -m cxrtrain
    fit ...`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cxrtrain.data import Preprocessing
    from cxrtrain.recipes import apply_recipe
    from cxrtrain.train import TrainConfig
    from cxrtrain.train import fit as run_fit

    given = {"backbone": backbone, "pretrained": pretrained, "pool": pool, "lse_r": lse_r, "transition": transition,
             "loss": loss, "optimizer": optimizer, "lr": lr, "weight_decay": weight_decay, "schedule": schedule,
             "epochs": epochs, "batch_size": batch_size, "accumulate": accumulate, "patience": patience,
             "min_share": min_share, "seed": seed, "workers": workers, "compile": compile_model,
             "max_steps": max_steps, "min_positives": min_positives, "resize": resize, "crop": crop,
             "flip": flip, "test_crops": "center"}
    explicit = {name for name in ctx.params if ctx.get_parameter_source(name).name in ("COMMANDLINE", "ENVIRONMENT")}
    try:
        settings = apply_recipe(recipe, given, explicit)
    except UserError as exc:
        fail(exc)
    prep = Preprocessing(**{key: settings.pop(key) for key in ("resize", "crop", "test_crops", "flip")})
    config = TrainConfig(**settings, recipe="" if recipe == NO_RECIPE else recipe, prep=prep)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn()) as progress:
        try:
            def log(message: str) -> None:  # one line each (no wrapping), paths printed as they are (no markup)
                progress.console.print(message, soft_wrap=True, markup=False, highlight=False)

            result = run_fit(str(dataset), out, config, resume=resume, progress=progress, log=log, strict=strict)
        except UserError as exc:
            fail(exc)
    if result["history"]:
        typer.echo(f"best validation mean AUC {result['best_val_mean_auc']:.4f} → {out / 'best.pt'}")


@app.command()
@needs_extra("train", "cxrtrain evaluate")
def evaluate(
    runs: Annotated[list[Path], typer.Argument(
        help="Run folder of `cxrtrain fit`; several folders: an ensemble (their scores averaged), written to --out.",
        metavar="RUN...")],
    out: Annotated[Path | None, typer.Option(
        help="Folder for metrics.json, roc.png and thresholds.json (default: the run folder; needed for an "
             "ensemble).")] = None,
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    dataset: Annotated[Path | None, typer.Option(help="Dataset folder (default: the one the run trained on).")] = None,
    crops: Annotated[str | None, typer.Option(
        help="center, or five (mean of 4 corners + centre, Dong et al.); default: the run's recipe (center unless "
             "dong2017).")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Stop at the first row whose image cannot be decoded (default: leave it out of the scores, "
                         "count it in metrics.json and list it in RUN/evaluate_errors.csv).")] = False,
    min_positives: Annotated[int, typer.Option(
        help="The mean AUC is over labels with at least this many positives in the split; the others are listed "
             "apart.")] = 5,
    bootstrap: Annotated[int, typer.Option(
        help="Bootstrap resamples of the images for the 95 % intervals (0 = none).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 0,
) -> None:
    """Write RUN/metrics.json (per label AUC with bootstrap 95 % interval, sensitivity and specificity at the Youden
    threshold chosen on the validation split and stored in RUN/thresholds.json, top-3 sensitivity, support; mean AUC
    over labels with ≥ --min-positives positives, with its interval; mean per-image average precision), RUN/roc.png,
    and print the table. Several RUNs: an ensemble (e.g. the same recipe trained with --seed 0, 1, 2): each image's
    scores are the mean of the runs' scores, thresholds are chosen on the ensemble's validation scores, and the
    files go to --out."""
    from rich.console import Console
    from rich.table import Table

    from cxrtrain.data import SkipLog
    from cxrtrain.evaluate import THRESHOLD_METHOD, evaluate_run

    skips = SkipLog(strict)
    if len(runs) > 1 and out is None:
        fail("an ensemble of several runs needs --out (the folder for its metrics.json, roc.png and thresholds.json)")
    try:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        result = evaluate_run(out or runs[0], split, str(dataset) if dataset else None, crops, skips, min_positives,
                              bootstrap, seed, members=runs if out is not None else None)
    except OSError as exc:
        fail(f"{out or runs[0]}: cannot write there ({exc.strerror or exc})")
    except UserError as exc:
        fail(exc)

    def fmt(value):
        return "—" if value is None else f"{value:.3f}"

    def fmt_ci(interval):
        return "—" if interval is None else f"{interval[0]:.3f}–{interval[1]:.3f}"

    columns = ("label", "AUC", "95% CI", "sens.", "spec.", "top-3", "support")
    in_mean, rest = result["mean_auc_labels"], result["labels_below_min_positives"]
    console = Console()
    for title, names in ((f"{split}: {result['n_images']} images ({result['crops']} crop)", in_mean),
                         (f"fewer than {min_positives} positives (not in the mean)", rest)):
        if not names:
            continue
        table = Table(title=title, caption="sens. / spec. at the Youden threshold; top-3: top-3 sensitivity")
        for column in columns:
            table.add_column(column, justify="left" if column == "label" else "right", no_wrap=True)
        for name in names:
            row = result["labels"][name]
            table.add_row(name, fmt(row["auc"]), fmt_ci(row["ci95"]), fmt(row["sensitivity"]),
                          fmt(row["specificity"]), fmt(row["top3_sensitivity"]), str(row["support"]))
        console.print(table)
    if result["mean_auc_fallback"]:
        typer.echo(f"warning: no label has ≥ {min_positives} positives in the {split} split; the mean is over every "
                   "label with positives and negatives")
    typer.echo(f"mean AUC {fmt(result['mean_auc'])} (95% CI {fmt_ci(result['mean_auc_ci95'])}) over "
               f"{len(in_mean)} labels with ≥ {min_positives} positives; over all labels with an AUC "
               f"{fmt(result['mean_auc_all_labels'])}; mean per-image AP {fmt(result['mean_average_precision'])}")
    written = out or runs[0]
    typer.echo(f"sensitivity / specificity thresholds: {THRESHOLD_METHOD} ({written / 'thresholds.json'})")
    typer.echo(f"→ {written / 'metrics.json'}, {written / 'roc.png'}")
    if skips.rows:
        typer.echo(f"{skips.summary()} → {written / 'evaluate_errors.csv'}")


@app.command()
@needs_extra("train", "cxrtrain heatmap")
def heatmap(
    run: Annotated[Path, typer.Argument(help="Run folder of `cxrtrain fit`.")],
    target: Annotated[str, typer.Argument(help="An image file or folder (PNG/JPEG/DICOM), or a split name.")],
    bbox: Annotated[Path | None, typer.Option(
        "--bbox", help="Gold boxes CSV: Image Index, Finding Label, x, y, w, h (NIH's BBox_List_2017.csv as it is).")
    ] = None,
    bbox_size: Annotated[str | None, typer.Option(
        "--bbox-size", help="N or WxH: the image size the box coordinates refer to. Default: 1024 for NIH's box "
                            "file, else the dataset's original_width / original_height, else the drawn image.")
    ] = None,
    thresholds: Annotated[str, typer.Option(help="Heatmap thresholds on the [0, 255] scale.")] = "60,180",
    max_images: Annotated[int, typer.Option(min=1, help="Most images drawn.")] = 20,
    top: Annotated[int, typer.Option(min=1, help="Labels drawn per image without gold boxes (top scores).")] = 2,
) -> None:
    """Class activation maps (transition-layer activations × prediction weights) overlaid on the images with the
    gold boxes and the boxes of the thresholded heatmap, in RUN/heatmaps/. With --bbox, per-class localisation
    accuracy and average false positives at T(IoBB) and T(IoU) ∈ {0.1, 0.25, 0.5, 0.75, 0.9} go to
    RUN/localisation.json and RUN/localisation.png; images are matched by file name with or without extension (or a
    split's report_id / source file name), classes by name or alias (Infiltrate → Infiltration); boxes not used
    are listed with the reason in RUN/heatmaps/boxes_dropped.csv."""
    from cxrtrain.gold_boxes import parse_box_size
    from cxrtrain.heatmap import heatmap_run

    try:
        cuts = tuple(float(v) for v in thresholds.split(","))
    except ValueError:
        fail("--thresholds is a comma-separated list of numbers, e.g. 60,180")
    try:
        size = parse_box_size(bbox_size) if bbox_size else None
        summary = heatmap_run(run, target, bbox, cuts, max_images, top, size)
    except UserError as exc:
        fail(exc)
    report_boxes(summary)
    if summary["skipped"]:
        typer.echo(f"{summary['skipped']} unreadable image(s) skipped → {summary['errors']}", err=True)
    if not summary["images"]:
        fail(f"none of the {summary['skipped']} image(s) could be read (reasons in {summary['errors']})", code=1)
    typer.echo(f"{summary['images']} image(s) → {summary['out']}")
    if "localisation" in summary:
        spaces = ", ".join(f"{n} from {space}" for space, n in summary["box_spaces"].items())
        typer.echo(f"{summary['gold_boxes']} gold box(es) drawn ({spaces or 'none'} px, scaled to the drawn images); "
                   f"localisation scores → {summary['localisation']}")


@app.command()
@needs_extra("train", "cxrtrain report")
def report(
    run: Annotated[Path, typer.Argument(help="Run folder of `cxrtrain fit` (or an ensemble's `evaluate --out`).")],
    out: Annotated[Path | None, typer.Option(help="The HTML file (default: RUN/report.html).")] = None,
    max_heatmaps: Annotated[int, typer.Option(min=0, help="Most heatmap overlays embedded (by file name).")] = 48,
) -> None:
    """One self-contained HTML page of the run (no network; images embedded): settings and training curve, the
    per-class AUC table with 95 % intervals and thresholds, the ROC curves, the localisation table and a grid of
    the heatmap overlays with gold and predicted boxes. What is not made yet is named with its command."""
    from cxrtrain.report import write_report

    try:
        written = write_report(run, out, max_heatmaps)
    except UserError as exc:
        fail(exc)
    shown = f"{written['heatmaps']} of {written['heatmaps_total']} heatmap(s)"
    typer.echo(f"→ {written['out']} ({written['bytes'] / 1e6:.1f} MB, {shown})")
    for line in written["missing"]:
        typer.echo(f"note: {line}")


def report_boxes(summary: dict, per_reason: int = 10) -> None:
    """A warning line per gold box not used (the first `per_reason` of each reason; all are in the CSV), the counts
    by reason, and the boxes that end outside their image."""
    from collections import Counter

    dropped = summary["dropped"]
    counts = Counter(d.reason for d in dropped)
    shown: Counter = Counter()
    for box in dropped:
        shown[box.reason] += 1
        if shown[box.reason] <= per_reason:
            typer.echo(f"warning: box at line {box.line} ({box.image}, {box.label}) not used: {box.reason}", err=True)
    for reason, count in counts.items():
        more = f" ({count - per_reason} not shown above)" if count > per_reason else ""
        typer.echo(f"warning: {count} box(es) not used: {reason}{more}", err=True)
    if dropped:
        typer.echo(f"warning: {len(dropped)} gold box(es) not used in all → {summary['dropped_csv']}", err=True)
    for line in summary["warnings"]:
        typer.echo(f"warning: {line}", err=True)
