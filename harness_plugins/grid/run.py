"""``cot-distill run``: train and evaluate a grid of datasets x conditions x students x seeds.

Layout::

    RUN_DIR/grid.json                       the grid config of the last invocation
    RUN_DIR/runs/<dataset>__<condition>__<student>__seed<k>/
        checkpoint/                         the trained student (save_pretrained + cot_distill.json)
        eval/                               lm-eval's own output of both passes: the gen task, then the acc
                                            task (results_*.json and samples_*.jsonl each)
        run.json                            the cell and its two metrics; written last, so it marks the run done
    RUN_DIR/attributions/<dataset>__<student>__seed<k>.jsonl
                                            key tokens for keytokens_post/random_post cells; a
                                            .done.json beside it once complete (then no pre model is needed)
    RUN_DIR/attributions/<dataset>__pre__<student>__seed<k>/checkpoint/
                                            the pre student that scored them, when pre is not a grid cell
    RUN_DIR/results.csv                     every run of this grid, one row per run x metric

A run with a ``run.json`` is reused; an unfinished one resumes its training.
Key-token cells first need the ``pre`` student of their dataset/student/seed
(trained here even when ``pre`` is not in the grid) to attribute the training
rationales with integrated gradients; the attribution file resumes too.
"""

from __future__ import annotations

import csv
import io
import statistics
import time
from dataclasses import asdict
from pathlib import Path

from cot_tasks.errors import DataError
from cot_tasks.grid_files import GRID_FILE, RunRecord, write_grid_file
from cot_tasks.io import write_atomic
from cot_tasks.names import GENERATION, PROTOCOL
from harness_plugins.grid.cell import finished
from harness_plugins.grid.claim import Owner, claimed
from harness_plugins.grid.config import GridConfig
from harness_plugins.grid.plan import Plan, chance_level, check_join, plan
from harness_plugins.grid.steps import needed, run_step
from trainers.model import bf16_is_fast, pick_device

CSV_COLUMNS = ("dataset", "student", "condition", "seed", "metric", "value", "n_docs", "invalid", "chance", "task",
               "key", "kind", "formulation", "teacher", "rationales", "examples", "dropped", "truncated", "checkpoint")


def prepare(grid: GridConfig) -> tuple[Plan, dict[str, float]]:
    """The plan and each dataset's chance level, after every check that can fail before hours of work;
    then (and only then) the run folder is claimed."""
    the_plan = plan(grid)
    for dataset, path in the_plan.rationales.items():
        joined, unjoined = check_join(dataset, grid.source, path)
        print(f"[{dataset}] rationales {path}: {joined} train examples joined, {unjoined} without a rationale")
    chance = {d: chance_level(d, grid.source, grid.eval.limit) for d in grid.datasets}
    for cell in the_plan.cells:
        finished(the_plan, cell)  # a finished cell of other settings stops the run here, before grid.json
    check_bf16_is_native(grid, the_plan)
    claim_run_dir(the_plan.out, grid)
    return the_plan, chance


def run_grid(grid: GridConfig, *, verbose: bool = False) -> list[RunRecord]:
    """Train + evaluate every cell (reusing finished ones), one step after another; then write results.csv
    and print the table."""
    the_plan, chance = prepare(grid)
    rows: dict[str, RunRecord] = {}
    started = time.perf_counter()
    n_cells, i = sum(s.kind == "cell" for s in the_plan.steps), 0
    for step in the_plan.steps:
        reused = not needed(the_plan, step)
        if step.kind == "cell":
            i += 1
            print(f"[{i}/{n_cells}] {step.cell.name}{'  reused (finished before)' if reused else ''}  "
                  f"({time.perf_counter() - started:.0f}s elapsed)", flush=True)
        if reused:  # nothing to write, so no claim to take (a claim starts a heartbeat thread)
            row = finished(the_plan, step.cell) if step.kind == "cell" else None
        else:
            with claimed(the_plan.claim_file(step), Owner.me()):
                row = run_step(the_plan, step, chance, verbose=verbose)
        if row is not None:
            rows[step.cell.name] = row
    return finish(the_plan, rows, started)


def finish(the_plan: Plan, rows: dict[str, RunRecord], started: float) -> list[RunRecord]:
    """results.csv and the table, in the grid's order whatever order the cells ended in (every executor)."""
    ordered = [rows[c.name] for c in the_plan.cells if c.name in rows]
    write_csv(the_plan.out / "results.csv", ordered)
    if ordered:
        print(format_table(ordered))
    print(f"{len(ordered)} runs in {time.perf_counter() - started:.0f}s; results: {the_plan.out / 'results.csv'}")
    if left := len(the_plan.cells) - len(ordered):
        print(f"{left} cell(s) left for the device their seed's first cell trained on (one device per seed); "
              "run the grid there to finish it")
    return ordered


def check_bf16_is_native(grid: GridConfig, the_plan: Plan) -> None:
    """A grid that trains or scores in bf16 where bf16 is only emulated (a CPU without AVX512-BF16 or AMX: a
    matmul ~100x slower than fp32, measured) would run for days; taking fp32 there instead would make its new
    cells incomparable with the finished ones. So it stops before any work and says where it can run."""
    asks = (("train.mixed_precision", grid.train.get("mixed_precision"), pick_device(None)),
            ("eval.dtype", grid.eval.dtype, pick_device(grid.eval.device)))
    slow = [(name, device) for name, value, device in asks
            if value in ("bf16", "bfloat16") and not bf16_is_fast(device)]
    # A finished grid asks nothing of the machine, so it still resumes (and reports) anywhere.
    if slow and any(needed(the_plan, step) for step in the_plan.steps):
        name, device = slow[0]
        raise DataError(f"the grid asks for bf16 but this {device} only emulates it (~100x slower than fp32): run "
                        "it on a CPU with AVX512-BF16 or AMX, or a GPU (another precision needs another output folder: "
                        "the cells of one grid share one)", field=name)


def claim_run_dir(out: Path, grid: GridConfig) -> None:
    """A run folder is ours (grid.json) or empty; anything else is another run's and is left alone."""
    if out.exists() and any(out.iterdir()) and not (out / GRID_FILE).exists():
        raise DataError(f"output folder holds other files (no {GRID_FILE}); choose another output", path=out)
    out.mkdir(parents=True, exist_ok=True)
    write_grid_file(out, asdict(grid))


def csv_rows(rows: list[RunRecord]) -> list[dict]:
    """One flat row per run x metric (the run's identity repeated; every value as run.json records it)."""
    out = []
    for row in rows:
        data = row.to_json()
        identity = {**{k: v for k, v in data.items() if k != "metrics"}, "formulation": row.formulation}
        out += [{**identity, "metric": name, **score} for name, score in data["metrics"].items()]
    return out


def write_csv(path: Path, rows: list[RunRecord]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(rows))
    write_atomic(path, buf.getvalue())


def format_table(rows: list[RunRecord]) -> str:
    """Per dataset (its eval docs and chance level): both metrics and the invalid share, mean over seeds,
    one line per student/condition, in percent and in the report's condition order."""
    from cot_tasks.conditions import condition_order

    metrics = list(dict.fromkeys(m for r in rows for m in r.metrics))
    generated = next(m for m in metrics if PROTOCOL[m].kind == GENERATION)  # whose outputs can name no label
    columns = [f"{m} %" for m in metrics] + ["invalid %"]
    keys = sorted(dict.fromkeys((r.student, r.condition) for r in rows),
                  key=lambda k: (k[0], condition_order(k[1])))
    width = max([len("student / condition")] + [len(f"{s} / {c}") for s, c in keys])
    lines = []
    for dataset in dict.fromkeys(r.dataset for r in rows):
        mine = [r for r in rows if r.dataset == dataset]
        n_docs = sorted({score.n_docs for r in mine for score in r.metrics.values()})
        chance = sorted({r.chance for r in mine if r.chance is not None})
        lines += ["", f"{dataset}: {'/'.join(map(str, n_docs))} eval docs, chance "
                  + ("/".join(f"{100 * c:.1f}%" for c in chance) or "unknown"),
                  "student / condition".ljust(width) + "".join(f"  {c:>13}" for c in columns)]
        for s, c in keys:
            runs = [r for r in mine if (r.student, r.condition) == (s, c)]
            if not runs:
                continue
            vals = [statistics.mean(r.metrics[m].value for r in runs) for m in metrics]
            vals.append(statistics.mean(r.metrics[generated].invalid for r in runs))
            lines.append(f"{s} / {c}".ljust(width) + "".join(f"  {100 * v:13.1f}" for v in vals))
    return "\n".join(lines[1:])
