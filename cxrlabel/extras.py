"""Optional parts of the install: the modules each pyproject extra brings, and a one-line stop for a command
whose extra is not installed (the core install is the English labeler: no torch, transformers or datasets)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from cxrlabel.errors import fail

# extra → the modules (import names) of its requirements that the commands needing it import
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "zh": ("jieba", "kmedoids", "matplotlib"),
    "build": ("datasets", "PIL", "pydicom", "pylibjpeg", "presidio_analyzer", "presidio_anonymizer"),
    "train": ("torch", "transformers", "safetensors", "datasets", "PIL", "matplotlib"),
}


def _importable(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_extra(extra: str, command: str) -> str | None:
    """The one-line message that `command` cannot run without `extra`, or None when the extra is installed."""
    if all(_importable(module) for module in EXTRA_MODULES[extra]):
        return None
    return f'{command} needs the "{extra}" extra: pip install "cxrlabel[{extra}]"'


def needs_extra(extra: str, command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command so it stops with the pip command (exit 2, no traceback) when `extra` is missing."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            message = missing_extra(extra, command)
            if message:
                fail(message)
            return function(*args, **kwargs)

        return guarded

    return decorate
