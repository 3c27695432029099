"""``cot-distill compare``: our students beside published numbers and other lm-eval results."""

from __future__ import annotations

from pathlib import Path

from cot_tasks.records import DATASETS


def register(sub) -> None:
    p = sub.add_parser("compare", help="our students beside published numbers and other lm-eval results")
    p.add_argument("paths", nargs="+", metavar="RUN_DIR|RESULTS.json",
                   help="grid folders, lm-eval output folders or results JSON")
    p.add_argument("--baselines", type=Path, default=None, help="baselines CSV (default: the one shipped)")
    p.add_argument("--dataset", action="append", choices=DATASETS, help="only these datasets (repeatable)")
    p.add_argument("--metric", default="acc", help="acc, acc_norm or 'any' (default: acc)")
    p.set_defaults(func=_compare)


def _compare(args) -> int:
    import sys

    from harness_plugins.report.compare import compare, format_table
    from harness_plugins.report.runs import unfinished_cells

    rows = compare(args.paths, baselines_path=args.baselines, datasets=args.dataset,
                   metric=None if args.metric == "any" else args.metric)
    print(format_table(rows))
    for path in args.paths:
        if unfinished := unfinished_cells(path):
            print(f"{path}: {len(unfinished)} unfinished cell(s) left out: {', '.join(unfinished)}", file=sys.stderr)
    return 0
