"""Multi-label losses: binary cross-entropy and ChestX-ray8's positive/negative balanced W-CEL."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def wcel_weights(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """β_P = (|P|+|N|)/|P| and β_N = (|P|+|N|)/|N| over the batch's label entries (0 when a side is empty)."""
    positives = targets.sum()
    negatives = targets.numel() - positives
    total = positives + negatives
    beta_p = torch.where(positives > 0, total / positives.clamp(min=1), torch.zeros_like(positives))
    beta_n = torch.where(negatives > 0, total / negatives.clamp(min=1), torch.zeros_like(negatives))
    return beta_p, beta_n


def wcel_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """W-CEL = β_P Σ_{y=1} −ln f(x) + β_N Σ_{y=0} −ln(1 − f(x)), averaged over the batch's label entries."""
    beta_p, beta_n = wcel_weights(targets)
    weights = targets * beta_p + (1 - targets) * beta_n
    return F.binary_cross_entropy_with_logits(logits, targets, weight=weights)


def bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, targets)


LOSSES = {"bce": bce_loss, "wcel": wcel_loss}
