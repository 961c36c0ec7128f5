"""Class re-sampling so every label reaches a minimum share of the drawn samples (Dong et al.: ≥ 3 %)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler


def min_share_weights(labels: np.ndarray, min_share: float, normal_index: int | None = None,
                      iterations: int = 50) -> np.ndarray:
    """Per-sample weights such that each label's expected share of samples is ≥ `min_share`.

    Samples of under-represented labels are up-weighted iteratively; the normal label (if given) is
    never up-weighted, so it is relatively down-sampled.
    """
    weights = np.ones(len(labels), dtype=np.float64)
    for _ in range(iterations):
        shares = (weights[:, None] * labels).sum(axis=0) / weights.sum()
        lacking = [k for k in range(labels.shape[1])
                   if k != normal_index and 0 < shares[k] < min_share]
        if not lacking:
            break
        for k in lacking:
            weights[labels[:, k] > 0] *= min_share / shares[k]
    return weights / weights.sum()


def min_share_sampler(
    labels: np.ndarray, min_share: float, normal_index: int | None, seed: int
) -> WeightedRandomSampler:
    weights = min_share_weights(labels, min_share, normal_index)
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(torch.as_tensor(weights), num_samples=len(labels), replacement=True,
                                 generator=generator)
