"""The finished cells of a grid as the report sees them: one ``Run`` per cell x metric.

Reads only what the grid and lm-eval wrote: ``runs/*/run.json`` names, per metric,
the lm-eval task and ``metric,filter`` key that scored the cell; the value and the
per-doc scores come from lm-eval's own ``results_*.json`` and ``samples_*.jsonl``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from cot_tasks.errors import DataError
from cot_tasks.grid_files import read_grid_file, read_run
from cot_tasks.names import PROTOCOL, TASK_FACTS, invalid_key
from cot_tasks.prompts import MCF
from cot_tasks.train_log import TRAIN_LOG, read_train_log
from harness_plugins.lmeval.results import DocScore, read_samples, results_for_task, samples_path, split_key


@dataclass(frozen=True)
class Run:
    path: Path
    dataset: str
    condition: str
    student: str
    seed: int
    metric: str  # bare name: acc, acc_norm (CF), exact_match
    task: str
    value: float
    invalid: float | None  # share of outputs with no extractable label (generation metrics)
    version: object
    docs: Mapping[str, DocScore] = field(repr=False)  # by example id (results.read_samples)
    device: str | None = None  # where it was trained, as run.json records it (None: not recorded)
    # mcf or cf: what the student was trained and scored on (a letter or the answer text); last, with a
    # default, so that Runs made by hand (tests, simulations) stay MCF as every grid before CF was.
    formulation: str = MCF

    @property
    def cell(self) -> str:
        return self.path.name


def load_run(run_dir: str | Path) -> list[Run]:
    """One ``Run`` per metric that ``run.json`` lists, scored from lm-eval's files (the value run.json and
    results.csv carry must be lm-eval's: one number, one source)."""
    run_dir = Path(run_dir)
    info = read_run(run_dir)
    device = (info.training or {}).get("device")
    device = device if isinstance(device, str) else None
    where = run_dir / "run.json"
    runs = []
    for metric, score in info.metrics.items():
        # A CF cell scored by an MCF task (or the reverse) would be compared with the wrong cells.
        if score.task in TASK_FACTS and TASK_FACTS[score.task][1] != info.formulation:
            raise DataError(f"task {score.task!r} is {TASK_FACTS[score.task][1]}, the cell {info.formulation}",
                            path=where, field=f"metrics.{metric}.task")
        name, filter_name = split_key(score.key)
        if name != metric or "," not in score.key:
            raise DataError(f"key {score.key!r} is not '{metric},<filter>'", path=where, field=f"metrics.{metric}.key")
        results = results_for_task(run_dir / "eval", score.task)
        entry = results.tasks()[score.task]
        if score.key not in entry:
            raise DataError(f"task {score.task!r} has no {score.key!r}", path=results.path)
        value = float(entry[score.key])
        if score.value is not None and score.value != value:
            raise DataError(f"says {score.value} where lm-eval's {results.path.name} says {value}: re-evaluate the "
                            "cell", path=where, field=f"metrics.{metric}.value")
        invalid = entry.get(invalid_key(metric, score.key)) if metric in PROTOCOL else None
        runs.append(Run(
            path=run_dir, dataset=info.dataset, condition=info.condition, student=info.student, seed=info.seed,
            metric=metric, task=score.task, value=value, invalid=None if invalid is None else float(invalid),
            version=results.version(score.task),
            docs=read_samples(samples_path(results, score.task), metric, filter_name),
            device=device, formulation=info.formulation))
    return runs


RunDirs = str | Path | Sequence[str | Path]


def run_dirs(value: RunDirs) -> list[Path]:
    """One grid's run folder, or several (two students run as two grids report as one)."""
    return [Path(value)] if isinstance(value, (str, Path)) else [Path(d) for d in value]


def _cell_dirs(dirs: RunDirs) -> list[Path]:
    """The cell folders of one run folder, or of several in the order given."""
    roots = [d / "runs" for d in run_dirs(dirs)]
    return [p for root in roots if root.is_dir() for p in sorted(p for p in root.iterdir() if p.is_dir())]


def unfinished_cells(dirs: RunDirs) -> list[str]:
    """Cells without a run.json (written last): still running, stopped before they were scored, or planned
    by the run folder's grid.json and never started. ``load_grid`` leaves them out; the report and compare
    say which, so a grid that is not complete never reads as if it were."""
    names = [d.name for d in _cell_dirs(dirs) if not (d / "run.json").exists()]
    for root in run_dirs(dirs):
        names += [n for n in planned_cells(root) if n not in names and not (root / "runs" / n / "run.json").exists()]
    return names


def planned_cells(run_dir: Path) -> list[str]:
    """The cell names the grid.json of ``cot-distill run`` lists (none for a folder without one)."""
    from harness_plugins.grid.plan import grid_cells

    grid = read_grid_file(run_dir)
    if grid is None:
        return []
    return [c.name for c in grid_cells(grid.datasets, grid.conditions, grid.students, grid.seeds, grid.formulation)]


@dataclass(frozen=True)
class Training:
    """What one finished cell's training did, from its run.json: examples used and dropped, rationales cut,
    and the trainer's measurements (``harness_plugins.grid.cell.training_facts``; empty for cells finished before
    run.json carried them)."""

    cell: str
    dataset: str
    student: str
    condition: str
    seed: int
    examples: int | None
    dropped: int | None
    truncated: int | None
    facts: Mapping[str, object]
    formulation: str = MCF
    curve: tuple[tuple[int, float], ...] = ()  # (step, loss) from the cell's train_log.jsonl; () when not logged


def load_training(dirs: RunDirs) -> list[Training]:
    """One ``Training`` per finished cell, in folder order."""
    out = []
    for d in _cell_dirs(dirs):
        if (d / "run.json").exists():
            info = read_run(d)
            out.append(Training(d.name, info.dataset, info.student, info.condition, info.seed, info.examples,
                                info.dropped, info.truncated, info.training or {}, info.formulation, _curve(d)))
    return out


def _curve(cell_dir: Path) -> tuple[tuple[int, float], ...]:
    """The cell's training loss per step; cells trained before the log existed have none."""
    path = cell_dir / TRAIN_LOG
    return tuple((row["step"], float(row["loss"])) for row in read_train_log(path)) if path.exists() else ()


def load_grid(dirs: RunDirs) -> list[Run]:
    """Every finished cell's runs, of one grid or several (a grid in progress reports what it has; see
    ``unfinished_cells``). A cell found in two run folders is refused: which one to report is the user's call."""
    runs, seen = [], {}
    for run_dir in run_dirs(dirs):
        cells = _cell_dirs(run_dir)
        if not cells:
            raise DataError("no runs/ folders (run `cot-distill run` first)", path=run_dir)
        finished = [d for d in cells if (d / "run.json").exists()]
        if not finished:
            raise DataError(f"no finished cell yet ({len(cells)} started, none has its run.json)", path=run_dir)
        for d in finished:
            if d.name in seen:
                raise DataError(f"cell {d.name} is in two run folders ({seen[d.name]} and {run_dir}); report them "
                                "apart", path=d)
            seen[d.name] = run_dir
        runs += [run for d in finished for run in load_run(d)]
    check_metrics(runs)
    check_versions(runs)
    return runs


def check_metrics(runs: Iterable[Run]) -> None:
    """Every cell carries every metric its formulation's cells report: a comparison never falls back to another
    metric. Within one formulation only: CF cells carry acc_norm, which MCF cells (one-token letters) do not."""
    by_cell: dict[Path, set[str]] = defaultdict(set)
    formulation: dict[Path, str] = {}
    for run in runs:
        by_cell[run.path].add(run.metric)
        formulation[run.path] = run.formulation
    wanted: dict[str, set[str]] = defaultdict(set)
    for path, metrics in by_cell.items():
        wanted[formulation[path]] |= metrics
    for path, metrics in sorted(by_cell.items()):
        if metrics != (want := wanted[formulation[path]]):
            raise DataError(f"cell has no {', '.join(sorted(want - metrics))} score while other cells do; "
                            "re-evaluate it", path=path / "run.json")


def check_versions(runs: Iterable[Run]) -> None:
    """Scores of one task under two task versions are not comparable: refuse to mix them."""
    seen: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        seen[run.task][str(run.version)].append(run.cell)
    for task, by_version in seen.items():
        if len(by_version) > 1:
            parts = "; ".join(f"version {v}: {', '.join(names)}" for v, names in sorted(by_version.items()))
            raise DataError(f"mixed versions of task {task!r} across runs ({parts}); re-evaluate so they match")
