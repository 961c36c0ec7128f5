"""Patient-level train / validation / test assignment (no patient in two splits).

The split of a patient is a function of its pseudonymous id and the seed alone, so a streaming or resumed
build needs no global pass and never moves a patient between splits.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "validation", "test")


def parse_ratios(text: str) -> tuple[float, float, float]:
    try:
        parts = [float(p) for p in text.replace(",", "/").split("/")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise ValueError("ratios are three non-negative numbers, e.g. 70/10/20")
    total = sum(parts)
    return (parts[0] / total, parts[1] / total, parts[2] / total)


def assign_split(patient: str, ratios: tuple[float, float, float], seed: int) -> str:
    """train / validation / test for a patient: a seeded hash mapped to [0, 1) and cut by the ratios."""
    digest = hashlib.sha256(f"{seed}:{patient}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < ratios[0]:
        return "train"
    return "validation" if position < ratios[0] + ratios[1] else "test"
