"""OpenBookQA (Mihaylov et al. 2018): four choices plus the gold science fact ``fact1``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cot_tasks.loaders.rows import Where, choice_columns, choice_list, get, make_example
from cot_tasks.records import Example

DATASET = "obqa"
# The "additional" config carries fact1; "main" is the same questions without it.
# The release's Data/ dir: Additional/ (with fact1) first, Main/ as fallback; also
# accept a flat directory holding either kind of file.
FILES = {
    split: (f"Additional/{name}_complete.jsonl", f"Main/{name}.jsonl", f"{name}_complete.jsonl", f"{name}.jsonl")
    for split, name in (("train", "train"), ("validation", "dev"), ("test", "test"))
}
EXTRAS = ("fact1", "humanScore", "clarity", "turkIdAnonymized")


def _extras(obj: Mapping[str, Any], where: Where) -> dict[str, Any]:
    out = {}
    for name in EXTRAS:
        if name in obj:
            out[name] = get(obj, name, where, (str, int, float)) if name != "fact1" else get(obj, name, where)
    return out


def from_file(obj: Mapping[str, Any], where: Where, split: str) -> Example:
    """``{"id", "answerKey", "question": {"stem", "choices": [{text, label}]}, "fact1"?, ...}``."""
    return make_example(
        DATASET, split, where,
        id=get(obj, "id", where),
        question=get(obj, "question.stem", where),
        choices=choice_list(get(obj, "question.choices", where, list), where, "question.choices"),
        answer=get(obj, "answerKey", where),
        extras=_extras(obj, where),
        choices_field="question.choices",
        answer_field="answerKey",
    )


def from_hub(row: Mapping[str, Any], where: Where, split: str) -> Example:
    """``allenai/openbookqa``: ``question_stem``, ``choices`` columns, ``answerKey``."""
    return make_example(
        DATASET, split, where,
        id=get(row, "id", where),
        question=get(row, "question_stem", where),
        choices=choice_columns(get(row, "choices", where, dict), where, "choices"),
        answer=get(row, "answerKey", where),
        extras=_extras(row, where),
        choices_field="choices",
        answer_field="answerKey",
    )
