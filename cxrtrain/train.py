"""`cxrtrain fit`: train the multi-label network on a cxrlabel dataset, with checkpoints and early stopping."""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from cxrtrain.data import ChestXrayDataset, Preprocessing, label_matrix, load_splits
from cxrtrain.losses import LOSSES
from cxrtrain.metrics import evaluate_scores
from cxrtrain.model import ChestXrayNet, init_prediction_bias, load_backbone
from cxrtrain.sampling import min_share_sampler


@dataclass
class TrainConfig:
    backbone: str = "resnet-50"
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
    prep: Preprocessing = field(default_factory=Preprocessing)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def device_for_run() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_model(config: TrainConfig, n_labels: int) -> tuple[ChestXrayNet, str]:
    backbone, note = load_backbone(config.backbone, config.pretrained)
    return ChestXrayNet(backbone, n_labels, config.transition, config.pool, config.lse_r), note


def rebuild_model(checkpoint: dict) -> ChestXrayNet:
    """The network of a checkpoint, built from its stored backbone config (no download)."""
    from transformers import AutoConfig, AutoModel

    settings = dict(checkpoint["backbone_config"])
    backbone = AutoModel.from_config(AutoConfig.for_model(settings.pop("model_type"), **settings))
    config = checkpoint["config"]
    model = ChestXrayNet(backbone, len(checkpoint["label_names"]), config["transition"], config["pool"],
                         config["lse_r"])
    model.load_state_dict(checkpoint["model"])
    return model


@torch.no_grad()
def predict(
    model: ChestXrayNet, loader: DataLoader, device: torch.device, max_steps: int = 0
) -> tuple[np.ndarray, ...]:
    """Sigmoid scores and targets; five-crop inputs (B, 5, C, H, W) are averaged over crops."""
    model.eval()
    scores, targets = [], []
    for step, (images, target) in enumerate(loader):
        if max_steps and step >= max_steps:
            break
        images = images.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            if images.dim() == 5:
                batch, crops = images.shape[:2]
                probs = torch.sigmoid(model(images.flatten(0, 1)).float()).view(batch, crops, -1).mean(1)
            else:
                probs = torch.sigmoid(model(images).float())
        scores.append(probs.cpu().numpy())
        targets.append(target.numpy())
    return np.concatenate(scores), np.concatenate(targets)


def make_loader(dataset, config: TrainConfig, shuffle: bool, sampler=None) -> DataLoader:
    generator = torch.Generator().manual_seed(config.seed)
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=config.workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=config.workers > 0, generator=generator)


def fit(dataset_dir: str, run_dir: Path, config: TrainConfig, resume: bool = False, progress=None, log=print) -> dict:
    seed_everything(config.seed)
    device = device_for_run()
    dataset, names = load_splits(dataset_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_labels = label_matrix(dataset["train"], len(names))
    train_set = ChestXrayDataset(dataset["train"], len(names), config.prep, train=True, seed=config.seed)
    eval_prep = Preprocessing(**{**asdict(config.prep), "test_crops": "center"})
    valid_set = ChestXrayDataset(dataset["validation"], len(names), eval_prep, train=False)
    normal = names.index("normal") if "normal" in names else None
    sampler = min_share_sampler(train_labels, config.min_share, normal, config.seed) if config.min_share else None
    train_loader = make_loader(train_set, config, shuffle=True, sampler=sampler)
    valid_loader = make_loader(valid_set, config, shuffle=False)

    model, note = build_model(config, len(names))
    log(note)
    init_prediction_bias(model, torch.as_tensor(train_labels.mean(axis=0)))
    model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if config.compile else model
    parameters = model.parameters()
    optimizer = (torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
                 if config.optimizer == "adamw"
                 else torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay))
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
                 if config.schedule == "cosine"
                 else torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(config.epochs // 3, 1), gamma=0.1))
    loss_fn = LOSSES[config.loss]
    start_epoch, best_auc, stale = 0, -1.0, 0
    if resume and (run_dir / "last.pt").exists():
        state = torch.load(run_dir / "last.pt", map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best_auc, stale = state["epoch"] + 1, state["best_auc"], state["stale"]
        log(f"resuming after epoch {state['epoch']}")
    log_path = run_dir / "train_log.jsonl"
    history = []
    for epoch in range(start_epoch, config.epochs):
        model.train()
        started, seen, losses = time.perf_counter(), 0, []
        steps = min(len(train_loader), config.max_steps) if config.max_steps else len(train_loader)
        task = progress.add_task(f"epoch {epoch + 1}/{config.epochs}", total=steps, info="") if progress else None
        optimizer.zero_grad(set_to_none=True)
        for step, (images, targets) in enumerate(train_loader):
            if step >= steps:
                break
            images = images.to(device, non_blocking=True)
            if device.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            targets = targets.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = loss_fn(step_model(images).float(), targets) / config.accumulate
            loss.backward()
            if (step + 1) % config.accumulate == 0 or step + 1 == steps:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()) * config.accumulate)
            seen += len(images)
            if progress:
                rate = seen / (time.perf_counter() - started)
                progress.update(task, advance=1, info=f"loss {np.mean(losses):.4f} · {rate:.1f} img/s")
        scheduler.step()
        scores, targets = predict(model, valid_loader, device)
        metrics = evaluate_scores(targets, scores, names, [0.5] * len(names))
        val_auc = metrics["mean_auc"] if metrics["mean_auc"] is not None else float("nan")
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else None,
                  "val_mean_auc": val_auc, "images_per_second": seen / (time.perf_counter() - started),
                  "lr": optimizer.param_groups[0]["lr"]}
        history.append(record)
        with open(log_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        improved = not np.isnan(val_auc) and val_auc > best_auc
        best_auc, stale = (val_auc, 0) if improved else (best_auc, stale + 1)
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "epoch": epoch, "best_auc": best_auc, "stale": stale, "config": asdict(config), "label_names": names,
                 "backbone_config": model.backbone.config.to_dict(), "backbone_note": note,
                 "dataset": str(dataset_dir)}
        torch.save(state, run_dir / "last.pt")
        if improved or not (run_dir / "best.pt").exists():
            torch.save(state, run_dir / "best.pt")
        log(f"epoch {epoch + 1}: loss {record['train_loss']:.4f}, validation mean AUC {val_auc:.4f}")
        if stale >= config.patience:
            log(f"early stop: no validation AUC gain for {config.patience} epochs")
            break
    (run_dir / "config.json").write_text(json.dumps({**asdict(config), "label_names": names, "backbone_note": note,
                                                     "dataset": str(dataset_dir)}, indent=2))
    return {"history": history, "best_val_mean_auc": best_auc, "label_names": names}
