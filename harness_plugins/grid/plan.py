"""A grid as an explicit dependency graph of steps, the same for every executor.

Three kinds of step:

* ``cell``: train one student, evaluate both metrics, write its ``run.json``;
* ``pre``: train the ``pre`` student that scores rationale tokens, when ``pre`` is
  not itself a grid cell (its checkpoint lives under ``attributions/``);
* ``attribute``: integrated-gradients attribution of a dataset/student/seed's
  training rationales into ``attributions/<dataset>__<student>__seed<k>.jsonl``.

A ``keytokens_post:K`` / ``random_post:K`` cell needs its ``attribute`` step,
which needs the ``pre`` cell (or ``pre`` step) of the same dataset/student/seed,
unless the grid names an ``attribution_model``. Every other cell stands alone.
Outputs sit at paths fixed by the plan, so steps pass nothing but their order.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from cot_tasks.conditions import needs_attributions, parse_condition
from cot_tasks.errors import DataError
from cot_tasks.prompts import MCF
from harness_plugins.grid.config import GridConfig


@dataclass(frozen=True)
class Cell:
    dataset: str
    condition: str
    student: str
    seed: int
    formulation: str = MCF

    @property
    def student_slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.student.strip("/")).strip("-")

    @property
    def dataset_tag(self) -> str:
        """The dataset, and the formulation where it is not MCF (so a CF cell never shares an MCF cell's name)."""
        return self.dataset if self.formulation == MCF else f"{self.dataset}__{self.formulation}"

    @property
    def name(self) -> str:
        return f"{self.dataset_tag}__{parse_condition(self.condition).slug}__{self.student_slug}__seed{self.seed}"


@dataclass(frozen=True)
class Step:
    kind: str  # "cell" | "pre" | "attribute"
    cell: Cell  # the cell itself; for pre and attribute, the pre cell of the dataset/student/seed
    needs: tuple[str, ...] = ()  # ids of the steps that must finish first

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.cell.name}"


@dataclass(frozen=True)
class Plan:
    grid: GridConfig
    out: Path
    cells: tuple[Cell, ...]  # the grid's cells, in the grid's order (results.csv and the table)
    steps: tuple[Step, ...]  # every step, each after the steps it needs
    rationales: dict[str, str]  # dataset -> rationale file
    # What this invocation already knows and will not change under it: a cell found finished stays finished,
    # a rationale file's hash stays its hash (a rerun of a 300-cell grid asked each about five times).
    known: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def run_dir(self, cell: Cell) -> Path:
        return self.out / "runs" / cell.name

    def pre_checkpoint(self, cell: Cell) -> Path:
        """The pre student that scores ``cell``'s rationale tokens (a grid cell's, or one trained apart)."""
        pre = pre_cell(cell)
        in_grid = pre in self.known.setdefault("cells", frozenset(self.cells))
        return (self.run_dir(pre) if in_grid else self.out / "attributions" / pre.name) / "checkpoint"

    def claim_file(self, step: Step) -> Path:
        """Held while a step runs (harness_plugins.grid.claim): one writer per step folder, whatever the executor."""
        return self.out / "claims" / f"{step.kind}__{step.cell.name}.json"

    def attribution_file(self, cell: Cell) -> Path:
        return self.out / "attributions" / f"{cell.dataset_tag}__{cell.student_slug}__seed{cell.seed}.jsonl"

    def attribution_model(self, cell: Cell) -> str:
        return self.grid.attribution_model or str(self.pre_checkpoint(cell))


def pre_cell(cell: Cell) -> Cell:
    return Cell(cell.dataset, "pre", cell.student, cell.seed, cell.formulation)


def resolve_rationales(grid: GridConfig, dataset: str) -> str:
    value = grid.rationales.get(dataset)
    if value is None:
        raise DataError(f"no rationale file named for dataset {dataset!r}", field=f"rationales.{dataset}")
    if value == "sample":
        from cot_tasks.sample import rationale_path

        return str(rationale_path(dataset))
    if not Path(value).is_file():
        raise DataError("rationale file not found", path=value, field=f"rationales.{dataset}")
    return value


def check_join(dataset: str, source: str, rationale_file: str) -> tuple[int, int]:
    """(joined, unjoined) training examples, joined as the trainer will join them (none joined is an error)."""
    from cot_tasks.data import load_split
    from cot_tasks.rationales import read_rationales
    from cot_tasks.targets import build_targets

    texts = {rid: r.rationale for rid, r in read_rationales(rationale_file, dataset=dataset).items()}
    examples = load_split(dataset, "train", source=source, entry="grid")
    _, report = build_targets(examples, texts, "none", source=rationale_file)
    return report.joined, report.unjoined


def chance_level(dataset: str, source: str, limit: int | None = None) -> float:
    """Expected accuracy of a uniform guess over the scored eval docs (1 / number of choices, from the data)."""
    from cot_tasks.data import EVAL_SPLIT, load_split

    examples = load_split(dataset, EVAL_SPLIT[dataset], source=source, entry="grid")[:limit]
    return statistics.mean(1 / len(ex.choices) for ex in examples)


def grid_cells(datasets, conditions, students, seeds, formulation: str = MCF) -> tuple[Cell, ...]:
    """Every cell of a grid: dataset x condition x student x seed, in the grid's one formulation."""
    return tuple(Cell(d, parse_condition(c).spec, s, int(k), formulation) for d in datasets for c in conditions
                 for s in students for k in seeds)


def plan(grid: GridConfig) -> Plan:
    """Every step of the grid, after checking what can fail before hours of training (GridConfig checked its
    own fields; here the rationale files are found)."""
    cells = grid_cells(grid.datasets, grid.conditions, grid.students, grid.seeds, grid.formulation)
    rationales = {d: resolve_rationales(grid, d) for d in grid.datasets}
    steps: dict[str, Step] = {}
    in_grid = set(cells)

    def add(step: Step) -> str:
        steps.setdefault(step.id, step)
        return step.id

    # Seed after seed: a grid stopped part-way holds whole replicates, every condition of a seed comparable.
    for cell in sorted(cells, key=lambda c: grid.seeds.index(c.seed)):
        needs: tuple[str, ...] = ()
        if needs_attributions(cell.condition):
            pre = pre_cell(cell)
            before: tuple[str, ...] = ()
            if grid.attribution_model is None:
                before = (Step("cell", pre).id,) if pre in in_grid else (add(Step("pre", pre)),)
            needs = (add(Step("attribute", pre, before)),)
        add(Step("cell", cell, needs))
    return Plan(grid, Path(grid.output), cells, _topological(steps), rationales)


def _topological(steps: dict[str, Step]) -> tuple[Step, ...]:
    """Steps in insertion order, each moved after what it needs (a pre cell listed after its key-token cells)."""
    done: dict[str, Step] = {}

    def visit(step: Step) -> None:
        if step.id in done:
            return
        for need in step.needs:
            visit(steps[need])
        done[step.id] = step

    for step in steps.values():
        visit(step)
    return tuple(done.values())
