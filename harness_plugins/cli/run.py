"""``cot-distill run``: the grid (train + evaluate + table)."""

from __future__ import annotations


def register(sub) -> None:
    r = sub.add_parser("run", help="train and evaluate a grid from a YAML config (default: the bundled demo)",
                       description="Train and evaluate datasets x conditions x students x seeds; write "
                                   "RUN_DIR/runs/*/run.json, RUN_DIR/results.csv and print the table. "
                                   "Finished cells are reused; an interrupted grid resumes.")
    r.add_argument("config", nargs="?", help="grid YAML (default: trainers/configs/default.yaml, the bundled demo)")
    r.add_argument("--output", help="run folder (default: the config's output key)")
    r.set_defaults(func=_run)


def _run(args) -> int:
    from harness_plugins.grid import run_grid
    from harness_plugins.grid_config import load_grid_config

    grid = load_grid_config(args.config)
    if args.output:
        grid.output = args.output
    run_grid(grid, verbose=args.verbose)
    return 0
