"""`cot-distill` subcommands for this area (see the package docstring)."""

from __future__ import annotations


def register(sub) -> None:
    pass
