"""CommonsenseQA v1.11 (Talmor et al. 2019): five choices, official test has no gold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cot_tasks.loaders.rows import Where, choice_columns, choice_list, get, make_example
from cot_tasks.records import Example

DATASET = "csqa"
# Original release file names; "dev" is our validation split.
FILES = {
    "train": ("train_rand_split.jsonl",),
    "validation": ("dev_rand_split.jsonl",),
    "test": ("test_rand_split_no_answers.jsonl",),
}


def from_file(obj: Mapping[str, Any], where: Where, split: str) -> Example:
    """``{"id", "answerKey", "question": {"stem", "question_concept", "choices": [{label, text}]}}``."""
    # The no-answers test file has no answerKey at all; elsewhere it is required.
    answer = get(obj, "answerKey", where) if "answerKey" in obj or split != "test" else None
    return make_example(
        DATASET, split, where,
        id=get(obj, "id", where),
        question=get(obj, "question.stem", where),
        choices=choice_list(get(obj, "question.choices", where, list), where, "question.choices"),
        answer=answer,
        extras={"question_concept": get(obj, "question.question_concept", where)},
        choices_field="question.choices",
        answer_field="answerKey",
    )


def from_hub(row: Mapping[str, Any], where: Where, split: str) -> Example:
    """``tau/commonsense_qa``: flat ``question`` and ``choices`` columns; answerKey is "" on test."""
    answer = get(row, "answerKey", where) or None
    if answer is None and split != "test":
        raise where.error("empty (only the test split may lack gold)", field="answerKey")
    return make_example(
        DATASET, split, where,
        id=get(row, "id", where),
        question=get(row, "question", where),
        choices=choice_columns(get(row, "choices", where, dict), where, "choices"),
        answer=answer,
        extras={"question_concept": get(row, "question_concept", where)},
        choices_field="choices",
        answer_field="answerKey",
    )
