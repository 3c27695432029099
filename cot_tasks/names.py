"""Task, group and filter names, and the evaluation protocol: which task and key give each metric of a
condition in each formulation. The one place they are spelled."""

from __future__ import annotations

from typing import NamedTuple

from cot_tasks.conditions import REASONING_FIRST, Condition, condition_kind
from cot_tasks.prompts import CF, FORMULATIONS, MCF, check_formulation
from cot_tasks.records import DATASETS

# The gen tasks' two filters (cot_tasks/tasks/_cot_gen_template_yaml, _cot_cf_gen_template_yaml): which label
# (letter in MCF, answer text in CF) a student commits to.
FIRST_LABEL = "first-label"  # label-first students: the label opening the output
COMMITTED_LABEL = "committed-label"  # reasoning-first students: the label after the last answer cue
# The metric key of a multiple_choice task (lm-eval's filter "none").
NO_FILTER = "none"


def _stem(dataset: str, formulation: str) -> str:
    return f"cot_{dataset}" + ("" if check_formulation(formulation) == MCF else f"_{formulation}")


def label_task(dataset: str, formulation: str = MCF) -> str:
    """``multiple_choice`` task: the labels (letters in MCF, answer texts in CF) scored right after the prompt."""
    return _stem(dataset, formulation)


def gen_task(dataset: str, formulation: str = MCF) -> str:
    """``generate_until`` task: greedy generation, then the label the student commits to."""
    return f"{_stem(dataset, formulation)}_gen"


def commit_task(dataset: str, formulation: str = MCF) -> str:
    """``multiple_choice`` task: the labels scored after the student's own generated rationale.

    It reads a ``gen_task`` samples file (metadata ``generations``), so it has no group:
    each dataset needs its own file.
    """
    return f"{_stem(dataset, formulation)}_commit"


def group(formulation: str = MCF) -> str:
    return "cot_distill" + ("" if check_formulation(formulation) == MCF else f"_{formulation}")


def gen_group(formulation: str = MCF) -> str:
    return f"{group(formulation)}_gen"


GROUP, GEN_GROUP = group(MCF), gen_group(MCF)
LABEL_TASKS = tuple(label_task(d, f) for f in FORMULATIONS for d in DATASETS)
GEN_TASKS = tuple(gen_task(d, f) for f in FORMULATIONS for d in DATASETS)
COMMIT_TASKS = tuple(commit_task(d, f) for f in FORMULATIONS for d in DATASETS)
GROUPS = tuple(g(f) for f in FORMULATIONS for g in (group, gen_group))
# Each of our tasks -> (dataset, formulation).
TASK_FACTS = {task(d, f): (d, f) for task in (label_task, gen_task, commit_task) for f in FORMULATIONS
              for d in DATASETS}
ALL_NAMES = LABEL_TASKS + GEN_TASKS + COMMIT_TASKS + GROUPS


class MetricSource(NamedTuple):
    """Where lm-eval reports a metric: the task and its ``metric,filter`` key."""

    task: str
    key: str


# Choice at commitment, by log-likelihood of each label: MCF scores one-token letters, so lm-eval's
# length-normalised acc_norm equals acc there; CF scores answer texts of different lengths, so both are kept.
CHOICE_METRICS = {MCF: ("acc",), CF: ("acc", "acc_norm")}
# Every metric a cell gets in each formulation, in report order (free generation last).
FORMULATION_METRICS = {f: CHOICE_METRICS[f] + ("exact_match",) for f in FORMULATIONS}
METRICS = FORMULATION_METRICS[MCF]
# The metrics the paper's claims are judged on (harness_plugins.claims), fixed before any CF score was seen.
# CF: acc_norm, not acc. The options' texts differ in length (CSQA 1-5 words), and a summed log-likelihood
# prefers short options whatever the student knows; acc_norm (per byte) is the CF standard that OLMES
# (per character) and lm-eval's openbookqa/arc leaderboards report. acc is recorded beside it, not judged.
JUDGED_METRICS = {MCF: ("acc", "exact_match"), CF: ("acc_norm", "exact_match")}


def tasks_for(condition: str | Condition, dataset: str, formulation: str = MCF) -> dict[str, MetricSource]:
    """The one place that says how a student trained on ``condition`` is scored, metric by metric.

    Choice metrics (``acc``; in CF also ``acc_norm``), choice at commitment: the labels'
    log-likelihood right after the prompt (label-first) or after the student's own greedy
    rationale and the answer cue (reasoning-first, the commit task fed with the gen task's samples).
    ``exact_match``, free generation: the gen task for everyone, filtered by where this kind of
    student commits (its first label, or the label after its last cue).
    """
    if condition_kind(condition) == REASONING_FIRST:
        choice_task, gen_filter = commit_task(dataset, formulation), COMMITTED_LABEL
    else:
        choice_task, gen_filter = label_task(dataset, formulation), FIRST_LABEL
    out = {name: MetricSource(choice_task, f"{name},{NO_FILTER}") for name in CHOICE_METRICS[formulation]}
    out["exact_match"] = MetricSource(gen_task(dataset, formulation), f"exact_match,{gen_filter}")
    return out
