"""Time per cell of the no-op rerun and of ``cot-distill report`` on a finished grid, as the grid grows.

A 300-cell grid (a paper grid: 3 datasets x 6 conditions x 3 students x 5 seeds is 270) spends most of a
rerun deciding that every cell is finished, and the report reads every cell's files; both must stay linear
in the number of cells. The peer is the same grid at the smallest size, measured in the same run: the script
prints each size's seconds per cell and its ratio to the smallest size's (1.0 is flat).

The finished cells are real: one seed of the tiny student is trained and scored by ``cot-distill run``
(``none``, ``post``, ``keytokens_post:5``, with its pre student and attribution file), then copied to seeds
1..N-1 with run.json and the attribution records re-stamped for the new seed, so the rerun checks exactly
what it checks on a real grid (train identity, attribution settings, lm-eval's recorded eval settings).

    python benchmarks/grid_scaling.py                  # 30, 90 and 300 cells
    python benchmarks/grid_scaling.py --sizes 30 300 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

CONDITIONS = ["none", "post", "keytokens_post:5"]
TRAIN = {"epochs": 1, "lr": 0.002, "batch_size": 8, "max_length": 256, "save_steps": 0,
         "tiny": {"vocab_size": 512, "n_layer": 1, "n_head": 2, "n_embd": 32}}


def grid_config(out: Path, seeds: int):
    from harness_plugins.grid.config import EvalConfig, GridConfig

    return GridConfig(output=str(out), source="sample", datasets=["csqa"], conditions=CONDITIONS,
                      students=["tiny"], seeds=list(range(seeds)), rationales={"csqa": "sample"},
                      teacher="hand-written", train=TRAIN, eval=EvalConfig(batch_size=32, gen_kwargs="max_gen_toks=8"))


def train_seed_zero(out: Path) -> None:
    from harness_plugins.grid.run import run_grid

    with contextlib.redirect_stdout(io.StringIO()):
        run_grid(grid_config(out, 1))


def restamp(value, old: str, new: str):
    """Every string in a JSON value with the seed-0 cell's names and paths turned into seed N's."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [restamp(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: restamp(v, old, new) for k, v in value.items()}
    return value


def grow(source: Path, out: Path, seeds: int) -> None:
    """``out``: the seed-0 grid in ``source`` copied to ``seeds`` seeds (no checkpoints: a rerun needs none)."""
    from cot_tasks.grid_files import write_json
    from harness_plugins.grid.config import GridConfig  # noqa: F401  (the grid.json below is its asdict)

    shutil.rmtree(out, ignore_errors=True)
    (out / "runs").mkdir(parents=True)
    (out / "attributions").mkdir()
    for seed in range(seeds):
        old, new = "__seed0", f"__seed{seed}"
        for cell in (source / "runs").iterdir():
            target = out / "runs" / cell.name.replace(old, new)
            shutil.copytree(cell, target, ignore=shutil.ignore_patterns("checkpoint"))
            info = restamp(json.loads((cell / "run.json").read_text()), str(source), str(out))
            info = restamp(info, old, new)
            info["seed"], info["train_identity"]["seed"] = seed, seed
            write_json(target / "run.json", info)
        for path in (source / "attributions").glob("*seed0.*"):
            if path.is_file():
                text = path.read_text().replace(str(source), str(out)).replace(old, new)
                (out / "attributions" / path.name.replace("seed0", f"seed{seed}")).write_text(text)
    grid = json.loads((source / "grid.json").read_text())
    grid.update(output=str(out), seeds=list(range(seeds)))
    write_json(out / "grid.json", grid)


def timed(fn) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 90, 300], help="cells (multiples of 3)")
    parser.add_argument("--rounds", type=int, default=2, help="timings per size (the median is reported)")
    parser.add_argument("--resamples", type=int, default=1000, help="the report's bootstrap resamples")
    args = parser.parse_args()

    from harness_plugins.cli import quiet_third_party

    quiet_third_party()
    import warnings

    warnings.filterwarnings("ignore", message="constrained_layout not applied")  # many thin curve panels
    from harness_plugins.grid.run import run_grid
    from harness_plugins.grid.steps import run_step  # noqa: F401  (imports paid before the first timing)
    from harness_plugins.report.build import build_report

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("training and scoring seed 0 of the tiny grid ...", flush=True)
        train_seed_zero(tmp / "seed0")
        base = None
        print(f"{'cells':>6} {'rerun s':>9} {'s/cell':>8} {'ratio':>6} {'report s':>9} {'s/cell':>8} {'ratio':>6}")
        for size in args.sizes:
            seeds = size // len(CONDITIONS)
            out = tmp / f"grid{size}"
            grow(tmp / "seed0", out, seeds)
            config = grid_config(out, seeds)
            rerun = statistics.median(timed(lambda: run_grid(config)) for _ in range(args.rounds))
            report = statistics.median(timed(lambda: build_report(out, tmp / f"report{size}",
                                                                  n_resamples=args.resamples))
                                       for _ in range(args.rounds))
            cells = seeds * len(CONDITIONS)
            per = (rerun / cells, report / cells)
            base = base or per
            print(f"{cells:>6} {rerun:>9.2f} {per[0]:>8.4f} {per[0] / base[0]:>6.2f} {report:>9.2f} {per[1]:>8.4f} "
                  f"{per[1] / base[1]:>6.2f}", flush=True)
    print(f"loadavg {os.getloadavg()[0]:.1f} (the ratios compare sizes within this run only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
