"""`cxrtrain fit`: train the multi-label network on a cxrlabel dataset, with checkpoints and early stopping.

One process per device; under `torchrun --nproc-per-node N` the same code runs DistributedDataParallel (NCCL on
GPUs, gloo on CPUs): every rank trains on its shard of each epoch, rank 0 validates, logs and saves.

The splits are checked before anything is written; rows with an unreadable image are skipped, counted per epoch in
train_log.jsonl and listed in RUN/errors.csv (all ranks' rows), or stop the run under `strict`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from cxrlabel.errors import UserError
from cxrtrain.data import (
    ChestXrayDataset,
    Preprocessing,
    SkipLog,
    check_training_splits,
    collate_rows,
    load_splits,
    model_input,
)
from cxrtrain.losses import LOSSES
from cxrtrain.metrics import Selection, mean_auc
from cxrtrain.model import DEFAULT_BACKBONE, ChestXrayNet, init_prediction_bias, load_backbone
from cxrtrain.recipes import RECIPES
from cxrtrain.sampling import EpochSampler, min_share_weights

NORMAL_NAMES = ("normal", "no finding", "no_finding")
# resumable training state: kept in last.pt only (best.pt holds the weights and what rebuilds and describes them)
TRAINING_STATE = ("optimizer", "scheduler", "rng")


@dataclass
class TrainConfig:
    backbone: str = DEFAULT_BACKBONE
    pretrained: str = "auto"
    pool: str = "lse"
    lse_r: float = 10.0
    transition: int = 1024
    loss: str = "wcel"
    optimizer: str = "adamw"
    lr: float = 1e-4
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    epochs: int = 10
    batch_size: int = 32
    accumulate: int = 1
    patience: int = 3
    min_share: float = 0.0
    seed: int = 0
    workers: int = 0
    compile: bool = False
    max_steps: int = 0  # per epoch; 0 = the whole split (smoke runs and benchmarks set it)
    min_positives: int = 5  # model selection: mean validation AUC over labels with at least this many positives
    recipe: str = ""  # the named set of defaults (cxrtrain.recipes) the options started from, if any
    prep: Preprocessing = field(default_factory=Preprocessing)

    def check(self) -> None:
        choices = {"pool": ("avg", "max", "lse"), "loss": tuple(LOSSES), "optimizer": ("adamw", "sgd"),
                   "schedule": ("cosine", "step")}
        for option, allowed in choices.items():
            if getattr(self, option) not in allowed:
                raise UserError(f"--{option} takes {' or '.join(allowed)}, not {getattr(self, option)!r}")
        if self.prep.crop > self.prep.resize:
            raise UserError("--crop must not exceed --resize")
        if not 0 <= self.min_share < 1:
            raise UserError("--min-share is a fraction in [0, 1)")
        if self.min_positives < 1:
            raise UserError("--min-positives is at least 1")


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def device_for_run() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def start_distributed() -> Distributed:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Distributed(device=device_for_run())
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        return Distributed(dist.get_rank(), world, torch.device("cuda", local))
    dist.init_process_group("gloo")
    return Distributed(dist.get_rank(), world, torch.device("cpu"))


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


@torch.no_grad()
def predict(model, loader, device: torch.device, prep: Preprocessing | None = None, max_steps: int = 0,
            skips: SkipLog | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid scores and targets of the readable rows; five-crop inputs (B, 5, C, H, W) are averaged over crops.
    Batches are (images, targets) or `collate_rows`' (images, targets, skipped rows); skipped rows go to `skips`."""
    prep = prep or Preprocessing()
    skips = skips if skips is not None else SkipLog(strict=True)
    model.eval()
    scores, targets = [], []
    for step, batch in enumerate(loader):
        if max_steps and step >= max_steps:
            break
        images, target, skipped = batch if len(batch) == 3 else (*batch, [])
        skips.note(skipped)
        if images is None:
            continue
        crops = images.shape[1] if images.dim() == 5 else 0
        batch = model_input(images.flatten(0, 1) if crops else images, prep, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            probs = torch.sigmoid(model(batch).float())
        if crops:
            probs = probs.view(len(images), crops, -1).mean(1)
        scores.append(probs.cpu().numpy())
        targets.append(target.numpy())
    if not scores:
        raise UserError("no readable image to score: every row was skipped (see errors.csv)")
    return np.concatenate(scores), np.concatenate(targets)


def make_loader(dataset, config: TrainConfig, sampler=None) -> DataLoader:
    return DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, num_workers=config.workers,
                      collate_fn=collate_rows, pin_memory=torch.cuda.is_available(),
                      persistent_workers=config.workers > 0, generator=torch.Generator().manual_seed(config.seed))


def make_optimizer(model: torch.nn.Module, config: TrainConfig):
    if config.optimizer == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    if config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
    else:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(config.epochs // 3, 1), gamma=0.1)
    return optimizer, scheduler


def recipe_backbone(config: TrainConfig):
    """load_backbone, with the recipe named when the backbone it asks for cannot be built here."""
    try:
        return load_backbone(config.backbone, config.pretrained)
    except UserError as exc:
        if config.recipe and config.backbone == RECIPES[config.recipe].settings.get("backbone"):
            raise UserError(f"--recipe {config.recipe} needs the backbone {config.backbone!r}, which this "
                            f"installation cannot build ({exc}); give --backbone to use another network") from exc
        raise


def normal_index(names: list[str]) -> int | None:
    return next((k for k, name in enumerate(names) if name.lower() in NORMAL_NAMES), None)


def fit(dataset_dir: str, run_dir: Path, config: TrainConfig, resume: bool = False, progress=None, log=print,
        strict: bool = False) -> dict:
    """Train; returns {"history": [per-epoch records], "best_val_mean_auc", "label_names", "skips"}.
    strict: stop at the first unreadable image instead of skipping the row."""
    config.check()
    ddp = start_distributed()
    try:
        return _fit(dataset_dir, Path(run_dir), config, resume, ddp, progress if ddp.main else None,
                    log if ddp.main else (lambda *_: None), strict)
    finally:
        if ddp.world > 1:
            dist.destroy_process_group()


def prepare_run_dir(run_dir: Path) -> None:
    """Create the run folder, or say in one line why it cannot be written."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{run_dir}: cannot create the run folder ({exc.strerror or exc.__class__.__name__})") from exc
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise UserError(f"{run_dir}: the run folder is not writable")


def gathered_skips(skips: SkipLog, ddp: Distributed) -> SkipLog:
    """Every rank's skipped rows so far (a collective call under DDP)."""
    if ddp.world == 1:
        return skips
    parts = [None] * ddp.world
    dist.all_gather_object(parts, skips)
    return SkipLog.merged(parts)


def _fit(dataset_dir: str, run_dir: Path, config: TrainConfig, resume: bool, ddp: Distributed, progress,
         log, strict: bool) -> dict:
    seed_everything(config.seed)
    device = ddp.device
    dataset, names = load_splits(dataset_dir)
    train_labels, warnings = check_training_splits(dataset, names, dataset_dir)
    for warning in warnings:
        log(warning)
    prepare_run_dir(run_dir)
    weights = (min_share_weights(train_labels, config.min_share, normal_index(names))
               if config.min_share else None)
    sampler = EpochSampler(len(train_labels), config.seed, weights, ddp.rank, ddp.world)
    train_loader = make_loader(ChestXrayDataset(dataset["train"], len(names), config.prep, train=True, name="train"),
                               config, sampler)
    eval_prep = Preprocessing(**{**asdict(config.prep), "test_crops": "center"})
    valid_loader = make_loader(ChestXrayDataset(dataset["validation"], len(names), eval_prep, train=False,
                                                name="validation"), config)

    backbone, note = recipe_backbone(config)
    model = ChestXrayNet(backbone, len(names), config.transition, config.pool, config.lse_r)
    log(note)
    init_prediction_bias(model, torch.as_tensor(train_labels.mean(axis=0)))
    model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    wrapped = (torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.index is not None
                                                         else None) if ddp.world > 1 else model)
    step_model = torch.compile(wrapped) if config.compile else wrapped
    optimizer, scheduler = make_optimizer(model, config)
    loss_fn = LOSSES[config.loss]
    start_epoch, best_auc, stale = 0, -1.0, 0
    last = run_dir / "last.pt"
    if resume:
        if not last.exists():
            raise UserError(f"--resume: {last} does not exist")
        try:
            state = torch.load(last, map_location="cpu", weights_only=False)  # RNG states must stay CPU tensors
        except Exception as exc:  # truncated or foreign file: pickle / zip errors of many kinds
            raise UserError(f"--resume: {last} is not a readable checkpoint ({exc.__class__.__name__})") from exc
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise UserError(f"--resume: {last} holds another network (--backbone, --transition or the labels "
                            "differ); resume with the options of the interrupted run") from exc
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        start_epoch, best_auc, stale = state["epoch"] + 1, state["best_auc"], state["stale"]
        log(f"resuming after epoch {start_epoch}")
    elif ddp.main:
        for stale_file in ("train_log.jsonl", "thresholds.json", "metrics.json", "best.pt", "errors.csv"):
            (run_dir / stale_file).unlink(missing_ok=True)
    history = []
    if stale >= config.patience:
        log("the resumed run had already stopped early")
        start_epoch = config.epochs
    # rows skipped: by this rank in training, by rank 0 in validation, and (resuming) listed by the earlier run
    train_skips, valid_skips, earlier = SkipLog(strict), SkipLog(strict), SkipLog(strict)
    if resume and ddp.main:
        earlier.read_csv(run_dir / "errors.csv")
    skips, warned = earlier, False
    for epoch in range(start_epoch, config.epochs):
        before = Counter(skips.drawn)
        record = _train_epoch(step_model, wrapped, train_loader, sampler, optimizer, loss_fn, config, epoch, ddp,
                              progress, train_skips, log)
        all_train = gathered_skips(train_skips, ddp)
        scheduler.step()
        stop = False
        if ddp.main:
            scores, targets = predict(model, valid_loader, device, eval_prep, skips=valid_skips)
            selection = Selection.of(targets, config.min_positives)
            if selection.fallback and not warned:
                log(selection.warning("validation"))
                warned = True
            record["val_mean_auc"] = mean_auc(targets, scores)
            record["val_selection_auc"] = mean_auc(targets, scores, selection.labels)
            record["val_selection_labels"] = [names[k] for k in selection.labels]
            record["lr"] = optimizer.param_groups[0]["lr"]
            skips = SkipLog.merged([earlier, all_train, valid_skips])
            record["skipped_rows"] = {split: skips.drawn[split] - before[split] for split in ("train", "validation")}
            if skips.rows:
                skips.write_csv(run_dir / "errors.csv")
            history.append(record)
            with open(run_dir / "train_log.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")
            val_auc = record["val_selection_auc"] if record["val_selection_auc"] is not None else float("nan")
            improved = not np.isnan(val_auc) and val_auc > best_auc
            best_auc, stale = (val_auc, 0) if improved else (best_auc, stale + 1)
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "rng": rng_state(), "epoch": epoch, "best_auc": best_auc,
                     "stale": stale, "config": asdict(config), "label_names": names,
                     "backbone_config": model.backbone.config.to_dict(), "backbone_note": note,
                     "dataset": str(Path(dataset_dir).resolve())}
            torch.save(state, last)
            if improved or not (run_dir / "best.pt").exists():
                torch.save({key: value for key, value in state.items() if key not in TRAINING_STATE},
                           run_dir / "best.pt")
            skipped = sum(record["skipped_rows"].values())
            loss = record["train_loss"] if record["train_loss"] is not None else float("nan")
            log(f"epoch {epoch + 1}: loss {loss:.4f}, validation mean AUC "
                f"{val_auc:.4f} ({len(selection.labels)} labels), {record['images_per_second']:.1f} images/s"
                + (f", {skipped} unreadable row(s) skipped" if skipped else ""))
            stop = stale >= config.patience
            if stop:
                log(f"early stop: no validation mean AUC gain for {config.patience} epochs")
        if ddp.world > 1:
            flag = [stop]
            dist.broadcast_object_list(flag, src=0)
            stop = flag[0]
        if stop:
            break
    if ddp.main:
        (run_dir / "config.json").write_text(json.dumps(
            {**asdict(config), "label_names": names, "backbone_note": note, "world_size": ddp.world,
             "dataset": str(Path(dataset_dir).resolve())}, indent=2))
        if skips.rows:
            log(f"{skips.summary()} → {run_dir / 'errors.csv'}")
    return {"history": history, "best_val_mean_auc": best_auc, "label_names": names, "skips": skips}


def _train_epoch(step_model, wrapped, loader, sampler, optimizer, loss_fn, config: TrainConfig, epoch: int,
                 ddp: Distributed, progress, skips: SkipLog, log) -> dict:
    device = ddp.device
    step_model.train()
    sampler.set_epoch(epoch)
    steps = min(len(loader), config.max_steps) if config.max_steps else len(loader)
    task = progress.add_task(f"epoch {epoch + 1}/{config.epochs}", total=steps, info="") if progress else None
    started, seen, losses = time.perf_counter(), 0, []
    optimizer.zero_grad(set_to_none=True)
    for step, (images, targets, skipped) in enumerate(loader):
        if step >= steps:
            break
        skips.note(skipped, log)
        update = (step + 1) % config.accumulate == 0 or step + 1 == steps
        weight = 1.0
        if images is None and ddp.world > 1:  # every row unreadable: a zero-weighted step keeps the ranks in step
            images = torch.zeros(1, 1, config.prep.crop, config.prep.crop)
            targets, weight = torch.zeros(1, loader.dataset.n_labels), 0.0
        if images is not None:
            images = model_input(images, config.prep, device)
            targets = targets.to(device, non_blocking=True)
            sync = contextlib.nullcontext() if update or ddp.world == 1 else wrapped.no_sync()
            with sync:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    loss = loss_fn(step_model(images).float(), targets) * weight
                (loss / config.accumulate).backward()
            if weight:
                losses.append(float(loss.detach()))
                seen += len(images) * ddp.world
        if update:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if progress:
            rate = seen / (time.perf_counter() - started)
            progress.update(task, advance=1, info=f"loss {np.mean(losses):.4f} · {rate:.1f} img/s")
    return {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else None,
            "images_per_second": seen / (time.perf_counter() - started), "steps": steps}

