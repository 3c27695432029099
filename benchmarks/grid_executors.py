"""Wall time of a grid under the sequential executor and under Ray (a local cluster of --cpus CPUs, one CPU
per step), and Ray's scheduling overhead per step (a claimed no-op step as a task vs called in-process).

    python benchmarks/grid_executors.py                      # the bundled default grid, 2 CPUs
    python benchmarks/grid_executors.py --datasets csqa      # a third of it
    python benchmarks/grid_executors.py --overhead-only

Both executors start from an empty run folder; results.csv must come out equal (paths aside).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _noop_step(claim: str, task_id: bool) -> int:
    from harness_plugins.grid.claim import Owner, claimed

    task = ""
    if task_id:
        import ray

        task = ray.get_runtime_context().get_task_id()
    with claimed(claim, Owner.me(task)):
        return os.getpid()


def overhead(ray, n: int, folder: Path) -> tuple[float, float]:
    """Seconds per claimed no-op step: as Ray tasks (submitted at once, 1 CPU each), and called here."""
    remote = ray.remote(_noop_step).options(num_cpus=1, max_retries=3)
    ray.get([remote.remote(str(folder / "warm.json"), True) for _ in range(4)])  # workers started
    started = time.perf_counter()
    ray.get([remote.remote(str(folder / f"t{i}.json"), True) for i in range(n)])
    as_tasks = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for i in range(n):
        _noop_step(str(folder / f"l{i}.json"), False)
    return as_tasks, (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--datasets", nargs="+")
    parser.add_argument("--overhead-only", action="store_true")
    parser.add_argument("--n", type=int, default=200, help="no-op steps for the overhead figure")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import ray

    from harness_plugins.cli import quiet_third_party
    from harness_plugins.grid.config import load_grid_config
    from harness_plugins.grid.ray_executor import run_grid_ray
    from harness_plugins.grid.run import run_grid

    quiet_third_party()
    started = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    print(f"ray.init (local cluster, {args.cpus} CPUs): {time.perf_counter() - started:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        per_task, per_call = overhead(ray, args.n, tmp)
        print(f"claimed no-op step: {per_task * 1000:.1f} ms as a Ray task (throughput over {args.n}, "
              f"{args.cpus} at once), {per_call * 1000:.2f} ms in-process; overhead "
              f"{(per_task - per_call) * 1000:.1f} ms per step")
        if args.overhead_only:
            return
        walls = {}
        for name in ("sequential", "ray"):
            grid = load_grid_config(None)
            if args.datasets:
                grid.datasets = args.datasets
            grid.output = str(tmp / name)
            started = time.perf_counter()
            if name == "ray":
                run_grid_ray(grid, progress_every=600)
            else:
                run_grid(grid)
            walls[name] = time.perf_counter() - started
        tables = [(tmp / n / "results.csv").read_text().replace(str((tmp / n).resolve()), "RUN") for n in walls]
        cells = len(tables[0].splitlines()) // 2
        print(f"grid of {cells} cells ({', '.join(grid.datasets)}): sequential {walls['sequential']:.0f}s, "
              f"ray {walls['ray']:.0f}s ({walls['sequential'] / walls['ray']:.2f}x); "
              f"results.csv equal: {tables[0] == tables[1]}")


if __name__ == "__main__":
    main()
