"""One error type for bad input, so the CLI can print it as a single line."""

from __future__ import annotations


class DataError(ValueError):
    """Bad user input: a file, line or field that cannot be used.

    The message always names where the problem is (``file:line: field: what``) so
    the CLI prints it as one line instead of a traceback.
    """

    def __init__(self, message: str, *, path: object = None, line: int | None = None, field: str | None = None):
        where = []
        if path is not None:
            where.append(str(path) if line is None else f"{path}:{line}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(": ".join(where + [message]) if where else message)
        self.path, self.line, self.field = path, line, field


class ModelError(DataError):
    """A model, tokenizer or checkpoint folder that cannot be loaded or used as asked: the user's to fix
    (a path, a hub id, an extra package), printed as one line like any bad input."""


def check_at_least(settings: object, **lows: int | float) -> None:
    """Each named setting (an attribute of ``settings``, or a key where it is a dict) is at least its bound;
    None (unset, where a setting allows it) passes. The message names the command-line flag: the name with
    dashes."""
    for name, low in lows.items():
        value = settings[name] if isinstance(settings, dict) else getattr(settings, name)
        if value is not None and value < low:
            raise DataError(f"--{name.replace('_', '-')} must be at least {low}, got {value}")
