"""`cxrtrain` command line: fit, evaluate, heatmap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Train and evaluate multi-label chest X-ray classifiers on datasets built by `cxrlabel build`.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def fit(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder written by `cxrlabel build` (with images).")],
    out: Annotated[Path, typer.Option("--out", help="Run folder: best.pt, last.pt, train_log.jsonl, config.json.")],
    backbone: Annotated[
        str, typer.Option(help="resnet-50, resnet-18, resnet-101, convnext-tiny (or tiny).")
    ] = "resnet-50",
    pretrained: Annotated[str, typer.Option(
        help="auto (hub checkpoint of the backbone when reachable), none, or a hub name / local path. "
             "Unreachable weights → random init.")] = "auto",
    pool: Annotated[str, typer.Option(help="Global pooling: avg, max or lse.")] = "lse",
    lse_r: Annotated[float, typer.Option(help="LSE sharpness r (small → mean, large → max).")] = 10.0,
    transition: Annotated[int, typer.Option(help="Channels D of the transition layer.")] = 1024,
    loss: Annotated[str, typer.Option(help="bce or wcel (positive/negative balanced, ChestX-ray8).")] = "wcel",
    optimizer: Annotated[str, typer.Option(help="adamw or sgd.")] = "adamw",
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-4,
    schedule: Annotated[str, typer.Option(help="cosine or step.")] = "cosine",
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    accumulate: Annotated[int, typer.Option(min=1, help="Gradient accumulation steps.")] = 1,
    patience: Annotated[int, typer.Option(min=1, help="Early stop after this many epochs without AUC gain.")] = 3,
    min_share: Annotated[
        float, typer.Option(help="Re-sample so each label is ≥ this share (e.g. 0.03); 0 = off.")
    ] = 0.0,
    resize: Annotated[int, typer.Option(help="Resize before cropping.")] = 256,
    crop: Annotated[int, typer.Option(help="Random crop (train) / centre crop (eval) size.")] = 224,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes.")] = 0,
    seed: Annotated[int, typer.Option()] = 0,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model (GPU).")] = False,
    max_steps: Annotated[int, typer.Option(min=0, help="Cap on steps per epoch (0 = whole split).")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
) -> None:
    """Fine-tune a CNN (transformers backbone, ChestX-ray8 head) with sigmoid multi-label outputs. Uses the GPU
    when present (bf16 autocast, channels_last), the CPU otherwise. Multi-GPU: see the README (torchrun)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cxrtrain.data import Preprocessing
    from cxrtrain.train import TrainConfig
    from cxrtrain.train import fit as run_fit

    choices = {"pool": (pool, ("avg", "max", "lse")), "loss": (loss, ("bce", "wcel")),
               "optimizer": (optimizer, ("adamw", "sgd")), "schedule": (schedule, ("cosine", "step"))}
    for option, (value, allowed) in choices.items():
        if value not in allowed:
            _fail(f"--{option} takes {' or '.join(allowed)}")
    if crop > resize:
        _fail("--crop must not exceed --resize")
    config = TrainConfig(backbone=backbone, pretrained=pretrained, pool=pool, lse_r=lse_r, transition=transition,
                         loss=loss, optimizer=optimizer, lr=lr, schedule=schedule, epochs=epochs,
                         batch_size=batch_size, accumulate=accumulate, patience=patience, min_share=min_share,
                         seed=seed, workers=workers, compile=compile_model, max_steps=max_steps,
                         prep=Preprocessing(resize=resize, crop=crop))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn()) as progress:
        try:
            result = run_fit(str(dataset), out, config, resume=resume, progress=progress, log=progress.console.print)
        except (ValueError, FileNotFoundError) as exc:
            _fail(str(exc))
    typer.echo(f"best validation mean AUC {result['best_val_mean_auc']:.4f} → {out}/best.pt")


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder of `cxrtrain fit`.")],
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    dataset: Annotated[Path | None, typer.Option(help="Dataset folder (default: the one the run trained on).")] = None,
    crops: Annotated[str, typer.Option(help="center or five (average of 5 crops, Dong et al.).")] = "center",
) -> None:
    """Write RUN/metrics.json (per label AUC, sensitivity and specificity at the Youden threshold chosen on the
    validation split, top-3 sensitivity, support; mean AUC; mean per-image average precision) and RUN/roc.png."""
    from rich.console import Console
    from rich.table import Table

    from cxrtrain.evaluate import evaluate_run

    try:
        result = evaluate_run(run, split, str(dataset) if dataset else None, crops)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        _fail(str(exc))
    table = Table(title=f"{split}: {result['n_images']} images")
    for column in ("label", "AUC", "sensitivity", "specificity", "top-3 sens.", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")

    def fmt(value):
        return "—" if value is None else f"{value:.3f}"

    for name, row in result["labels"].items():
        table.add_row(name, fmt(row["auc"]), fmt(row["sensitivity"]), fmt(row["specificity"]),
                      fmt(row["top3_sensitivity"]), str(row["support"]))
    Console().print(table)
    typer.echo(f"mean AUC {fmt(result['mean_auc'])}, mean per-image AP {fmt(result['mean_average_precision'])}")


@app.command()
def heatmap(
    run: Annotated[Path, typer.Argument(help="Run folder of `cxrtrain fit`.")],
    target: Annotated[str, typer.Argument(help="An image file (PNG/JPEG/DICOM) or a split name of the dataset.")],
    bbox: Annotated[
        Path | None, typer.Option("--bbox", help="Gold boxes CSV: Image Index, Finding Label, x, y, w, h.")
    ] = None,
    thresholds: Annotated[str, typer.Option(help="Heatmap thresholds on the [0, 255] scale.")] = "60,180",
    max_images: Annotated[int, typer.Option(help="Images drawn from a split.")] = 20,
    top: Annotated[int, typer.Option(help="Labels drawn per image (highest scores).")] = 2,
) -> None:
    """Class activation maps overlaid on the image with the boxes of the thresholded heatmap, written to
    RUN/heatmaps/. With --bbox, localisation accuracy and average false positives at T(IoBB) and T(IoU)
    go to RUN/localisation.json (boxes in the dataset image's pixel coordinates)."""
    import numpy as np
    import torch

    from cxrtrain.data import Preprocessing, image_tensor, normalise
    from cxrtrain.evaluate import load_run
    from cxrtrain.heatmap import (
        boxes_from_heatmap,
        cam_for_image,
        localisation_scores,
        normalise_heatmap,
        overlay,
        read_gold_boxes,
    )
    from cxrtrain.train import device_for_run

    device = device_for_run()
    try:
        model, checkpoint = load_run(run, device)
    except FileNotFoundError as exc:
        _fail(str(exc))
    names = checkpoint["label_names"]
    prep = Preprocessing(**{**checkpoint["config"]["prep"]})
    cuts = [float(v) for v in thresholds.split(",")]
    items = []
    if Path(target).is_file():
        from cxrlabel.build.images import read_image

        pixels = read_image(Path(target)).pixels
        from PIL import Image

        items.append((Path(target).name, Image.fromarray((pixels * 255).astype(np.uint8), mode="L")))
    else:
        from cxrtrain.data import load_splits

        dataset, _ = load_splits(checkpoint["dataset"])
        if target not in dataset:
            _fail(f"{target!r} is neither an image file nor a split ({', '.join(dataset)})")
        split = dataset[target]
        for index in range(min(max_images, split.num_rows)):
            row = split[index]
            items.append((row["report_id"], row["image"]))
    gold = read_gold_boxes(bbox) if bbox else {}
    predicted: dict[float, dict] = {cut: {} for cut in cuts}
    out = run / "heatmaps"
    out.mkdir(parents=True, exist_ok=True)
    for key, image in items:
        tensor = normalise(image_tensor(image, prep.crop), prep).to(device)
        size = (image.height, image.width)
        with torch.no_grad():
            scores = torch.sigmoid(model(tensor[None]).float())[0].cpu().numpy()
        cams = cam_for_image(model, tensor, size)
        wanted = {label for (k, label) in gold if k == key} or {names[i] for i in np.argsort(-scores)[:top]}
        background = np.asarray(image.convert("L"))
        for label in sorted(wanted & set(names)):
            k = names.index(label)
            heat = normalise_heatmap(cams[k])
            for cut in cuts:
                predicted[cut][(key, label)] = boxes_from_heatmap(heat, cut)
            overlay(background, heat, predicted[cuts[0]][(key, label)], f"{key} · {label} · p={scores[k]:.2f}",
                    out / f"{key}_{label}.png".replace("/", "_"))
    typer.echo(f"{len(items)} image(s) → {out}")
    if gold:
        report = {f"heatmap>{cut:g}": localisation_scores(gold, predicted[cut], len(items)) for cut in cuts}
        (run / "localisation.json").write_text(json.dumps(report, indent=2))
        typer.echo(f"localisation scores → {run / 'localisation.json'}")
