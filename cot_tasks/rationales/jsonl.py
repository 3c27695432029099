"""Crash-safe JSON-lines output for long jobs (generation, attribution) that resume.

Each batch is appended as complete lines and fsynced, so a killed run loses at
most the line being written. On resume that broken last line is dropped (and
reported); a broken line anywhere else is real damage and stays an error for
the strict readers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from cot_tasks.io import write_atomic


def repair_tail(path: str | Path) -> bool:
    """Drop an unfinished last line (no newline, or not JSON); True if one was dropped."""
    path = Path(path)
    if not path.is_file():
        return False
    data = path.read_bytes()
    if not data:
        return False
    body, _, last = data.rstrip(b"\n").rpartition(b"\n")
    complete = data.endswith(b"\n")
    if complete:
        try:
            json.loads(last)
            return False
        except ValueError:
            pass
    keep = body + b"\n" if body else b""
    write_atomic(path, keep)
    return True


def append_rows(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append whole lines and fsync, so a finished batch survives a crash."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if not text:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
