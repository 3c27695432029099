"""The files a grid leaves in its run folder, each a typed record with one reader and one writer.

* ``runs/<cell>/run.json`` (``RunRecord``): written last by a cell, so it marks the cell finished; what the
  cell was (dataset, condition, student, seed, formulation), how it was trained (``train_identity``, the
  trainer's measurements) and, per metric, the lm-eval task and ``metric,filter`` key that scored it.
* ``attributions/<...>.done.json`` (``AttributionDone``): written when an attribution file is complete.
* ``grid.json`` (``GridFile``): the grid config of the run folder's last invocation.

Cells finished by earlier versions lack keys added since (``training``, ``weights_sha256``,
``formulation``: MCF then); the readers take those as absent, never as an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from cot_tasks.errors import DataError
from cot_tasks.io import write_json_atomic
from cot_tasks.prompts import FORMULATIONS, MCF

RUN_FILE = "run.json"
GRID_FILE = "grid.json"
DONE_SUFFIX = ".done.json"


def write_json(path: str | Path, data: dict) -> None:
    """Atomic, in the one layout every run file uses (these, and the trainer's cot_distill.json)."""
    write_json_atomic(path, data, indent=2, sort_keys=True)


def read_json(path: str | Path) -> Any:
    """A run file's JSON; broken JSON is one line naming the file and line (a missing file raises as usual)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"broken JSON ({err.msg})", path=path, line=err.lineno) from None


@dataclass(frozen=True)
class Score:
    """One metric of a cell: the lm-eval task and key that scored it, and the value lm-eval gave."""

    task: str
    key: str  # "metric,filter" as in lm-eval's results
    value: float
    n_docs: int
    invalid: float | None  # share of outputs naming no option (free generation); 0.0 for a choice

    def to_json(self) -> dict:
        return {"task": self.task, "key": self.key, "value": self.value, "n_docs": self.n_docs,
                "invalid": self.invalid}


@dataclass(frozen=True)
class RunRecord:
    dataset: str
    condition: str
    student: str
    seed: int
    metrics: Mapping[str, Score]
    kind: str | None = None  # label-first or reasoning-first
    formulation: str = MCF
    teacher: str | None = None
    rationales: str | None = None  # the rationale file trained on
    chance: float | None = None
    examples: int | None = None
    dropped: int | None = None
    truncated: int | None = None
    checkpoint: str | None = None
    train_identity: Mapping[str, Any] = field(default_factory=dict)
    # Absent from cells finished before they were recorded:
    weights_sha256: str | None = None
    training: Mapping[str, Any] | None = None  # the trainer's measurements (harness_plugins.grid.cell.training_facts)
    attributions: str | None = None  # key-token cells: the attribution file, and what made it
    attributions_made_by: Mapping[str, Any] | None = None

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["metrics"] = {name: score.to_json() for name, score in self.metrics.items()}
        for key in ("weights_sha256", "training", "attributions", "attributions_made_by"):
            if out[key] is None:
                del out[key]
        if self.formulation == MCF:
            del out["formulation"]  # as every cell finished before the cloze formulation
        return out

    @classmethod
    def from_json(cls, data: Any, path: Path) -> "RunRecord":
        if not isinstance(data, dict):
            raise DataError("not a run record (a JSON object)", path=path)
        for name in ("dataset", "condition", "student", "seed", "metrics"):
            if data.get(name) is None:
                raise DataError("missing (made by an older cot-distill? rerun the cell)" if name == "metrics"
                                else "missing", path=path, field=name)
        if not isinstance(data["metrics"], dict):
            raise DataError("not an object", path=path, field="metrics")
        formulation = data.get("formulation", MCF)
        if formulation not in FORMULATIONS:
            raise DataError(f"unknown formulation {formulation!r} (known: {', '.join(FORMULATIONS)})", path=path,
                            field="formulation")
        metrics = {}
        for name, score in sorted(data["metrics"].items()):
            if not isinstance(score, dict) or not all(isinstance(score.get(k), str) for k in ("task", "key")):
                raise DataError("needs task and key", path=path, field=f"metrics.{name}")
            metrics[name] = Score(score["task"], score["key"], score.get("value"), score.get("n_docs"),
                                  score.get("invalid"))
        known = {f.name for f in fields(cls)}
        rest = {k: v for k, v in data.items() if k in known and k not in ("metrics", "formulation")}
        return cls(**{**rest, "dataset": str(data["dataset"]), "condition": str(data["condition"]),
                      "student": str(data["student"]), "seed": int(data["seed"])},
                   metrics=metrics, formulation=formulation)


def read_run(cell_dir: str | Path) -> RunRecord:
    """A cell's run.json; a cell without one is not finished (the caller decides what that means)."""
    path = Path(cell_dir) / RUN_FILE
    if not path.is_file():
        raise DataError("no run.json (not a finished grid run)", path=cell_dir)
    return RunRecord.from_json(read_json(path), path)


def write_run(cell_dir: str | Path, record: RunRecord) -> None:
    write_json(Path(cell_dir) / RUN_FILE, record.to_json())


ATTRIBUTION_COUNTS = ("attributed", "skipped_long", "without_rationale", "median_completeness_error",
                      "weights_sha256", "pre_trained_again", "same_weights_as_pre_cell")


@dataclass(frozen=True)
class AttributionDone:
    """An attribution file's completion record: what made its scores (``made_by``: model, IG settings,
    rationale file hash, ...) and what the run counted."""

    made_by: Mapping[str, Any]
    attributed: int | None = None  # rows the file holds (a copy cut short is counted against it)
    skipped_long: int | None = None
    without_rationale: int | None = None
    median_completeness_error: float | None = None
    weights_sha256: str | None = None  # the weights that gave the scores
    pre_trained_again: bool | None = None
    same_weights_as_pre_cell: bool | None = None

    def to_json(self) -> dict:
        return {**self.made_by, **{k: getattr(self, k) for k in ATTRIBUTION_COUNTS}}

    def made_as(self, made_by: Mapping[str, Any]) -> bool:
        """Made by what ``made_by`` asks for (every key of it equal)."""
        return all(self.made_by.get(k) == v for k, v in made_by.items())


def done_path(attribution_file: str | Path) -> Path:
    return Path(attribution_file).with_suffix(DONE_SUFFIX)


def read_done(attribution_file: str | Path) -> AttributionDone | None:
    """The .done.json of an attribution file; None where there is none, or one that does not parse (then
    the file is made again)."""
    path = done_path(attribution_file)
    try:
        data = read_json(path)
    except (FileNotFoundError, DataError):
        return None
    if not isinstance(data, dict):
        return None
    counts = {k: data[k] for k in ATTRIBUTION_COUNTS if k in data}
    return AttributionDone({k: v for k, v in data.items() if k not in ATTRIBUTION_COUNTS}, **counts)


def write_done(attribution_file: str | Path, done: AttributionDone) -> None:
    write_json(done_path(attribution_file), done.to_json())


@dataclass(frozen=True)
class GridFile:
    """What ``grid.json`` says about the cells a run folder plans (the whole config stays in ``config``)."""

    datasets: list[str]
    conditions: list[str]
    students: list[str]
    seeds: list[int]
    formulation: str
    config: Mapping[str, Any]


def read_grid_file(run_dir: str | Path) -> GridFile | None:
    """A run folder's grid.json; None for a folder without one (a grid copied without it)."""
    path = Path(run_dir) / GRID_FILE
    if not path.is_file():
        return None
    data = read_json(path)
    try:
        return GridFile(list(data["datasets"]), list(data["conditions"]), list(data["students"]),
                        [int(s) for s in data["seeds"]], data.get("formulation", MCF), data)
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"not a grid file ({err})", path=path) from None


def write_grid_file(run_dir: str | Path, config: Mapping[str, Any]) -> None:
    write_json(Path(run_dir) / GRID_FILE, dict(config))
