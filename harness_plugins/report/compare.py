"""``cot-distill compare``: our students beside published numbers and other lm-eval runs.

Inputs are a grid folder (``RUN_DIR`` with ``runs/``), an lm-eval output folder,
or an lm-eval ``results_*.json``; everything stays in lm-eval's own layout and is
only read here. Rows are matched by dataset and metric; lm-eval's built-in
``commonsense_qa``/``openbookqa`` map to our ``csqa``/``obqa``. Our CF (cloze) tasks
and cells are named so in their rows (an MCF row reads as it did before CF existed).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cot_tasks.errors import DataError
from cot_tasks.names import PROTOCOL, TASK_FACTS
from cot_tasks.prompts import MCF
from harness_plugins.lmeval.results import LmEvalResults, latest_results, newest_per_task, read_results, split_key
from harness_plugins.report.baselines import Baseline, load_baselines
from harness_plugins.report.runs import load_grid

# lm-eval task name -> our dataset name: our tasks plus lm-eval's built-ins for the same data.
BUILTIN_TASKS = {"commonsense_qa": "csqa", "openbookqa": "obqa"}
TASK_DATASETS = {**{task: dataset for task, (dataset, _) in TASK_FACTS.items()}, **BUILTIN_TASKS}
# Per-doc correctness metrics and the published metric they are comparable with (the protocol's
# ``published_as``: a generated label that is parsed and exact-matched is accuracy, as in Ho et al.'s numbers).
# ``invalid`` (the gen tasks' share of outputs without a label) is no accuracy: not compared.
METRIC_ALIASES = {name: m.published_as for name, m in PROTOCOL.items()}


def dataset_of_task(task: str) -> str | None:
    return TASK_DATASETS.get(task)


@dataclass(frozen=True)
class Row:
    source: str  # "ours", "published" or the results file
    dataset: str
    split: str
    model: str
    method: str
    metric: str  # comparable metric (acc, acc_norm)
    value: float  # percent
    note: str = ""


def rows_from_results(results: LmEvalResults, label: str | None = None,
                      tasks: Sequence[str] | None = None) -> list[Row]:
    """Every (task, metric) of an lm-eval results file (or of ``tasks``) whose task maps to one of our datasets."""
    model = label or str(results.data.get("model_name") or results.path.parent.name)
    out = []
    for task, entry in results.tasks().items():
        dataset = dataset_of_task(task)
        if dataset is None or (tasks is not None and task not in tasks):
            continue
        config = results.data.get("configs", {}).get(task, {})
        split = config.get("test_split") or config.get("validation_split") or ""
        for key, value in entry.items():
            metric, filter_name = split_key(key)
            if metric not in METRIC_ALIASES or not isinstance(value, (int, float)):
                continue
            note = f"{key}, v{results.version(task)}, {results.path.name}"
            out.append(Row(str(results.path), dataset, split, model, f"lm-eval {task}",
                           METRIC_ALIASES[metric], 100 * float(value), note))
    return out


def rows_from_grid(run_dir: str | Path) -> list[Row]:
    """Our students: one row per dataset x student x formulation x condition, mean over seeds."""
    from harness_plugins.report.aggregate import aggregate

    cells, _ = aggregate(load_grid(run_dir))
    # A CF student's score sits beside MCF ones in one table: its method says which it is.
    return [Row("ours", c.dataset, "", c.student,
                f"cot-distill {c.condition} ({c.metric}{'' if c.formulation == MCF else ', ' + c.formulation.upper()})",
                METRIC_ALIASES.get(c.metric, c.metric), 100 * c.mean,
                f"{c.task}, {len(c.seeds)} seed(s), CI [{100 * c.interval.low:.1f}, {100 * c.interval.high:.1f}]")
            for c in cells]


def rows_from_path(path: str | Path) -> list[Row]:
    path = Path(path)
    if path.is_file():
        return rows_from_results(read_results(path))
    if (path / "runs").is_dir():
        return rows_from_grid(path)
    if path.is_dir():
        # One folder may hold several lm-eval runs (a grid cell's gen and acc passes): each task's newest.
        by_file: dict[Path, tuple[LmEvalResults, list[str]]] = {}
        for task, results in newest_per_task(path).items():
            by_file.setdefault(results.path, (results, []))[1].append(task)
        if not by_file:
            latest_results(path)  # the one-line error of a folder without results
        return [row for results, tasks in by_file.values() for row in rows_from_results(results, tasks=tasks)]
    raise DataError("not found: expected a RUN_DIR, an lm-eval output folder or a results JSON", path=path)


def _published_rows(baselines: Sequence[Baseline]) -> list[Row]:
    return [Row("published", b.dataset, b.split, b.model, b.method, b.metric, b.value, b.citation) for b in baselines]


def compare(paths: Sequence[str | Path], *, baselines_path: str | Path | None = None,
            datasets: Sequence[str] | None = None, metric: str | None = "acc") -> list[Row]:
    """Rows of the given runs plus the published rows with the same dataset and metric."""
    ours = [row for p in paths for row in rows_from_path(p)]
    if not ours:
        raise DataError("no results for csqa/obqa/quarel in the given paths")
    keys = {(r.dataset, r.metric) for r in ours}
    if datasets:
        keys = {k for k in keys if k[0] in datasets}
    if metric:
        keys = {k for k in keys if k[1] == metric}
    published = [r for r in _published_rows(load_baselines(baselines_path)) if (r.dataset, r.metric) in keys]
    rows = [r for r in ours if (r.dataset, r.metric) in keys] + published
    return sorted(rows, key=lambda r: (r.dataset, r.metric, -r.value))


def format_table(rows: Sequence[Row]) -> str:
    """One markdown table per dataset/metric, best first."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        groups[(r.dataset, r.metric)].append(r)
    parts = []
    for (dataset, metric), members in sorted(groups.items()):
        parts += [f"## {dataset} ({metric}, %)", "", "| value | source | model | method | split | note |",
                  "|---|---|---|---|---|---|"]
        parts += [f"| {r.value:.1f} | {r.source} | {r.model} | {r.method} | {r.split} | {r.note} |" for r in members]
        parts.append("")
    return "\n".join(parts)
