"""Locate and load the shipped `rules/` data files."""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from cxrlabel.errors import UserError


def rules_dir() -> Path:
    """The rules folder: $CXRLABEL_RULES when set (its YAML files checked once), else the installed one."""
    override = os.environ.get("CXRLABEL_RULES")
    if override:
        return check_rules_folder(Path(override))
    return Path(str(resources.files("cxrlabel_rules")))


@cache
def check_rules_folder(folder: Path) -> Path:
    """A user's rules folder, after parsing each of its YAML files (a UserError names the first bad one).

    Checked in the main process, before worker processes start, so a broken file is one clear message.
    """
    if not folder.is_dir():
        raise UserError(f"{folder}: CXRLABEL_RULES names no folder")
    for path in sorted(folder.rglob("*.y*ml")):
        load_yaml(path)
    return folder


def rules_path(*parts: str) -> Path:
    return rules_dir().joinpath(*parts)


def yaml_error_message(path: Path, exc: yaml.YAMLError) -> str:
    """One line: `file:line: what is wrong` (a python tag or other unsafe YAML says so)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark else 1
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "could not determine a constructor" in str(exc):
        problem = f"unsafe or unknown YAML tag ({problem.split('tag ')[-1]}); only plain YAML is read"
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    return f"{path}:{line}: YAML error: {' '.join(detail.split())}"


@cache
def load_yaml(path: Path) -> object:
    """Parse a YAML file once per process; a syntax error or an unsafe tag is a UserError with file:line."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise UserError(yaml_error_message(path, exc)) from None
    except UnicodeDecodeError:
        raise UserError(f"{path}:1: not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
