"""Reading source rows and turning them into checked ``Example`` records.

Every loader reports bad input through ``Where.error``, so each message names the
file and line (or hub id, split and row) and the field at fault.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cot_tasks.errors import DataError
from cot_tasks.io import iter_jsonl
from cot_tasks.records import LABELS, Example


@dataclass(frozen=True)
class Where:
    """Position of one source row: a file line, or a hub row (``line`` is then the row index)."""

    path: str
    line: int
    hub: bool = False

    def error(self, message: str, field: str | None = None) -> DataError:
        if self.hub:
            return DataError(message, path=f"{self.path} row {self.line}", field=field)
        return DataError(message, path=self.path, line=self.line, field=field)


def read_jsonl(path: Path) -> Iterator[tuple[Where, dict[str, Any]]]:
    """Yield ``(where, object)`` per non-blank line; broken JSON or a non-object is a DataError."""
    for lineno, obj in iter_jsonl(path):
        yield Where(str(path), lineno), obj


def get(obj: Mapping[str, Any], field: str, where: Where, kind: type | tuple[type, ...] = str) -> Any:
    """``obj[a][b]`` for the dotted ``field`` "a.b", type-checked; missing or wrong type is a DataError."""
    value: Any = obj
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise where.error("missing", field=field)
        value = value[part]
    # bool is an int subclass; an answer index of true is still wrong.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise where.error(f"expected {_kind_name(kind)}, got {type(value).__name__}", field=field)
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def choice_list(items: Any, where: Where, field: str) -> list[tuple[str, str]]:
    """Original-file choices: a list of ``{"label", "text"}`` objects."""
    if not isinstance(items, list):
        raise where.error(f"expected a list, got {type(items).__name__}", field=field)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise where.error("expected an object with 'label' and 'text'", field=f"{field}[{i}]")
        for name in ("label", "text"):
            if not isinstance(item.get(name), str):
                raise where.error("missing or not a string", field=f"{field}[{i}].{name}")
        out.append((item["label"], item["text"]))
    return out


def choice_columns(choices: Any, where: Where, field: str) -> list[tuple[str, str]]:
    """Hub choices: ``{"label": [...], "text": [...]}`` columns of equal length."""
    labels = get({field: choices}, f"{field}.label", where, list)
    texts = get({field: choices}, f"{field}.text", where, list)
    if len(labels) != len(texts):
        raise where.error(f"{len(labels)} labels but {len(texts)} texts", field=field)
    for name, column in (("label", labels), ("text", texts)):
        if not all(isinstance(v, str) for v in column):
            raise where.error("expected strings", field=f"{field}.{name}")
    return list(zip(labels, texts))


def make_example(
    dataset: str,
    split: str,
    where: Where,
    *,
    id: str,
    question: str,
    choices: Sequence[tuple[str, str]],
    answer: str | None,
    extras: Mapping[str, Any],
    choices_field: str,
    answer_field: str,
) -> Example:
    """Check the choices carry exactly the dataset's labels and the answer is one of them."""
    expected = LABELS[dataset]
    if not id:
        raise where.error("empty id", field="id")
    if not question.strip():
        raise where.error("empty question", field="question")
    if len(choices) != len(expected):
        raise where.error(f"expected {len(expected)} choices, got {len(choices)}", field=choices_field)
    labels = [label.strip() for label, _ in choices]
    if sorted(labels) != list(expected):
        raise where.error(f"choice labels {labels}, expected {list(expected)}", field=choices_field)
    if answer is not None:
        answer = answer.strip()
        if answer not in expected:
            raise where.error(f"answer {answer!r} is not among the choice labels {'/'.join(expected)}",
                              field=answer_field)
    # Label order, whatever order the file lists them in.
    ordered = tuple(sorted(((label.strip(), text) for label, text in choices)))
    return Example(id=id, dataset=dataset, split=split, question=question, choices=ordered,
                   answer=answer, extras=dict(extras))
