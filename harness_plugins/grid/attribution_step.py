"""The attribution step of a grid: the attribution file of a dataset/student/seed made (or resumed) by the pre
student, its .done.json written, and whether a finished one is complete and made as the grid now asks."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from cot_tasks.errors import DataError
from cot_tasks.grid_files import AttributionDone, read_done, write_done
from harness_plugins.grid.cell import attribution_made_by, attribution_settings, cell_config, finished, train_cell
from harness_plugins.grid.config import AttributionOptions
from harness_plugins.grid.plan import Cell, Plan


def check_attribution_file(path: Path, model: str, options: AttributionOptions) -> None:
    """Resume only a file made the same way: other settings would mix two kinds of scores in one file."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    try:
        made = json.loads(first)
    except json.JSONDecodeError:
        return  # a torn first line: run_attribution drops and redoes it
    want = {"model": model, "method": options.method, "steps": options.steps, "baseline": options.baseline}
    made = {"model": made.get("model"), **attribution_settings(made)}
    changed = sorted(k for k, v in want.items() if made[k] != v)
    if changed:
        raise DataError(f"made with other {', '.join(changed)} than the grid now asks for; delete it to redo it",
                        path=path)


def keep_if_same_weights(path: Path, model: str, pre: Cell) -> None:
    """A partial attribution file committed by another machine is resumed when every row names the weights the
    pre student trained again here has (training is deterministic on one kind of device): hours of attribution
    kept. Rows of other weights, or naming none (older files), or a file that does not parse: made again."""
    from cot_tasks.io import repair_tail
    from cot_tasks.rationales.keytokens import read_attributions
    from trainers.model import weights_sha256

    if not path.is_file():
        return
    now = weights_sha256(model)
    try:
        repair_tail(path)
        made = {row.weights_sha256 for row in read_attributions(path).values()}
    except DataError:
        made = set()
    if now is not None and made == {now}:
        print(f"[{pre.dataset}] {path}: resumed, its rows made with these same weights (sha256 {now[:12]}...)",
              flush=True)
        return
    print(f"[{pre.dataset}] {path}: made with other weights, or rows that name none: making it again", flush=True)
    path.unlink()


def attribute(plan: Plan, pre: Cell) -> Path:
    """The attribution file of ``pre``'s dataset/student/seed, made or resumed."""
    from cot_tasks.rationales.keytokens import read_attributions
    from trainers.attribution import AttributionConfig, run_attribution
    from trainers.config import read_run_record

    grid, path, model = plan.grid, plan.attribution_file(pre), plan.attribution_model(pre)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Made when this machine trains the pre student again; it outlives an interrupted run (never committed).
    again = path.with_suffix(".trained_again")
    if grid.attribution_model is None and (read_run_record(model) or {}).get("status") != "finished":
        # A grid resumed on another machine: the pre cell's run is committed, its weights never are. Train it
        # again (same settings and seed; an interrupted retraining resumes) and attribute every example with
        # weights of one sha256, never a mix.
        print(f"[{pre.dataset}] the pre student {pre.name} has no checkpoint here: training it again for its "
              "attributions", flush=True)
        again.touch()
        train_cell(cell_config(grid, pre, Path(model), plan.rationales[pre.dataset]), pre.name)
        keep_if_same_weights(path, model, pre)
    check_attribution_file(path, model, grid.attribution)
    report = run_attribution(AttributionConfig(
        model=model, dataset=pre.dataset, rationales=Path(plan.rationales[pre.dataset]), out=path,
        source=grid.source, method=grid.attribution.method, steps=grid.attribution.steps,
        baseline=grid.attribution.baseline,
        device=grid.eval.device, limit=grid.train.get("limit"), formulation=pre.formulation))
    print(f"[{pre.dataset}] attributions {report.line()}", flush=True)
    errors = [r.completeness_error for r in read_attributions(path).values() if r.completeness_error is not None]
    write_done(path, AttributionDone(
        attribution_made_by(plan, pre), attributed=report.done_before + report.attributed,
        skipped_long=report.skipped_long, without_rationale=report.missing_rationale,
        median_completeness_error=statistics.median(errors) if errors else None,
        **attributing_weights(plan, pre, model, again.exists())))
    return path


def attributing_weights(plan: Plan, pre: Cell, model: str, retrained: bool) -> dict:
    """Which weights gave the scores, and whether they are the ones the pre cell was scored with: a pre student
    trained again on another machine has the same recipe and seed, not always bit-equal weights (None: not
    known, the pre cell's run.json predates the weights hash)."""
    from trainers.model import weights_sha256

    made = weights_sha256(model)
    pre_run = finished(plan, pre)
    scored = pre_run.weights_sha256 if pre_run is not None else None
    return {"weights_sha256": made, "pre_trained_again": retrained,
            "same_weights_as_pre_cell": made == scored if scored and made else None}


def attribution_complete(plan: Plan, pre: Cell) -> bool:
    """Made by what the grid asks for, and whole: a file cut at a line boundary (a bad copy, a checkout
    interrupted) parses, so its rows are counted against the number its .done.json recorded."""
    path = plan.attribution_file(pre)
    done = read_done(path)
    if done is None or not path.is_file() or not done.made_as(attribution_made_by(plan, pre)):
        return False
    with open(path, "rb") as fh:
        rows = sum(1 for line in fh if line.strip())
    if done.attributed is not None and rows != done.attributed:
        print(f"[{pre.dataset}] {path} holds {rows} rows where its .done.json records {done.attributed}: "
              "making it again", flush=True)
        return False
    return True
