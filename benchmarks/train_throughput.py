"""Training throughput of cxrtrain: images/s for forward + backward + AdamW step at 224 px, batch 32.

Run from the repository root:  python benchmarks/train_throughput.py [--steps 20] [--workers 0,4,8]

Three measurements, each printed as one line (random init; nothing is downloaded):
- model-bound: random input tensors already on the device, ResNet-50 and ResNet-18, fp32 and (on a GPU, or with
  --dtypes) bf16 autocast; on CUDA channels_last, and fp32 means torch's default (TF32 convolutions) unless
  `fp32-strict` is asked for (TF32 off). Optional `--compile` adds torch.compile variants.
- loader-bound: the real input pipeline (workers: PNG decode, antialiased resize to 256, random 224 crop, grey
  float16; then on the device: grey → 3 channels and normalisation) over synthetic 1024² 8-bit PNGs (smooth shapes
  + noise, ChestX-ray14's size and depth) through a DataLoader with N worker processes, no model.
- end-to-end: that DataLoader feeding ResNet-50 training steps (bf16 on a GPU, fp32 on CPU), pinned memory.
Warm-up steps are excluded (for loaders: the first batch and the 2 per worker prefetched meanwhile); CUDA work is
synchronised before reading the clock.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
from PIL import Image

from cxrtrain.data import ChestXrayDataset, Preprocessing, model_input
from cxrtrain.losses import wcel_loss
from cxrtrain.model import ChestXrayNet, random_backbone

N_LABELS = 15


class PngRows:
    """Rows like a `datasets` split: {"image": PIL image decoded from PNG bytes, "labels": [...]}."""

    def __init__(self, count: int, size: int = 1024, seed: int = 0):
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[:size, :size] / size
        self.pngs = []
        for _ in range(count):
            cx, cy = rng.uniform(0.3, 0.7, 2)
            body = 150 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.08) + 40 * yy
            pixels = np.clip(body + rng.normal(0, 6, (size, size)), 0, 255).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
            self.pngs.append(buffer.getvalue())

    def __len__(self) -> int:
        return len(self.pngs)

    def __getitem__(self, index: int) -> dict:
        return {"image": Image.open(io.BytesIO(self.pngs[index])), "labels": [index % N_LABELS]}


def make_model(name: str, device: torch.device, compile_model: bool):
    torch.manual_seed(0)
    model = ChestXrayNet(random_backbone(name), N_LABELS).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    return (torch.compile(model) if compile_model else model), optimizer


def train_step(model, optimizer, images, targets, bf16: bool) -> None:
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = wcel_loss(model(images).float(), targets)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def model_bound(name: str, dtype: str, batch: int, size: int, steps: int, device: torch.device,
                compile_model: bool = False) -> float:
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = dtype != "fp32-strict"
    model, optimizer = make_model(name, device, compile_model)
    images = torch.randn(batch, 3, size, size, device=device)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    targets = (torch.rand(batch, N_LABELS, device=device) < 0.1).float()
    for _ in range(3 if compile_model else 2):
        train_step(model, optimizer, images, targets, dtype == "bf16")
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, images, targets, dtype == "bf16")
    sync(device)
    torch.backends.cudnn.allow_tf32 = True
    return batch * steps / (time.perf_counter() - started)


def make_loader(rows: PngRows, batch: int, workers: int, device: torch.device, count: int):
    """`count` batches in one epoch (drawn with replacement), so that every worker has batches to make: a
    DataLoader hands each batch to one worker, and an epoch of few batches would cap the parallelism."""
    data = ChestXrayDataset(rows, N_LABELS, Preprocessing(), train=True)
    sampler = torch.utils.data.RandomSampler(data, replacement=True, num_samples=batch * count)
    return torch.utils.data.DataLoader(data, batch_size=batch, sampler=sampler, num_workers=workers,
                                       pin_memory=device.type == "cuda", drop_last=True)


def warm_up_batches(workers: int) -> int:
    """Batches to draw before timing: the first, and every batch the workers prefetched (2 each) meanwhile."""
    return 2 * workers + 2


def loader_bound(rows: PngRows, batch: int, steps: int, workers: int, device: torch.device) -> float:
    iterator = iter(make_loader(rows, batch, workers, device, steps + warm_up_batches(workers)))
    for _ in range(warm_up_batches(workers)):
        next(iterator)
    started, seen = time.perf_counter(), 0
    for images, _ in iterator:
        images = model_input(images, Preprocessing(), device)
        seen += len(images)
    sync(device)
    return seen / (time.perf_counter() - started)


def end_to_end(rows: PngRows, name: str, batch: int, steps: int, workers: int, device: torch.device) -> float:
    model, optimizer = make_model(name, device, False)
    warm = warm_up_batches(workers)
    loader = make_loader(rows, batch, workers, device, steps + warm)
    bf16 = device.type == "cuda"
    seen, started = 0, None
    for step, (images, labels) in enumerate(loader):
        if step == warm:
            sync(device)
            started = time.perf_counter()
        images = model_input(images, Preprocessing(), device)
        train_step(model, optimizer, images, labels.to(device, non_blocking=True), bf16)
        seen += len(images) if step >= warm else 0
    sync(device)
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbones", default="resnet-50,resnet-18")
    parser.add_argument("--dtypes", default=None, help="fp32, fp32-strict, bf16 (default: fp32 on CPU; "
                                                       "fp32,fp32-strict,bf16 on a GPU)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--workers", default="0,2", help="DataLoader worker counts to try (comma-separated)")
    parser.add_argument("--images", type=int, default=64, help="synthetic PNGs in the loader tests")
    parser.add_argument("--stored-size", default="1024", help="side(s) of the stored PNGs, e.g. 1024,512 "
                        "(`cxrlabel build --size`)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (bf16 on a GPU)")
    parser.add_argument("--skip-end-to-end", action="store_true")
    options = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtypes = (options.dtypes or ("fp32,fp32-strict,bf16" if device.type == "cuda" else "fp32")).split(",")
    workers = [int(w) for w in options.workers.split(",")]
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {where}; torch {torch.__version__}; batch {options.batch}, {options.size} px, "
          f"{options.steps} timed steps", flush=True)
    for backbone in options.backbones.split(","):
        for dtype in dtypes:
            rate = model_bound(backbone, dtype, options.batch, options.size, options.steps, device)
            print(f"model-bound   {backbone:10s} {dtype:11s}: {rate:8.1f} images/s", flush=True)
        if options.compile:
            dtype = "bf16" if device.type == "cuda" else "fp32"
            rate = model_bound(backbone, dtype, options.batch, options.size, options.steps, device, True)
            print(f"model-bound   {backbone:10s} {dtype + '+compile':11s}: {rate:8.1f} images/s", flush=True)
    for stored in (int(s) for s in options.stored_size.split(",")):
        rows = PngRows(options.images, stored)
        kilobytes = np.mean([len(p) for p in rows.pngs]) / 1e3
        print(f"synthetic PNGs: {len(rows)} × {stored}², mean {kilobytes:.0f} kB", flush=True)
        for count in workers:
            rate = loader_bound(rows, options.batch, options.steps, count, device)
            print(f"loader-bound  {stored:4d}² {count:2d} workers      : {rate:8.1f} images/s", flush=True)
        if not options.skip_end_to_end:
            name = options.backbones.split(",")[0]
            for count in workers:
                rate = end_to_end(rows, name, options.batch, options.steps, count, device)
                print(f"end-to-end    {stored:4d}² {count:2d} workers {name}: {rate:8.1f} images/s", flush=True)


if __name__ == "__main__":
    main()
