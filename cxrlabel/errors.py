"""Errors caused by the user's input or options, and the one way the command lines report them."""

from __future__ import annotations

from typing import NoReturn


class UserError(Exception):
    """A mistake the user can fix (bad path, missing column, unknown label set...)."""


def fail(message: object, code: int = 2) -> NoReturn:
    """Stop a command: `error: <message>` on one line of stderr (no traceback, however long), exit `code` (2: a
    mistake the user can fix). The message is printed as written (no rich markup)."""
    import typer
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, soft_wrap=True).print(Text.assemble(("error:", "bold red"), " ", str(message)))
    raise typer.Exit(code)
