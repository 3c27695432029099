"""The one rationale file format: JSON lines joined to examples by ``id``.

Fields: ``id``, ``dataset``, ``rationale``, ``teacher_answer`` (parsed label or
null), ``teacher``, ``source``, ``prompt_version``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from cot_tasks.errors import DataError
from cot_tasks.io import iter_jsonl, write_atomic
from cot_tasks.records import DATASETS

FIELDS = ("id", "dataset", "rationale", "teacher_answer", "teacher", "source", "prompt_version")


@dataclass(frozen=True)
class Rationale:
    id: str
    dataset: str
    rationale: str
    teacher_answer: str | None
    teacher: str
    source: str
    prompt_version: str | None = None


def read_rationales(path: str | Path, dataset: str | None = None) -> dict[str, Rationale]:
    """Read a rationale file into ``{id: Rationale}``; bad lines raise a DataError naming the line, and so
    does a row of another dataset than ``dataset`` (when given) or a file of nothing but empty rationales."""
    path = Path(path)
    out: dict[str, Rationale] = {}
    for lineno, obj in iter_jsonl(path):
        for name in ("id", "dataset", "rationale"):
            if not isinstance(obj.get(name), str):
                raise DataError("missing or not a string", path=path, line=lineno, field=name)
        if obj["dataset"] not in DATASETS:
            raise DataError(f"unknown dataset {obj['dataset']!r} (known: {', '.join(DATASETS)})",
                            path=path, line=lineno, field="dataset")
        if dataset is not None and obj["dataset"] != dataset:
            raise DataError(f"a {obj['dataset']} rationale in a file read for {dataset}", path=path, line=lineno,
                            field="dataset")
        if obj["id"] in out:
            raise DataError(f"duplicate id {obj['id']!r}", path=path, line=lineno, field="id")
        out[obj["id"]] = Rationale(
            id=obj["id"],
            dataset=obj["dataset"],
            rationale=obj["rationale"],
            teacher_answer=obj.get("teacher_answer"),
            teacher=str(obj.get("teacher", "unknown")),
            source=str(obj.get("source", "unknown")),
            prompt_version=obj.get("prompt_version"),
        )
    if out and not any(r.rationale.strip() for r in out.values()):
        raise DataError(f"all {len(out)} rationales are empty", path=path, field="rationale")
    return out


def write_rationales(rationales: Iterable[Rationale], path: str | Path) -> Path:
    """Write atomically (temp file + rename), so a killed run never leaves half a file."""
    return write_atomic(path, "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in rationales))


def normalise_question(text: str) -> str:
    """Case, punctuation and spacing folded, for joining sources that carry no ids."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def resume_rationales(path: str | Path) -> tuple[dict[str, Rationale], bool]:
    """Rationales already in ``path`` (none if absent) for a resumed run, and whether a broken
    last line -- a run killed mid-write -- was dropped. Broken lines elsewhere stay errors."""
    from cot_tasks.io import repair_tail

    path = Path(path)
    if not path.exists():
        return {}, False
    repaired = repair_tail(path)
    return read_rationales(path), repaired
