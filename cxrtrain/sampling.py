"""Samplers: per-epoch seeded shuffling, and class re-sampling so every label reaches a minimum share of the drawn
samples (Dong et al.: ≥ 3 % per class, the normal class down-sampled)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Sampler


def min_share_weights(labels: np.ndarray, min_share: float, normal_index: int | None = None,
                      iterations: int = 100) -> np.ndarray:
    """Per-sample drawing probabilities such that each label's expected share of drawn samples is ≥ `min_share`.

    Samples of under-represented labels are up-weighted iteratively (which down-samples everything else, the
    normal class included); the normal label itself is never up-weighted. A label with no sample stays at 0.
    """
    weights = np.ones(len(labels), dtype=np.float64)
    for _ in range(iterations):
        shares = (weights[:, None] * labels).sum(axis=0) / weights.sum()
        lacking = [k for k in range(labels.shape[1]) if k != normal_index and 0 < shares[k] < min_share * 0.999]
        if not lacking:
            break
        for k in lacking:
            weights[labels[:, k] > 0] *= min_share / shares[k]
    return weights / weights.sum()


def label_shares(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Expected share of drawn samples carrying each label."""
    return (weights[:, None] * labels).sum(axis=0) / weights.sum()


class EpochSampler(Sampler[int]):
    """Indices for one epoch, drawn from a generator seeded by (seed, epoch): a permutation, or with `weights`
    a draw with replacement. Under DDP (world > 1) each rank takes every world-th index, padded to equal length,
    as torch's DistributedSampler does; call `set_epoch` before each epoch (resuming needs nothing else)."""

    def __init__(self, size: int, seed: int, weights: np.ndarray | None = None, rank: int = 0, world: int = 1):
        self.size, self.seed, self.rank, self.world, self.epoch = size, seed, rank, world, 0
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.per_rank = math.ceil(size / world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.weights is None:
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.multinomial(self.weights, self.size, replacement=True, generator=generator)
        padded = torch.cat([order, order[: self.per_rank * self.world - self.size]])
        return iter(padded[self.rank::self.world].tolist())
