"""Rationales from any CSV, JSON or JSON lines table: the user names the columns (``--rationale-column``,
``--id-column`` or ``--question-column``, ...). The published formats are ``importers``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cot_tasks.errors import DataError
from cot_tasks.rationales.format import Rationale, normalise_question
from cot_tasks.rationales.importers import Imported, dataset_of, read_table, stem_keys
from cot_tasks.rationales.parse import parse_answer, strip_answer_sentence
from cot_tasks.records import Example


@dataclass(frozen=True)
class Columns:
    """Which columns hold what. ``id`` or ``question`` joins; ``answer`` (optional) holds the teacher's
    answer, otherwise it is parsed from the rationale text."""

    rationale: str = "rationale"
    id: str | None = "id"
    question: str | None = None
    answer: str | None = None
    teacher: str | None = None


def import_generic(path: str | Path, examples: Sequence[Example], columns: Columns = Columns(),
                   teacher: str = "unknown") -> Imported:
    path = Path(path)
    if columns.id is None and columns.question is None:
        raise DataError("give --id-column or --question-column to join rows to examples", path=path)
    dataset = dataset_of(examples)
    by_id = {ex.id: ex for ex in examples}
    by_stem: dict[str, list[Example]] = {}
    for ex in examples:
        for key in stem_keys(ex):
            by_stem.setdefault(key, []).append(ex)
    wanted = [("--rationale-column", columns.rationale), ("--id-column", columns.id),
              ("--question-column", columns.question), ("--answer-column", columns.answer),
              ("--teacher-column", columns.teacher)]
    result = Imported(source=path.name)
    seen: set[str] = set()
    for lineno, row in read_table(path):
        if result.rows == 0:
            for option, name in wanted:
                if name is not None and name not in row:
                    raise DataError(f"no column {name!r} ({option}); available: {', '.join(map(str, row))}",
                                    path=path)
        result.rows += 1
        if columns.id is not None:
            ex = by_id.get(str(row[columns.id]))
        else:
            hits = by_stem.get(normalise_question(str(row[columns.question])), [])
            ex = hits[0] if len(hits) == 1 else None
        if ex is None or ex.id in seen:
            result.unjoined += 1
            continue
        seen.add(ex.id)
        raw = str(row[columns.rationale] or "").strip()
        stated = str(row[columns.answer]).strip() if columns.answer else ""
        answer = parse_answer(f"The answer is {stated}.", ex.choices) if stated else parse_answer(raw, ex.choices)
        result.rationales.append(Rationale(
            id=ex.id, dataset=dataset, rationale=strip_answer_sentence(raw) if not columns.answer else raw,
            teacher_answer=answer, teacher=str(row[columns.teacher]) if columns.teacher else teacher,
            source=f"import:{path.name}", prompt_version=None,
        ))
    if result.rows == 0:
        raise DataError("no rows", path=path)
    return result
