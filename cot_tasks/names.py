"""Task, group and filter names, and the evaluation protocol: per metric how it is scored, where it is
judged and what it is called (``PROTOCOL``); which task and key give each metric of a condition in each
formulation (``tasks_for``) and in which order lm-eval's passes run (``passes_for``). The one place they are
spelled: cells, model cards, the grid's table, the report, the figures and compare read them here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple

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


CHOICE, GENERATION = "choice", "generation"
_AT_COMMITMENT = ("where the student commits to its answer (after the prompt; after its own greedy rationale and "
                  "the answer cue for reasoning-first conditions)")


@dataclass(frozen=True)
class Metric:
    """One metric of the protocol."""

    name: str  # lm-eval's
    # CHOICE: each label scored by log-likelihood (nothing is ever invalid); GENERATION: greedy output, parsed,
    # with an ``invalid,<filter>`` share of outputs naming no label.
    kind: str
    formulations: tuple[str, ...]  # where a cell gets it
    # Where the paper's claims are judged on it (harness_plugins.claims), fixed before any score of its grid.
    judged_in: tuple[str, ...]
    words: Mapping[str, str]  # per formulation: the report's definition
    note: str  # after a figure panel's title
    published_as: str  # the published metric it is comparable with (compare): a parsed, matched label is accuracy
    hub_type: str = "accuracy"  # Hub model-index type


# In report order (free generation last). MCF scores one-token letters, so lm-eval's length-normalised acc_norm
# equals acc there; CF scores answer texts of different lengths, so both are kept. CF judges acc_norm, not acc:
# the options' texts differ in length (CSQA 1-5 words), a summed log-likelihood prefers short options whatever
# the student knows, and acc_norm (per byte) is the CF standard that OLMES (per character) and lm-eval's
# openbookqa/arc leaderboards report; acc is recorded beside it.
PROTOCOL: dict[str, Metric] = {m.name: m for m in (
    Metric("acc", CHOICE, (MCF, CF), (MCF,), {
        MCF: f"acc: the label letter with the highest log-likelihood {_AT_COMMITMENT}",
        CF: "acc: the option whose answer text has the highest summed log-likelihood where the student commits to "
            "its answer (recorded, not judged: a sum prefers short answer texts; acc_norm is judged)"},
        ", choice at commitment", "acc"),
    Metric("acc_norm", CHOICE, (CF,), (CF,), dict.fromkeys(FORMULATIONS, (
        f"acc_norm: the option whose answer text has the highest log-likelihood per byte {_AT_COMMITMENT}")),
        ", choice at commitment, per byte", "acc_norm"),
    Metric("exact_match", GENERATION, (MCF, CF), (MCF, CF), {
        MCF: "exact_match: the label the student commits to in its greedy output (invalid: share of outputs "
             "with no label)",
        CF: "exact_match: the answer text the student commits to in its greedy output (invalid: share of "
            "outputs naming no option)"},
        ", free generation (hatched)", "acc"),
)}
CHOICE_METRICS = {f: tuple(m.name for m in PROTOCOL.values() if m.kind == CHOICE and f in m.formulations)
                  for f in FORMULATIONS}
FORMULATION_METRICS = {f: tuple(m.name for m in PROTOCOL.values() if f in m.formulations) for f in FORMULATIONS}
METRICS = FORMULATION_METRICS[MCF]
JUDGED_METRICS = {f: tuple(m.name for m in PROTOCOL.values() if f in m.judged_in) for f in FORMULATIONS}


def invalid_key(metric: str, key: str) -> str | None:
    """lm-eval's key of the share of outputs naming no label, beside a generation metric's ``metric,filter``
    key; None for a choice metric (a choice always picks a label)."""
    return f"invalid,{key.split(',', 1)[1]}" if PROTOCOL[metric].kind == GENERATION else None


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


class Pass(NamedTuple):
    """One lm-eval run over a cell's checkpoint: its task, and the task whose samples file it reads (a commit
    task reads the gen pass's generations, metadata ``generations``), else None."""

    task: str
    reads: str | None = None


def passes_for(condition: str | Condition, dataset: str, formulation: str = MCF) -> list[Pass]:
    """The passes that score a cell, in the order they must run: free generation first, whose samples a
    reasoning-first student's choice pass reads."""
    sources = tasks_for(condition, dataset, formulation)
    gen = [s.task for name, s in sources.items() if PROTOCOL[name].kind == GENERATION]
    choice = [s.task for name, s in sources.items() if PROTOCOL[name].kind == CHOICE]
    return [Pass(t) for t in dict.fromkeys(gen)] + [
        Pass(t, gen_task(dataset, formulation) if t in COMMIT_TASKS else None) for t in dict.fromkeys(choice)]
