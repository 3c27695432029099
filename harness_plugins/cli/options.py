"""Command-line options derived from a config dataclass, so the CLI never copies its fields by hand.

Each field becomes ``--field-name`` with its type, its default and the help text in
the field's ``metadata["help"]``; booleans get ``--x/--no-x``. Nested dataclasses
(the ``tiny`` size) stay in YAML/Python.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Iterable, Mapping

from harness_plugins.grid.config import optional_of


def add_config_options(parser: argparse.ArgumentParser, cls, *, skip: Iterable[str] = (),
                       required: Iterable[str] = (), choices: Mapping[str, Iterable[str]] | None = None,
                       help: Mapping[str, str] | None = None) -> None:
    """One option per field of ``cls``; ``help`` adds words after a field's own help text (the parser's
    formatter appends the default)."""
    hints = typing.get_type_hints(cls)
    skip, required, choices, help = set(skip), set(required), dict(choices or {}), dict(help or {})
    for f in dataclasses.fields(cls):
        kind, _ = optional_of(hints[f.name])
        if f.name in skip or dataclasses.is_dataclass(kind):
            continue
        flag = "--" + f.name.replace("_", "-")
        text = " ".join(x for x in (f.metadata.get("help", ""), help.get(f.name, "")) if x)
        default = f.default if f.default is not dataclasses.MISSING else None
        kw: dict[str, Any] = {"dest": f.name}
        if kind is bool:
            kw.update(action=argparse.BooleanOptionalAction, default=default)
        else:
            kw.update(type=kind, default=default, metavar=f.name.upper())
            if f.name in choices:
                kw.update(choices=tuple(choices[f.name]), metavar=None)
        if f.name in required:
            kw.update(required=True, default=None)
        parser.add_argument(flag, help=text, **kw)


def config_from_args(cls, args: argparse.Namespace, **extra):
    """``cls`` from the options ``add_config_options`` made; fields it skipped keep their defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    given = {k: v for k, v in vars(args).items() if k in names}
    return cls(**{**given, **extra})
