"""``cot-distill``: one console command over the library functions.

Each subcommand lives in a small module here with a ``register(subparsers)``
function; the work itself is a typed library function that tests call directly.
"""

from __future__ import annotations

import argparse
import sys

from cot_tasks.errors import DataError


def build_parser() -> argparse.ArgumentParser:
    from harness_plugins.cli import data, rationales, report, students, tasks, train

    parser = argparse.ArgumentParser(prog="cot-distill", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (train, tasks, data, rationales, report, students):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DataError, FileNotFoundError, FileExistsError) as err:
        # Bad input is the user's to fix: one line, no traceback.
        print(f"cot-distill: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cot-distill: interrupted (rerun to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
