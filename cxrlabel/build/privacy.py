"""Pseudonymisation: keyed hashes replace patient ids and source paths, so no PHI reaches the dataset."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import PurePath


def keyed_hash(value: str, salt: str, length: int = 16) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:length]


def pseudonymous_patient(patient_id: str, salt: str) -> str:
    return "p_" + keyed_hash(patient_id, salt)


def rekeyed_path(relative_path: str, salt: str) -> str:
    """A stable stand-in for a source path (its name may embed a patient name): hash + original extension."""
    return "img_" + keyed_hash(relative_path, salt) + PurePath(relative_path).suffix.lower()
