"""``train_log.jsonl``: one JSON line per optimizer step of a training run, its one writer and one reader.

Each line: ``step``, ``loss`` (mean over the step's target tokens), ``lr``, ``grad_norm`` (before
clipping), ``target_tokens`` (of the step) and ``tokens_per_s`` (target tokens per second of that
step). Lines are appended whole and fsynced, so a killed run loses at most the line being written; a
resumed run first drops the lines past the step its saved state holds, so the file always reads as
one uninterrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cot_tasks.errors import DataError
from cot_tasks.io import append_rows, iter_jsonl, repair_tail, write_atomic

TRAIN_LOG = "train_log.jsonl"
FIELDS = ("step", "loss", "lr", "grad_norm", "target_tokens", "tokens_per_s")


def read_train_log(path: str | Path) -> list[dict[str, Any]]:
    """Every line, checked: each holds ``FIELDS`` and the steps count up by one. The first is step 1, or a
    later one where a run was resumed from state saved before its steps were logged."""
    rows = []
    for lineno, row in iter_jsonl(path):
        missing = [name for name in FIELDS if name not in row]
        if missing:
            raise DataError(f"missing {', '.join(missing)}", path=path, line=lineno)
        due = rows[-1]["step"] + 1 if rows else None
        if not isinstance(row["step"], int) or row["step"] < 1 or due is not None and row["step"] != due:
            raise DataError(f"step {row['step']!r} where step {due or 'one or later'} was due", path=path,
                            line=lineno, field="step")
        rows.append(row)
    return rows


def resume_train_log(path: str | Path, step: int) -> None:
    """Keep the lines of steps 1..``step`` (a resumed run continues after ``step``); none when it is 0."""
    path = Path(path)
    if not path.exists():
        return
    if step == 0:
        path.unlink()
        return
    repair_tail(path)  # a line torn by the kill
    kept = [row for _, row in iter_jsonl(path) if isinstance(row.get("step"), int) and row["step"] <= step]
    write_atomic(path, "".join(_line(row) for row in kept))


def append_train_log(path: str | Path, row: dict[str, Any]) -> None:
    append_rows(path, [{name: row[name] for name in FIELDS}])


def _line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"
