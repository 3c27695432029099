"""Reading what lm-eval writes: ``results_<ts>.json`` and ``samples_<task>_<ts>.jsonl``.

The one reader of lm-eval output for the report, the grid, compare and model cards:
files stay in lm-eval's own layout (what ``lm_eval --output_path --log_samples`` saves).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from cot_tasks.errors import DataError
from cot_tasks.lmeval_samples import iter_samples


def split_key(key: str) -> tuple[str, str]:
    """lm-eval's ``metric,filter`` key -> (metric, filter); a bare metric has filter ``none``."""
    metric, _, filter_name = key.partition(",")
    return metric, filter_name or "none"


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

    def value(self, task: str, key: str) -> float:
        """The number lm-eval reports under ``metric,filter`` ``key`` for ``task``."""
        value = self.tasks().get(task, {}).get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise DataError(f"no number for {key!r} of {task!r}", path=self.path)
        return float(value)

    def n_docs(self, task: str) -> int:
        """How many docs lm-eval scored for ``task`` (after ``--limit``)."""
        counts = self.data.get("n-samples", {}).get(task, {})
        if not isinstance(counts.get("effective"), int):
            raise DataError(f"no n-samples count for {task!r}", path=self.path)
        return counts["effective"]


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


def newest_per_task(output_dir: str | Path) -> dict[str, LmEvalResults]:
    """Each task scored under ``output_dir`` with the newest ``results_<ts>.json`` that scored it.

    A grid cell's ``eval/`` holds one lm-eval run per pass (gen, then acc), each
    with its own results file, so "the newest file" alone is not enough.
    """
    output_dir = Path(output_dir)
    found = sorted(output_dir.rglob("results_*.json"), key=lambda p: p.name) if output_dir.is_dir() else []
    newest: dict[str, LmEvalResults] = {}
    for path in found:  # lm-eval's timestamps are ISO dates, so name order is time order
        results = read_results(path)
        newest.update(dict.fromkeys(results.tasks(), results))
    return newest


def results_for_task(output_dir: str | Path, task: str) -> LmEvalResults:
    """The newest ``results_<ts>.json`` under ``output_dir`` that scored ``task``."""
    found = newest_per_task(output_dir).get(task)
    if found is None:
        raise DataError(f"no lm-eval results_*.json with task {task!r} (not evaluated yet?)", path=output_dir)
    return found


def samples_path(results: LmEvalResults, task: str) -> Path:
    """``samples_<task>_<ts>.jsonl`` written with ``results`` (``--log_samples``)."""
    path = results.path.with_name(f"samples_{task}_{results.timestamp}.jsonl")
    if not path.is_file():
        raise DataError(f"no {path.name} next to the results (evaluate with --log_samples)", path=results.path)
    return path


@dataclass(frozen=True)
class DocScore:
    score: float
    doc_hash: str | None  # what the doc showed the model (doc_hash below; a commit doc holds a generation too)
    n_choices: int | None = None  # answer options of the doc, where the sample carries it (chance level)


def doc_hash(obj: dict, doc: dict) -> str | None:
    """What pairs one doc across cells. For our docs: every field but ``extras``, source metadata that no
    prompt or metric reads (OBQA's fact1 and crowd-worker fields, present in the release's Additional/ files
    and absent from Main/), so two data folders with the same questions score the same docs. For other
    tasks' docs: lm-eval's own hash of the whole doc."""
    if not isinstance(doc.get("id"), str):
        return obj.get("doc_hash")
    shown = {k: v for k, v in doc.items() if k != "extras"}
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()


def read_samples(path: Path, metric: str, filter_name: str) -> dict[str, DocScore]:
    """Per-doc ``metric`` from an lm-eval samples file, for one filter, keyed by the example id of our
    docs (the same question under every task) or, for other tasks' docs, by lm-eval's doc_id."""
    out: dict[str, DocScore] = {}
    for lineno, obj in iter_samples(path):
        if obj.get("filter", "none") != filter_name:
            continue
        if not isinstance(obj.get(metric), (int, float)) or isinstance(obj.get(metric), bool):
            raise DataError("missing or not a number", path=path, line=lineno, field=metric)
        doc = obj.get("doc") if isinstance(obj.get("doc"), dict) else {}
        key = doc["id"] if isinstance(doc.get("id"), str) else f"doc_id {obj['doc_id']}"
        if key in out:
            raise DataError(f"doc {key!r} appears twice for filter {filter_name!r}", path=path, line=lineno)
        labels = doc.get("labels")
        out[key] = DocScore(float(obj[metric]), doc_hash(obj, doc), len(labels) if isinstance(labels, list) else None)
    if not out:
        raise DataError(f"no samples with filter {filter_name!r}", path=path)
    return out
