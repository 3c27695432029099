"""What each step of a grid plan does, for every executor: whether it has work left (``needed``) and doing it
(``run_step``: a cell, a pre student trained for attribution only, an attribution file)."""

from __future__ import annotations

from cot_tasks.conditions import needs_attributions
from cot_tasks.grid_files import RunRecord
from harness_plugins.grid.attribution_step import attribute, attribution_complete
from harness_plugins.grid.cell import cell_config, finished, run_cell, train_cell
from harness_plugins.grid.plan import Cell, Plan, Step


def seed_cells(plan: Plan, cell: Cell) -> list[Cell]:
    """The cells of ``cell``'s dataset, student and seed, in the grid's order."""
    if "seed_cells" not in plan.known:
        index: dict[tuple, list[Cell]] = {}
        for c in plan.cells:
            index.setdefault((c.dataset, c.student, c.seed), []).append(c)
        plan.known["seed_cells"] = index
    return plan.known["seed_cells"].get((cell.dataset, cell.student, cell.seed), [])


def key_token_cells(plan: Plan, pre: Cell) -> list[Cell]:
    """The cells trained on the attribution file of ``pre``'s dataset, student and seed."""
    return [c for c in seed_cells(plan, pre) if needs_attributions(c.condition)]


def device_of(plan: Plan, cell: Cell) -> str | None:
    """The device the cells of ``cell``'s dataset, student and seed train on: the one their first finished cell
    (in the grid's order) records; None while none has finished (or none records its device)."""
    for c in seed_cells(plan, cell):
        row = finished(plan, c)
        if row is not None and (row.training or {}).get("device"):
            return row.training["device"]
    return None


def left_for(plan: Plan, step: Step) -> str | None:
    """The other device a step is left for. One device per seed: a dataset/student/seed whose first cell
    finished on one device is trained and scored there only, so no paired comparison between its conditions
    holds what the device alone moves (the same seed trains differently on another CPU from the first step)."""
    from trainers.model import device_name, pick_device

    owner = device_of(plan, step.cell)
    return owner if owner is not None and owner != device_name(pick_device(None)) else None


def needed(plan: Plan, step: Step) -> bool:
    """Whether a step has work left: a finished cell needs nothing, and neither does a pre student or an
    attribution file whose key-token cells are all finished (a rerun loads no attribution model)."""
    if step.kind == "cell":
        return finished(plan, step.cell) is None
    waiting = any(finished(plan, c) is None for c in key_token_cells(plan, step.cell))
    return waiting and not attribution_complete(plan, step.cell)


def run_step(plan: Plan, step: Step, chance: dict[str, float], *, verbose: bool = False) -> RunRecord | None:
    """Do one step; a cell step returns its row (None where the step is left for another device)."""
    if (owner := left_for(plan, step)) is not None:
        what = step.cell.name if step.kind == "cell" else f"the {step.kind} step of {step.cell.name}"
        print(f"[{step.cell.dataset}] {what}: left for {owner}, where its seed's first cell trained; run the grid "
              "there", flush=True)
        return None
    if step.kind == "cell":
        return run_cell(plan, step.cell, chance.get(step.cell.dataset), verbose=verbose)
    if not needed(plan, step):
        return None
    if step.kind == "pre":
        print(f"[{step.cell.dataset}] key tokens come from the pre student {step.cell.name} (pre is not among "
              "the grid's conditions: trained for attribution only)", flush=True)
        train_cell(cell_config(plan.grid, step.cell, plan.pre_checkpoint(step.cell),
                               plan.rationales[step.cell.dataset]), step.cell.name)
    elif step.kind == "attribute":
        attribute(plan, step.cell)
    else:
        raise ValueError(f"unknown step kind {step.kind!r}")
    return None
