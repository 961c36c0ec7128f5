"""Training throughput: images/s of forward + backward at 224 px, batch 32, for ResNet-50 and ResNet-18.

Run: python benchmarks/train_throughput.py [--steps 5] [--backbones resnet-50,resnet-18] [--dtypes fp32,bf16]
- model-bound: random tensors already on the device, AdamW step included, after 2 warm-up steps;
- loader-bound: the real input pipeline (PNG decode, resize 256, random crop 224, normalise) over a synthetic
  1024² PNG dataset through a DataLoader with --workers processes, no model.
On CPU bf16 autocast is skipped unless asked; random init (no weights are downloaded).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from cxrtrain.data import ChestXrayDataset, Preprocessing
from cxrtrain.losses import wcel_loss
from cxrtrain.model import ChestXrayNet, random_backbone


def model_bound(name: str, dtype: str, batch: int, size: int, steps: int, device: torch.device,
                channels_last: bool) -> float:
    torch.manual_seed(0)
    model = ChestXrayNet(random_backbone(name), 15).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = torch.randn(batch, 3, size, size, device=device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    targets = (torch.rand(batch, 15, device=device) < 0.1).float()
    use_bf16 = dtype == "bf16"

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = wcel_loss(model(images).float(), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - started)


def loader_bound(batch: int, steps: int, workers: int) -> float:
    from datasets import ClassLabel, Dataset, Features, Sequence
    from datasets import Image as ImageFeature

    rng = np.random.default_rng(0)
    rows = []
    for _ in range(batch * 2):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (1024, 1024), dtype=np.uint8), mode="L").save(buffer, format="PNG")
        rows.append({"image": {"bytes": buffer.getvalue(), "path": None}, "labels": [0]})
    features = Features({"image": ImageFeature(), "labels": Sequence(ClassLabel(names=["a", "b"]))})
    with tempfile.TemporaryDirectory():
        split = Dataset.from_list(rows, features=features)
        data = ChestXrayDataset(split, 2, Preprocessing(), train=True)
        loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, num_workers=workers,
                                             persistent_workers=workers > 0)
        seen, started = 0, time.perf_counter()
        while seen < batch * steps:
            for images, _ in loader:
                seen += len(images)
                if seen >= batch * steps:
                    break
        return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", default="resnet-50,resnet-18")
    parser.add_argument("--dtypes", default=None, help="default: fp32 on CPU, fp32,bf16 on GPU")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtypes = (options.dtypes or ("fp32,bf16" if device.type == "cuda" else "fp32")).split(",")
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; batch {options.batch}, {options.size} px, {options.steps} timed steps")
    for backbone in options.backbones.split(","):
        for dtype in dtypes:
            rate = model_bound(backbone, dtype, options.batch, options.size, options.steps, device,
                               channels_last=device.type == "cuda")
            print(f"model-bound  {backbone:10s} {dtype}: {rate:8.1f} images/s")
    rate = loader_bound(options.batch, options.steps, options.workers)
    print(f"loader-bound (1024² PNG → 224 crop, {options.workers} workers): {rate:8.1f} images/s")


if __name__ == "__main__":
    main()
