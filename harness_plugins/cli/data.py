"""`cot-distill data check`: load every split of a source and show counts and gold labels."""

from __future__ import annotations

import argparse

from cot_tasks.data import DEFAULT_SOURCE, SOURCES, check_source
from cot_tasks.records import DATASETS


def register(sub) -> None:
    data = sub.add_parser("data", help="inspect the datasets")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="load every split of a source; print row counts and gold labels")
    check.add_argument("--dataset", required=True, choices=DATASETS, help="which dataset")
    check.add_argument("--source", default=DEFAULT_SOURCE,
                       help=f"{' | '.join(SOURCES)} | a directory of the original files (default: sample)")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    print("\n".join(check_source(args.dataset, args.source).lines()))
    return 0
