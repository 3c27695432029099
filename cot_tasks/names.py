"""Task, group and filter names: the one place they are spelled, and which of them score a condition."""

from __future__ import annotations

from typing import NamedTuple

from cot_tasks.conditions import REASONING_FIRST, Condition, condition_kind
from cot_tasks.records import DATASETS

GROUP = "cot_distill"
GEN_GROUP = "cot_distill_gen"

# The gen task's two filters (cot_tasks/tasks/_cot_gen_template_yaml): which label a student commits to.
FIRST_LABEL = "first-label"  # label-first students: the label opening the output
COMMITTED_LABEL = "committed-label"  # reasoning-first students: the label after the last answer cue
# The metric key of a multiple_choice task (lm-eval's filter "none").
NO_FILTER = "none"


def label_task(dataset: str) -> str:
    """``multiple_choice`` task: the label letters scored right after the prompt."""
    return f"cot_{dataset}"


def gen_task(dataset: str) -> str:
    """``generate_until`` task: greedy generation, then the label the student commits to."""
    return f"cot_{dataset}_gen"


def commit_task(dataset: str) -> str:
    """``multiple_choice`` task: the label letters scored after the student's own generated rationale.

    It reads a ``gen_task`` samples file (metadata ``generations``), so it has no group:
    each dataset needs its own file.
    """
    return f"cot_{dataset}_commit"


LABEL_TASKS = tuple(label_task(d) for d in DATASETS)
GEN_TASKS = tuple(gen_task(d) for d in DATASETS)
COMMIT_TASKS = tuple(commit_task(d) for d in DATASETS)
ALL_NAMES = LABEL_TASKS + GEN_TASKS + COMMIT_TASKS + (GROUP, GEN_GROUP)


class MetricSource(NamedTuple):
    """Where lm-eval reports a metric: the task and its ``metric,filter`` key."""

    task: str
    key: str


# The two metrics every cell gets, in report order.
METRICS = ("acc", "exact_match")


def tasks_for(condition: str | Condition, dataset: str) -> dict[str, MetricSource]:
    """The one place that says how a student trained on ``condition`` is scored.

    ``acc``, choice at commitment: the label letters' log-likelihood right after the
    prompt (label-first) or after the student's own greedy rationale and the answer
    cue (reasoning-first, the commit task fed with the gen task's samples).
    ``exact_match``, free generation: the gen task for everyone, filtered by where
    this kind of student commits (its first label, or the label after its last cue).
    """
    if condition_kind(condition) == REASONING_FIRST:
        acc_task, gen_filter = commit_task(dataset), COMMITTED_LABEL
    else:
        acc_task, gen_filter = label_task(dataset), FIRST_LABEL
    return {"acc": MetricSource(acc_task, f"acc,{NO_FILTER}"),
            "exact_match": MetricSource(gen_task(dataset), f"exact_match,{gen_filter}")}
