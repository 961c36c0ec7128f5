"""Errors caused by the user's input or options: the CLI prints them without a traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad path, missing column, unknown label set...)."""
