"""Reading what lm-eval writes: ``results_<ts>.json`` and ``samples_<task>_<ts>.jsonl``.

The one reader of lm-eval output for the report, the grid, compare and model cards:
files stay in lm-eval's own layout (what ``lm_eval --output_path --log_samples`` saves).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from cot_tasks.errors import DataError
from cot_tasks.io import iter_jsonl


@dataclass(frozen=True)
class LmEvalResults:
    """One lm-eval ``results_<ts>.json``: kept as lm-eval wrote it, plus where it came from."""

    path: Path
    data: Mapping

    @property
    def timestamp(self) -> str:
        return self.path.stem.removeprefix("results_")

    def tasks(self) -> dict[str, dict]:
        return dict(self.data.get("results", {}))

    def version(self, task: str):
        return self.data.get("versions", {}).get(task)

    def metric_key(self, task: str, metric: str) -> str:
        """lm-eval's ``metric,filter`` key for ``metric`` (bare name or already ``metric,filter``)."""
        entry = self.tasks().get(task)
        if entry is None:
            raise DataError(f"task {task!r} not in results (has: {', '.join(self.tasks()) or 'none'})",
                            path=self.path)
        if "," in metric:
            keys = [metric] if metric in entry else []
        else:
            keys = [k for k in entry if k.startswith(f"{metric},") and "_stderr" not in k]
        if len(keys) != 1:
            raise DataError(f"need exactly one {metric!r} entry for {task!r}, found {keys or 'none'}",
                            path=self.path)
        return keys[0]


def read_results(path: str | Path) -> LmEvalResults:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"broken JSON ({err.msg})", path=path, line=err.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise DataError("not an lm-eval results file (no 'results' object)", path=path)
    return LmEvalResults(path, data)


def latest_results(output_dir: str | Path) -> LmEvalResults:
    """The newest ``results_<ts>.json`` under an lm-eval ``--output_path`` folder."""
    output_dir = Path(output_dir)
    found = sorted(output_dir.rglob("results_*.json"), key=lambda p: p.name) if output_dir.is_dir() else []
    if not found:
        raise DataError("no lm-eval results_*.json (run not evaluated yet?)", path=output_dir)
    # lm-eval's timestamps are ISO dates, so name order is time order.
    return read_results(found[-1])


def results_for_task(output_dir: str | Path, task: str) -> LmEvalResults:
    """The newest ``results_<ts>.json`` under ``output_dir`` that holds ``task`` (a cell's tasks may be
    scored by separate lm-eval runs into one folder)."""
    output_dir = Path(output_dir)
    found = sorted(output_dir.rglob("results_*.json"), key=lambda p: p.name) if output_dir.is_dir() else []
    for path in reversed(found):
        results = read_results(path)
        if task in results.tasks():
            return results
    raise DataError(f"no lm-eval results_*.json holds task {task!r} (run not evaluated yet?)", path=output_dir)


def samples_path(results: LmEvalResults, task: str) -> Path:
    """The ``--log_samples`` file lm-eval wrote beside ``results`` for ``task``."""
    path = results.path.with_name(f"samples_{task}_{results.timestamp}.jsonl")
    if not path.is_file():
        raise DataError(f"no {path.name} next to the results (evaluate with --log_samples)", path=path.parent)
    return path


@dataclass(frozen=True)
class DocScore:
    score: float
    doc_hash: str | None
    n_choices: int | None = None  # answer options of the doc, where the sample carries it (chance level)


def read_samples(path: Path, metric: str, filter_name: str) -> dict[int, DocScore]:
    """Per-doc ``metric`` from an lm-eval samples file, for one filter."""
    out: dict[int, DocScore] = {}
    for lineno, obj in iter_jsonl(path):
        if obj.get("filter", "none") != filter_name:
            continue
        for name in ("doc_id", metric):
            if not isinstance(obj.get(name), (int, float)) or isinstance(obj.get(name), bool):
                raise DataError("missing or not a number", path=path, line=lineno, field=name)
        labels = (obj.get("doc") or {}).get("labels")
        out[int(obj["doc_id"])] = DocScore(float(obj[metric]), obj.get("doc_hash"),
                                           len(labels) if isinstance(labels, list) else None)
    if not out:
        raise DataError(f"no samples with filter {filter_name!r}", path=path)
    return out
