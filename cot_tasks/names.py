"""Task and group names: the one place they are spelled."""

from __future__ import annotations

from cot_tasks.records import DATASETS

GROUP = "cot_distill"
GEN_GROUP = "cot_distill_gen"


def label_task(dataset: str) -> str:
    """Label-first ``multiple_choice`` task: scores the label right after the prompt."""
    return f"cot_{dataset}"


def gen_task(dataset: str) -> str:
    """``generate_until`` task: scores the label the student commits to in its text."""
    return f"cot_{dataset}_gen"


LABEL_TASKS = tuple(label_task(d) for d in DATASETS)
GEN_TASKS = tuple(gen_task(d) for d in DATASETS)
ALL_NAMES = LABEL_TASKS + GEN_TASKS + (GROUP, GEN_GROUP)
