"""What each step of a grid plan does, for every executor: whether it has work left (``needed``) and doing it
(``run_step``: a cell, a pre student trained for attribution only, an attribution file)."""

from __future__ import annotations

from cot_tasks.conditions import needs_attributions
from cot_tasks.grid_files import RunRecord
from harness_plugins.grid.attribution_step import attribute, attribution_complete
from harness_plugins.grid.cell import cell_config, finished, run_cell, train_cell
from harness_plugins.grid.plan import Cell, Plan, Step


def key_token_cells(plan: Plan, pre: Cell) -> list[Cell]:
    """The cells trained on the attribution file of ``pre``'s dataset, student and seed."""
    if "key_token_cells" not in plan.known:
        index: dict[tuple, list[Cell]] = {}
        for c in plan.cells:
            if needs_attributions(c.condition):
                index.setdefault((c.dataset, c.student, c.seed), []).append(c)
        plan.known["key_token_cells"] = index
    return plan.known["key_token_cells"].get((pre.dataset, pre.student, pre.seed), [])


def needed(plan: Plan, step: Step) -> bool:
    """Whether a step has work left: a finished cell needs nothing, and neither does a pre student or an
    attribution file whose key-token cells are all finished (a rerun loads no attribution model)."""
    if step.kind == "cell":
        return finished(plan, step.cell) is None
    waiting = any(finished(plan, c) is None for c in key_token_cells(plan, step.cell))
    return waiting and not attribution_complete(plan, step.cell)


def run_step(plan: Plan, step: Step, chance: dict[str, float], *, verbose: bool = False) -> RunRecord | None:
    """Do one step; a cell step returns its row."""
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
