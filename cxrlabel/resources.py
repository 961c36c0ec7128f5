"""Locate and load the shipped `rules/` data files."""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path

import yaml


def rules_dir() -> Path:
    """The rules folder: $CXRLABEL_RULES when set, else the one installed with the package."""
    override = os.environ.get("CXRLABEL_RULES")
    if override:
        return Path(override)
    return Path(str(resources.files("cxrlabel_rules")))


def rules_path(*parts: str) -> Path:
    return rules_dir().joinpath(*parts)


@cache
def load_yaml(path: Path) -> object:
    """Parse a YAML file once per process."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)
