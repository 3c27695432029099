"""``cot-distill run``: train and evaluate a grid of datasets x conditions x students x seeds.

Layout::

    RUN_DIR/grid.json                       the grid config of the last invocation
    RUN_DIR/runs/<dataset>__<condition>__<student>__seed<k>/
        checkpoint/                         the trained student (save_pretrained + cot_distill.json)
        eval/                               lm-eval's own output of both passes: the gen task, then the acc
                                            task (results_*.json and samples_*.jsonl each)
        run.json                            the cell and its two metrics; written last, so it marks the run done
    RUN_DIR/attributions/<dataset>__<student>__seed<k>.jsonl
                                            key tokens for keytokens_post/random_post cells
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
import os
import re
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import trainers
from cot_tasks.conditions import (
    METRICS,
    REASONING_FIRST,
    condition_kind,
    needs_attributions,
    parse_condition,
    tasks_for,
)
from cot_tasks.errors import DataError
from cot_tasks.io import write_atomic
from trainers.config import TrainConfig
from trainers.train import write_json

DEFAULT_CONFIG = Path(trainers.__file__).resolve().parent / "configs" / "default.yaml"
GRID_FILE = "grid.json"
CSV_COLUMNS = ("dataset", "student", "condition", "seed", "metric", "value", "n_docs", "invalid", "chance", "task",
               "key", "kind", "teacher", "rationales", "examples", "dropped", "truncated", "checkpoint")


@dataclass
class EvalConfig:
    batch_size: int = 16
    device: str = "cpu"
    # Score only the first N eval documents (quick looks); None: the whole split.
    limit: int | None = None
    # lm-eval --gen_kwargs for the gen tasks (e.g. "max_gen_toks=64").
    gen_kwargs: str | None = None


@dataclass
class AttributionOptions:
    """Integrated gradients for key-token cells (trainers/attribution.py)."""

    steps: int = 20
    # What the rationale tokens are replaced by at the path's start: pad | eos.
    baseline: str = "pad"


@dataclass
class GridConfig:
    """The keys of a ``cot-distill run`` YAML file (see trainers/configs/default.yaml)."""

    output: str = "cot-distill-runs/default"
    source: str = "sample"
    datasets: list[str] = field(default_factory=lambda: ["csqa"])
    conditions: list[str] = field(default_factory=lambda: ["none", "post"])
    students: list[str] = field(default_factory=lambda: ["tiny"])
    seeds: list[int] = field(default_factory=lambda: [0])
    # Per dataset: a rationale file, or "sample" for the bundled sample's rationales.
    rationales: dict[str, str] = field(default_factory=dict)
    # Who wrote the rationales (recorded in run.json).
    teacher: str = "unknown"
    # TrainConfig fields shared by every cell (epochs, lr, batch_size, max_length, tiny: {...}, ...).
    train: dict[str, Any] = field(default_factory=dict)
    eval: EvalConfig = field(default_factory=EvalConfig)
    # Scores rationale tokens for keytokens_post/random_post; None: the cell's own student trained with 'pre'.
    # Another model (a teacher) may have its own tokenizer: key tokens reach the targets as text.
    attribution_model: str | None = None
    attribution: AttributionOptions = field(default_factory=AttributionOptions)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "config") -> "GridConfig":
        if not isinstance(data, Mapping):
            raise DataError("expected a mapping of grid keys", path=where)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})", path=where)
        data = dict(data)
        for key, kind in (("eval", EvalConfig), ("attribution", AttributionOptions)):
            if key in data:
                try:
                    data[key] = kind(**(data[key] or {}))
                except TypeError as err:
                    raise DataError(str(err), path=where, field=key) from None
        for key in ("datasets", "conditions", "students", "seeds"):
            if key in data and not isinstance(data[key], list):
                data[key] = [data[key]]
        grid = cls(**data)
        from trainers.attribution import BASELINES

        if grid.attribution.baseline not in BASELINES or grid.attribution.steps < 2:
            raise DataError(f"attribution: baseline must be one of {', '.join(BASELINES)} and steps at least 2",
                            path=where)
        if "attributions" in grid.train:
            raise DataError("train: the grid makes the attribution files itself; choose the model with "
                            "attribution_model", path=where)
        reserved = {"dataset", "condition", "student", "seed", "rationales", "output", "source"} & set(grid.train)
        if reserved:
            raise DataError(f"train: set {', '.join(sorted(reserved))} at the top level, not under train",
                            path=where)
        TrainConfig.from_dict(grid.train, where=f"{where}: train")  # unknown training keys fail here
        return grid


def load_grid_config(path: str | os.PathLike | None = None) -> GridConfig:
    import yaml

    path = Path(path) if path else DEFAULT_CONFIG
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise DataError(f"bad YAML ({str(err).splitlines()[0]})", path=path) from None
    return GridConfig.from_dict(data, where=str(path))


@dataclass(frozen=True)
class Cell:
    dataset: str
    condition: str
    student: str
    seed: int

    @property
    def student_slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.student.strip("/")).strip("-")

    @property
    def name(self) -> str:
        return f"{self.dataset}__{parse_condition(self.condition).slug}__{self.student_slug}__seed{self.seed}"


def resolve_rationales(grid: GridConfig, dataset: str) -> str:
    value = grid.rationales.get(dataset)
    if value is None:
        raise DataError(f"rationales: no rationale file named for dataset {dataset!r}")
    if value == "sample":
        from cot_tasks.sample import rationale_path

        return str(rationale_path(dataset))
    if not Path(value).is_file():
        raise FileNotFoundError(f"rationale file for {dataset} not found: {value}")
    return value


def check_join(dataset: str, source: str, rationale_file: str) -> tuple[int, int]:
    """(joined, unjoined) training examples, joined as the trainer will join them (none joined is an error)."""
    from cot_tasks.conditions import build_targets
    from cot_tasks.data import load_split
    from cot_tasks.rationales import read_rationales

    texts = {rid: r.rationale for rid, r in read_rationales(rationale_file).items()}
    _, report = build_targets(load_split(dataset, "train", source=source), texts, "none", source=rationale_file)
    return report.joined, report.unjoined


def plan(grid: GridConfig) -> list[Cell]:
    """Every cell, after checking everything that can fail before hours of training."""
    from cot_tasks.records import DATASETS

    for dataset in grid.datasets:
        if dataset not in DATASETS:
            raise DataError(f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")
    conditions = [parse_condition(c).spec for c in grid.conditions]
    cells = [Cell(d, c, s, int(k)) for d in grid.datasets for c in conditions for s in grid.students
             for k in grid.seeds]
    if not cells:
        raise DataError("empty grid: datasets, conditions, students and seeds all need at least one entry")
    return cells


def chance_level(dataset: str, source: str, limit: int | None = None) -> float:
    """Expected accuracy of a uniform guess over the scored eval docs (1 / number of choices, from the data)."""
    from cot_tasks.data import EVAL_SPLIT, load_split

    examples = load_split(dataset, EVAL_SPLIT[dataset], source=source)[:limit]
    return statistics.mean(1 / len(ex.choices) for ex in examples)


def cell_config(grid: GridConfig, cell: Cell, run_dir: Path, rationale_file: str,
                attributions: str | None = None) -> TrainConfig:
    return TrainConfig.from_dict({**grid.train, "dataset": cell.dataset, "condition": cell.condition,
                                  "student": cell.student, "seed": cell.seed, "rationales": rationale_file,
                                  "attributions": attributions, "source": grid.source,
                                  "output": str(run_dir / "checkpoint")})


def make_attributions(grid: GridConfig, cell: Cell, out: Path, rationale_file: str) -> str:
    """The attribution file of ``cell``'s dataset/student/seed, made (or resumed) by ``attribution_model``
    or, by default, by the student trained with ``pre`` (trained or reused first)."""
    from trainers.attribution import AttributionConfig, run_attribution

    pre = Cell(cell.dataset, "pre", cell.student, cell.seed)
    model = grid.attribution_model
    if model is None:
        in_grid = "pre" in {parse_condition(c).spec for c in grid.conditions}
        note = "" if in_grid else " (pre is not among the grid's conditions: trained for attribution only)"
        print(f"[{cell.dataset}] key tokens come from the pre student {pre.name}{note}", flush=True)
        # runs/ holds only the grid's cells (each gets a run.json); an attribution-only student lives apart.
        pre_dir = out / "runs" / pre.name if in_grid else out / "attributions" / pre.name
        model = str(train_cell(cell_config(grid, pre, pre_dir, rationale_file)).output)
    path = out / "attributions" / f"{cell.dataset}__{cell.student_slug}__seed{cell.seed}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    check_attribution_file(path, model, grid.attribution)
    report = run_attribution(AttributionConfig(
        model=model, dataset=cell.dataset, rationales=Path(rationale_file), out=path, source=grid.source,
        steps=grid.attribution.steps, baseline=grid.attribution.baseline, device=grid.eval.device,
        limit=grid.train.get("limit")))
    print(f"[{cell.dataset}] attributions {report.line()}", flush=True)
    return str(path)


def check_attribution_file(path: Path, model: str, options: AttributionOptions) -> None:
    """Resume only a file made the same way: other settings would mix two kinds of scores in one file."""
    import json

    if not path.is_file():
        return
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    try:
        made = json.loads(first)
    except json.JSONDecodeError:
        return  # a torn first line: run_attribution drops and redoes it
    want = {"model": model, "steps": options.steps, "baseline": options.baseline}
    changed = sorted(k for k, v in want.items() if made.get(k) != v)
    if changed:
        raise DataError(f"made with other {', '.join(changed)} than the grid now asks for; delete it to redo it",
                        path=path)


def evaluate_cell(grid: GridConfig, cell: Cell, checkpoint: str, eval_dir: Path,
                  trust_remote_code: bool = False) -> dict[str, dict]:
    """Both metrics of a trained cell, each a pass of lm-eval into ``eval_dir``: the gen task, then the acc task
    (for reasoning-first cells the commit task, fed with the gen pass's samples file)."""
    from harness_plugins.evaluate import evaluate_checkpoint
    from harness_plugins.results import results_for_task, samples_path

    sources = tasks_for(cell.condition, cell.dataset)
    common = dict(source=grid.source, output_dir=eval_dir, batch_size=grid.eval.batch_size, device=grid.eval.device,
                  limit=grid.eval.limit, trust_remote_code=trust_remote_code)
    gen = sources["exact_match"].task
    evaluate_checkpoint(checkpoint, [gen], gen_kwargs=grid.eval.gen_kwargs, **common)
    metadata = None
    if condition_kind(cell.condition) == REASONING_FIRST:
        metadata = {"generations": str(samples_path(results_for_task(eval_dir, gen), gen))}
        if grid.eval.limit is not None:
            metadata["limit"] = grid.eval.limit
    evaluate_checkpoint(checkpoint, [sources["acc"].task], metadata=metadata, **common)
    metrics = {}
    for name in METRICS:
        task, key = sources[name]
        results = results_for_task(eval_dir, task)
        filter_name = key.partition(",")[2]
        # A multiple_choice pass always picks a label: nothing is invalid there.
        invalid = results.value(task, f"invalid,{filter_name}") if name == "exact_match" else 0.0
        metrics[name] = {"task": task, "key": key, "value": results.value(task, key),
                         "n_docs": results.n_docs(task), "invalid": invalid}
    return metrics


def merged_results(eval_dir: Path, tasks: list[str]) -> dict:
    """One results dict holding the given tasks of several lm-eval passes (for the model card)."""
    from harness_plugins.results import results_for_task

    merged: dict[str, dict] = {"results": {}, "configs": {}, "versions": {}}
    for task in tasks:
        data = results_for_task(eval_dir, task).data
        for part in merged:
            if task in data.get(part, {}):
                merged[part][task] = data[part][task]
    return merged


def run_cell(grid: GridConfig, cell: Cell, run_dir: Path, rationale_file: str,
             attributions: str | None = None, chance: float | None = None) -> dict:
    from harness_plugins.model_card import write_model_card

    existing = read_run_file_json(run_dir / "run.json")
    if existing is not None and "metrics" in existing:  # an older layout's run.json is scored again
        return existing
    config = cell_config(grid, cell, run_dir, rationale_file, attributions)
    trained = train_cell(config)
    # Evaluation is not resumable: a half-written eval folder from a killed run is redone.
    eval_dir = run_dir / "eval"
    shutil.rmtree(eval_dir, ignore_errors=True)
    metrics = evaluate_cell(grid, cell, config.output, eval_dir, config.trust_remote_code)
    row = {"dataset": cell.dataset, "condition": cell.condition, "kind": condition_kind(cell.condition),
           "student": cell.student, "seed": cell.seed, "teacher": grid.teacher, "rationales": rationale_file,
           "metrics": metrics, "chance": chance, "examples": trained.examples, "dropped": trained.dropped,
           "truncated": trained.truncated, "checkpoint": str(Path(config.output).resolve())}
    if attributions:
        row["attributions"] = attributions
    write_model_card(config.output, row, merged_results(eval_dir, [m["task"] for m in metrics.values()]))
    write_json(run_dir / "run.json", row)
    return row


def train_cell(config: TrainConfig):
    from trainers.train import train

    return train(config, resume=True)


def read_run_file_json(path: Path) -> dict | None:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        return None  # a torn write cannot happen (atomic), but a hand-edited file is redone


def claim_run_dir(out: Path, grid: GridConfig) -> None:
    """A run folder is ours (grid.json) or empty; anything else is another run's and is left alone."""
    if out.exists() and any(out.iterdir()) and not (out / GRID_FILE).exists():
        raise DataError(f"output folder holds other files (no {GRID_FILE}); choose another output", path=out)
    out.mkdir(parents=True, exist_ok=True)
    data = asdict(grid)
    write_json(out / GRID_FILE, data)


def run_grid(grid: GridConfig) -> list[dict]:
    """Train + evaluate every cell (reusing finished ones), then write results.csv and print the table."""
    cells = plan(grid)
    rationale_files = {d: resolve_rationales(grid, d) for d in grid.datasets}
    for dataset, path in rationale_files.items():
        joined, unjoined = check_join(dataset, grid.source, path)
        print(f"[{dataset}] rationales {path}: {joined} train examples joined, {unjoined} without a rationale")
    out = Path(grid.output)
    claim_run_dir(out, grid)
    chance = {d: chance_level(d, grid.source, grid.eval.limit) for d in grid.datasets}
    rows, started = [], time.perf_counter()
    made: dict[tuple, str] = {}  # (dataset, student, seed) -> attribution file, made once per invocation
    for i, cell in enumerate(cells, 1):
        print(f"[{i}/{len(cells)}] {cell.name}  ({time.perf_counter() - started:.0f}s elapsed)", flush=True)
        run_dir, rationale_file = out / "runs" / cell.name, rationale_files[cell.dataset]
        attributions = None
        # A finished cell needs nothing: a rerun loads no attribution model.
        if needs_attributions(cell.condition) and read_run_file_json(run_dir / "run.json") is None:
            key = (cell.dataset, cell.student, cell.seed)
            if key not in made:
                made[key] = make_attributions(grid, cell, out, rationale_file)
            attributions = made[key]
        rows.append(run_cell(grid, cell, run_dir, rationale_file, attributions, chance[cell.dataset]))
    write_csv(out / "results.csv", rows)
    print(format_table(rows))
    print(f"{len(rows)} runs in {time.perf_counter() - started:.0f}s; results: {out / 'results.csv'}")
    return rows


def csv_rows(rows: list[dict]) -> list[dict]:
    """One flat row per run x metric (the run's identity repeated)."""
    out = []
    for row in rows:
        identity = {k: v for k, v in row.items() if k != "metrics"}
        out += [{**identity, "metric": name, **row["metrics"][name]} for name in METRICS]
    return out


def write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(rows))
    write_atomic(path, buf.getvalue())


def format_table(rows: list[dict]) -> str:
    """Per dataset (its eval docs and chance level): both metrics and the invalid share, mean over seeds,
    one line per student/condition."""
    columns = ("acc", "exact_match", "invalid")
    keys = list(dict.fromkeys((r["student"], r["condition"]) for r in rows))
    width = max([len("student / condition")] + [len(f"{s} / {c}") for s, c in keys])
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        n_docs = sorted({r["metrics"][m]["n_docs"] for r in mine for m in METRICS})
        chance = sorted({r["chance"] for r in mine if r.get("chance") is not None})
        lines += ["", f"{dataset}: {'/'.join(map(str, n_docs))} eval docs, chance "
                  + ("/".join(f"{c:.3f}" for c in chance) or "unknown"),
                  "student / condition".ljust(width) + "".join(f"  {c:>11}" for c in columns)]
        for s, c in keys:
            runs = [r for r in mine if (r["student"], r["condition"]) == (s, c)]
            if not runs:
                continue
            vals = [statistics.mean(r["metrics"][m]["value"] for r in runs) for m in METRICS]
            vals.append(statistics.mean(r["metrics"]["exact_match"]["invalid"] for r in runs))
            lines.append(f"{s} / {c}".ljust(width) + "".join(f"  {v:11.3f}" for v in vals))
    return "\n".join(lines[1:])
