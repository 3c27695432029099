"""A grid cell: its training config, whether it is finished (and made as the grid now asks), training it,
scoring it with lm-eval's passes and writing its run.json. The attribution step is ``attribution_step``;
``steps`` runs any step of the plan."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Mapping

from cot_tasks.conditions import condition_kind, needs_attributions, uses_attribution_scores
from cot_tasks.errors import DataError
from cot_tasks.grid_files import RunRecord, Score, read_done, read_run, write_run
from cot_tasks.io import write_atomic
from cot_tasks.names import GEN_TASKS, invalid_key, passes_for, tasks_for
from cot_tasks.rationales.keytokens import DEFAULT_METHOD
from cot_tasks.train_log import TRAIN_LOG
from harness_plugins.grid.config import GridConfig
from harness_plugins.grid.plan import Cell, Plan, pre_cell
from trainers.config import TrainConfig


def cell_config(grid: GridConfig, cell: Cell, output: Path, rationale_file: str,
                attributions: str | None = None) -> TrainConfig:
    return TrainConfig.from_dict({**grid.train, "dataset": cell.dataset, "condition": cell.condition,
                                  "formulation": cell.formulation, "student": cell.student, "seed": cell.seed,
                                  "rationales": rationale_file,
                                  "attributions": attributions, "source": grid.source, "output": str(output)})


def train_cell(config: TrainConfig, name: str):
    """Train (or resume, or reuse) ``config``, logged under the cell's ``name`` (its trackers' run name)."""
    from trainers.train import train

    return train(config, resume=True, run_name=name)


def cell_train_config(plan: Plan, cell: Cell) -> TrainConfig:
    attributions = str(plan.attribution_file(cell)) if needs_attributions(cell.condition) else None
    return cell_config(plan.grid, cell, plan.run_dir(cell) / "checkpoint", plan.rationales[cell.dataset],
                       attributions)


def finished(plan: Plan, cell: Cell) -> RunRecord | None:
    """The cell's run.json, if it is done (an older layout without both metrics is scored again). A cell
    trained with other settings than the grid now asks for is refused, never silently reused. Checked once
    per plan: a finished cell stays finished (an unfinished one is asked again, it may have finished since)."""
    key = ("finished", cell)
    if key not in plan.known:
        row = _finished(plan, cell)
        if row is None:
            return None
        plan.known[key] = row
    return plan.known[key]


def _finished(plan: Plan, cell: Cell) -> RunRecord | None:
    path = plan.run_dir(cell) / "run.json"
    if not path.is_file():
        return None
    try:
        row = read_run(plan.run_dir(cell))
    except DataError:
        return None  # a torn write cannot happen (atomic), but a hand-edited or older file is redone
    want, made = cell_train_config(plan, cell).identity(), row.train_identity or {}
    changed = sorted(k for k in set(want) | set(made) if want.get(k) != made.get(k))
    if changed:
        raise DataError(f"this cell was trained with other settings than the grid now asks for (differs in: "
                        f"{', '.join(changed)}); give the grid another output folder", path=path)
    if uses_attribution_scores(cell.condition):
        want = attribution_settings(attribution_made_by(plan, pre_cell(cell)))
        made = attribution_settings(row.attributions_made_by or {})
        changed = sorted(k for k in want if made[k] != want[k])
        if changed:
            raise DataError(f"this cell was trained on key tokens attributed with other settings than the grid now "
                            f"asks for (differs in: attribution.{', attribution.'.join(changed)}); give the grid "
                            "another output folder, or move this cell and its attribution file away to redo them",
                            path=path)
    tasks = [m.task for m in row.metrics.values()]
    changed = eval_settings_changed(plan.grid, plan.run_dir(cell) / "eval", tasks)
    if changed:
        raise DataError(f"this cell was scored with other eval settings than the grid now asks for (differs in: "
                        f"{', '.join(changed)}); give the grid another output folder", path=path)
    return row


def eval_settings_changed(grid: GridConfig, eval_dir: Path, tasks: list[str]) -> list[str]:
    """What lm-eval recorded in a cell's results files (precision, --limit, --gen_kwargs) that differs from
    what the grid asks for: cells scored another way would be compared as if they were alike."""
    from lm_eval.utils import simple_parse_args_string

    from harness_plugins.lmeval.results import newest_per_task, results_for_task

    want_gen = simple_parse_args_string(grid.eval.gen_kwargs) if grid.eval.gen_kwargs else None
    changed, scored = set(), newest_per_task(eval_dir)
    for task in tasks:
        config = (scored[task] if task in scored else results_for_task(eval_dir, task)).data.get("config", {})
        if grid.eval.dtype is not None and config.get("model_dtype") != f"torch.{grid.eval.dtype}":
            changed.add("eval.dtype")
        if config.get("limit") != grid.eval.limit:
            changed.add("eval.limit")
        made_gen = config.get("gen_kwargs") or None
        if isinstance(made_gen, str):  # older lm-eval records the --gen_kwargs string itself
            made_gen = simple_parse_args_string(made_gen)
        if task in GEN_TASKS and made_gen != want_gen:
            changed.add("eval.gen_kwargs")
    return sorted(changed)


def attribution_settings(made: Mapping[str, Any]) -> dict:
    """The method and settings in what made an attribution file (a record, a .done.json, a cell's copy of it);
    one made before records named their method is integrated gradients."""
    return {"method": made.get("method", DEFAULT_METHOD), "steps": made.get("steps"), "baseline": made.get("baseline")}


def attribution_made_by(plan: Plan, pre: Cell) -> dict:
    """What decides an attribution file's scores: its model, method and settings, and rationale file."""
    from trainers.data import file_sha256

    grid, rationales = plan.grid, plan.rationales[pre.dataset]
    if ("sha256", rationales) not in plan.known:
        plan.known[("sha256", rationales)] = file_sha256(rationales)
    digest = plan.known[("sha256", rationales)]
    made = {"model": plan.attribution_model(pre), "steps": grid.attribution.steps,
            "baseline": grid.attribution.baseline, "rationales_sha256": digest,
            "limit": grid.train.get("limit")}
    # Files made before these keys lack them: integrated gradients, MCF.
    if grid.attribution.method != DEFAULT_METHOD:
        made["method"] = grid.attribution.method
    # What the label is decides the score attributed.
    return made if pre.formulation == "mcf" else {**made, "formulation": pre.formulation}


def evaluate_cell(grid: GridConfig, cell: Cell, checkpoint: str, eval_dir: Path,
                  trust_remote_code: bool = False, *, quiet: bool = True) -> dict[str, Score]:
    """Every metric of a trained cell, from lm-eval's passes into ``eval_dir`` in the protocol's order (the gen
    task, then the choice task: for reasoning-first cells the commit task, fed with the gen pass's samples)."""
    from harness_plugins.lmeval.evaluate import evaluate_checkpoint
    from harness_plugins.lmeval.results import results_for_task, samples_path

    common = dict(source=grid.source, output_dir=eval_dir, batch_size=grid.eval.batch_size, device=grid.eval.device,
                  limit=grid.eval.limit, dtype=grid.eval.dtype, trust_remote_code=trust_remote_code, quiet=quiet)
    for task, reads in passes_for(cell.condition, cell.dataset, cell.formulation):
        metadata = None
        if reads is not None:
            metadata = {"generations": str(samples_path(results_for_task(eval_dir, reads), reads))}
            if grid.eval.limit is not None:
                metadata["limit"] = grid.eval.limit
        evaluate_checkpoint(checkpoint, [task], metadata=metadata,
                            gen_kwargs=grid.eval.gen_kwargs if task in GEN_TASKS else None, **common)
    metrics = {}
    for name, (task, key) in tasks_for(cell.condition, cell.dataset, cell.formulation).items():
        results = results_for_task(eval_dir, task)
        # A choice pass always picks a label: nothing is invalid there.
        invalid = results.value(task, ik) if (ik := invalid_key(name, key)) else 0.0
        metrics[name] = Score(task, key, results.value(task, key), results.n_docs(task), invalid)
    return metrics


def merged_results(eval_dir: Path, tasks: list[str]) -> dict:
    """One results dict holding the given tasks of several lm-eval passes (for the model card)."""
    from harness_plugins.lmeval.results import results_for_task

    merged: dict[str, dict] = {"results": {}, "configs": {}, "versions": {}}
    for task in tasks:
        data = results_for_task(eval_dir, task).data
        for part in merged:
            if task in data.get(part, {}):
                merged[part][task] = data[part][task]
    return merged


def run_cell(plan: Plan, cell: Cell, chance: float | None = None, *, verbose: bool = False) -> RunRecord:
    """Train (or resume, or reuse) and evaluate one cell; its run.json is written last."""
    from harness_plugins.lmeval.model_card import write_model_card
    from trainers.model import weights_sha256

    existing = finished(plan, cell)
    if existing is not None:
        return existing
    grid, run_dir = plan.grid, plan.run_dir(cell)
    rationale_file = plan.rationales[cell.dataset]
    config = cell_train_config(plan, cell)
    attributions = config.attributions
    trained = train_cell(config, cell.name)
    # The curves beside run.json, committed with it (the checkpoint never is).
    log = Path(config.output) / TRAIN_LOG
    if log.is_file():
        write_atomic(run_dir / TRAIN_LOG, log.read_bytes())
    # Evaluation is not resumable: a half-written eval folder from a killed run is redone.
    eval_dir = run_dir / "eval"
    shutil.rmtree(eval_dir, ignore_errors=True)
    metrics = evaluate_cell(grid, cell, config.output, eval_dir, config.trust_remote_code, quiet=not verbose)
    done = read_done(plan.attribution_file(pre_cell(cell))) if attributions else None
    row = RunRecord(
        dataset=cell.dataset, condition=cell.condition, kind=condition_kind(cell.condition),
        formulation=cell.formulation, student=cell.student, seed=cell.seed, teacher=grid.teacher,
        rationales=rationale_file, metrics=metrics, chance=chance, examples=trained.examples,
        dropped=trained.dropped, truncated=trained.truncated, checkpoint=str(Path(config.output).resolve()),
        weights_sha256=weights_sha256(config.output), training=training_facts(config.output),
        train_identity=config.identity(), attributions=attributions or None,
        attributions_made_by=done.to_json() if done is not None else None)
    write_model_card(config.output, row.to_json(), merged_results(eval_dir, [m.task for m in metrics.values()]))
    write_run(run_dir, row)
    return row


TRAINING_FACTS = ("steps", "target_tokens", "target_length_mean", "final_loss", "mixed_precision", "device",
                  "length_ratio", "answer_found", "answer_leaks")


def training_facts(checkpoint: str | Path) -> dict:
    """What the trainer measured, copied from the checkpoint's run record into run.json, which is committed
    when weights never are: target tokens seen, final loss, and each control's own measurements (length
    against the rationale in student tokens, mean target length; answer forms left after removal)."""
    from trainers.config import read_run_record

    record = read_run_record(checkpoint) or {}
    return {k: record[k] for k in TRAINING_FACTS if k in record}
