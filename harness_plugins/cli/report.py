"""``cot-distill report RUN_DIR [RUN_DIR ...]``: means, intervals and seed-level tests of a grid (or of several
grids as one, e.g. two students run as two grids)."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("report", help="aggregate a grid: means, bootstrap intervals, paired tests, plot")
    p.add_argument("run_dir", type=Path, nargs="+", metavar="RUN_DIR",
                   help="a `cot-distill run` output folder; several report as one (a cell may be in one only)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for report.md/.csv/.png (default: RUN_DIR itself; required with several)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--resamples", type=int, default=None,
                   help="bootstrap resamples (default: harness_plugins.report.stats.N_RESAMPLES)")
    p.set_defaults(func=_report)


def _report(args) -> int:
    from harness_plugins.report.build import build_report

    resamples = {} if args.resamples is None else {"n_resamples": args.resamples}
    report = build_report(args.run_dir, args.out, seed=args.seed, **resamples)
    print(report.markdown)
    print("wrote " + ", ".join(map(str, report.paths)))
    return 0
