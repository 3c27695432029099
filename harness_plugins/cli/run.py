"""``cot-distill run``: the grid (train + evaluate + table)."""

from __future__ import annotations


def register(sub) -> None:
    r = sub.add_parser("run", help="train and evaluate a grid from a YAML config (default: the bundled demo)",
                       description="Train and evaluate datasets x conditions x students x seeds; write "
                                   "RUN_DIR/runs/*/run.json, RUN_DIR/results.csv and print the table. "
                                   "Finished cells are reused; an interrupted grid resumes.")
    r.add_argument("config", nargs="?", help="grid YAML (default: trainers/configs/default.yaml, the bundled demo)")
    r.add_argument("--output", help="run folder (default: the config's output key)")
    r.add_argument("--executor", choices=("sequential", "ray"), default="sequential",
                   help="sequential: one step after another here (default); ray: each step a Ray task with the "
                        "grid's resources (pip install 'cot-distill[ray]')")
    r.add_argument("--address", help="with --executor ray: auto (the cluster `ray start` made here), HOST:PORT or "
                                     "ray://HOST:PORT; default: a new local cluster")
    r.set_defaults(func=_run)


def _run(args) -> int:
    from cot_tasks.errors import DataError
    from harness_plugins.grid.config import load_grid_config
    from harness_plugins.grid.run import run_grid

    if args.address and args.executor != "ray":
        raise DataError("--address names a Ray cluster: it needs --executor ray", field="--address")
    grid = load_grid_config(args.config)
    if args.output:
        grid.output = args.output
    if args.executor == "ray":
        from harness_plugins.grid.ray_executor import run_grid_ray

        run_grid_ray(grid, address=args.address, verbose=args.verbose)
    else:
        run_grid(grid, verbose=args.verbose)
    return 0
