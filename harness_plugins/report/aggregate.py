"""From runs to claims: per-cell summaries and condition comparisons, within one formulation and metric.

A *cell* is dataset x student x formulation x metric x condition over its seeds. A
*comparison* sets a condition against a baseline condition of the same dataset,
student, formulation and metric (MCF and CF students answer with different labels, a
letter and the answer text: never set against each other); the family for Holm's
correction is every comparison of one dataset x student x formulation x metric. Which
comparisons: what the condition registry says (``cot_tasks.conditions.baselines_for``): every
condition against ``none``, ``post`` against ``pre`` (the first claim) and each
``keytokens_post:K`` against ``post`` and against its control ``random_post:K`` (the third).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from cot_tasks.conditions import baselines_for, condition_order, parse_condition
from cot_tasks.errors import DataError
from cot_tasks.names import COMMIT_TASKS
from cot_tasks.prompts import FORMULATIONS, MCF
from harness_plugins.report import stats
from harness_plugins.report.runs import Run


@dataclass(frozen=True)
class Cell:
    dataset: str
    student: str
    metric: str
    condition: str
    task: str
    seeds: tuple[int, ...]
    docs: int
    mean: float  # mean over seeds of each seed's accuracy
    std: float  # over seeds (NaN with one seed)
    interval: stats.Interval  # hierarchical bootstrap: seeds, then docs
    invalid: float | None  # mean share of outputs without a label (generation metrics)
    chance: float | None  # mean 1 / number of choices over the docs
    formulation: str = MCF  # last, with a default: Cells made by hand (tests) stay MCF


@dataclass(frozen=True)
class Comparison:
    dataset: str
    student: str
    metric: str
    condition: str
    baseline: str
    n_seeds: int  # seed pairs (paired) or the smaller seed count (Welch)
    n_docs: int
    delta: float  # mean(condition) - mean(baseline), on the docs both were scored on
    interval: stats.Interval  # hierarchical bootstrap of delta: seeds, then docs (shared)
    p_value: float
    p_holm: float
    test: str
    one_model: bool  # one seed per condition: the test speaks for two trained models only
    seed_interval: stats.Interval | None = None  # the seed-level t test's own 95% interval of delta
    cross_device: tuple[int, ...] = ()  # seeds whose two cells were trained on different (recorded) devices
    formulation: str = MCF
    # Each seed of the condition less its baseline: the same seed's where paired, else the baseline's mean
    # (Welch), else the one model's difference (McNemar). What the comparison figure draws as dots.
    seed_deltas: tuple[float, ...] = ()

    def cross_device_note(self) -> str:
        """How the report and the claims' evidence name those seeds ("" for none)."""
        seeds = ", ".join(map(str, self.cross_device))
        return f"cross-device: seed{'s' * (len(self.cross_device) > 1)} {seeds}" if self.cross_device else ""


def _common_docs(runs: list[Run], where: str) -> list[str]:
    ids = set.intersection(*(set(r.docs) for r in runs))
    if not ids:
        raise DataError("runs share no eval docs (different splits or --limit?)", path=where)
    # One task saw one doc the same way each time; across tasks (cot_csqa vs cot_csqa_commit) the docs differ
    # by design and only their example ids pair them. So does a commit task's doc across trained models: it
    # holds that model's own generation (the question in it is checked through the same cells' gen docs).
    by_task: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        if r.task not in COMMIT_TASKS:
            by_task[r.task].append(r)
    for members in by_task.values():
        for d in ids:
            if len({r.docs[d].doc_hash for r in members} - {None}) > 1:
                names = ", ".join(sorted({r.cell for r in members}))
                raise DataError(f"doc {d!r} is a different document across {names}")
    return sorted(ids)


def _matrix(runs: list[Run], doc_ids: list[str]) -> np.ndarray:
    return np.array([[run.docs[d].score for d in doc_ids] for run in runs])


def _cell(members: list[Run], seed: int, n_resamples: int) -> Cell:
    first = members[0]
    where = f"{first.dataset}/{first.student}/{first.formulation}/{first.metric}/{first.condition}"
    seeds = [r.seed for r in members]
    if len(set(seeds)) != len(seeds):
        raise DataError(f"repeated seed among runs of {where}: {', '.join(r.cell for r in members)}")
    tasks = {r.task for r in members}
    if len(tasks) > 1:
        raise DataError(f"runs of {where} were scored by different tasks ({', '.join(sorted(tasks))})")
    doc_ids = _common_docs(members, where)
    m = _matrix(members, doc_ids)
    per_seed = m.mean(axis=1)
    invalid = [r.invalid for r in members if r.invalid is not None]
    choices = [first.docs[d].n_choices for d in doc_ids if first.docs[d].n_choices]
    return Cell(first.dataset, first.student, first.metric, first.condition, first.task, tuple(seeds),
                len(doc_ids), float(per_seed.mean()), float(per_seed.std(ddof=1)) if len(seeds) > 1 else math.nan,
                stats.hierarchical_bootstrap(m, seed=seed, n_resamples=n_resamples),
                float(np.mean(invalid)) if invalid else None,
                float(np.mean([1 / c for c in choices])) if choices else None, first.formulation)


def check_same_formulation(ref: list[Run], other: list[Run]) -> None:
    """Refuse to pair runs of two formulations: MCF and CF students are scored on different labels (a letter, the
    answer text), so their difference would measure the formulation, not the condition. ``aggregate`` never
    groups them together; this guards every caller of ``compare_runs``."""
    first = (ref + other)[0]
    for run in ref + other:
        if run.formulation != first.formulation:
            raise DataError(f"cells {first.cell} ({first.formulation}) and {run.cell} ({run.formulation}) are of "
                            "different formulations: compare within one formulation only")


def compare_runs(ref: list[Run], other: list[Run], *, seed: int = 0, n_resamples: int = stats.N_RESAMPLES
                 ) -> tuple[float, stats.Interval, stats.SeedTest, int, int, bool, tuple[float, ...]]:
    """(delta, interval, test, n_seeds, n_docs, one_model, seed_deltas) of ``other`` against ``ref``.

    Seeds are paired when both sides share at least two; else both sides need two
    seeds for Welch's test; else the one model of each side is compared doc by doc
    (exact McNemar), which says nothing about the conditions beyond those models.
    """
    check_same_formulation(ref, other)
    ref_by, oth_by = {r.seed: r for r in ref}, {r.seed: r for r in other}
    common = sorted(set(ref_by) & set(oth_by))
    if len(common) >= 2:
        a, b = [ref_by[s] for s in common], [oth_by[s] for s in common]
    else:
        a, b = sorted(ref, key=lambda r: r.seed), sorted(other, key=lambda r: r.seed)
    doc_ids = _common_docs(a + b, f"{ref[0].condition} vs {other[0].condition}")
    ma, mb = _matrix(a, doc_ids), _matrix(b, doc_ids)
    delta = float(mb.mean() - ma.mean())
    if len(common) >= 2:
        test = stats.seed_level_test(ma.mean(axis=1), mb.mean(axis=1), paired=True)
        interval = stats.hierarchical_bootstrap(mb - ma, seed=seed, n_resamples=n_resamples)
        return delta, interval, test, len(common), len(doc_ids), False, _floats(mb.mean(axis=1) - ma.mean(axis=1))
    if min(len(a), len(b)) >= 2:
        test = stats.seed_level_test(ma.mean(axis=1), mb.mean(axis=1), paired=False)
        interval = stats.hierarchical_bootstrap(mb, minus=ma, seed=seed, n_resamples=n_resamples)
        return (delta, interval, test, min(len(a), len(b)), len(doc_ids), False,
                _floats(mb.mean(axis=1) - ma.mean()))
    # One trained model on (at least) one side: pair the first seed of each, doc by doc.
    ra, rb = (ref_by[common[0]], oth_by[common[0]]) if common else (a[0], b[0])
    xa, xb = _matrix([ra], doc_ids), _matrix([rb], doc_ids)
    mc = stats.mcnemar_exact(xa[0], xb[0])
    interval = stats.hierarchical_bootstrap(xb - xa, seed=seed, n_resamples=n_resamples)
    test = stats.SeedTest(mc.p_value, f"exact McNemar over {len(doc_ids)} docs of one model each "
                                      f"(seeds {ra.seed} and {rb.seed})")
    one = float(xb.mean() - xa.mean())
    return one, interval, test, 1, len(doc_ids), True, (one,)


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def cross_device_seeds(ref: list[Run], other: list[Run]) -> tuple[int, ...]:
    """Seeds of both sides whose cells record different training devices: there the difference holds what the
    device alone moves as well as what the condition does (a cell without a recorded device is not judged)."""
    ref_by = {r.seed: r.device for r in ref}
    return tuple(sorted(r.seed for r in other
                        if r.device and ref_by.get(r.seed) and r.device != ref_by[r.seed]))


def aggregate(runs: list[Run], *, seed: int = 0,
              n_resamples: int = stats.N_RESAMPLES) -> tuple[list[Cell], list[Comparison]]:
    groups: dict[tuple[str, str, str, str, str], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.dataset, run.student, run.formulation, run.metric, run.condition)].append(run)
    cells = [_cell(sorted(members, key=lambda r: r.seed), seed, n_resamples) for members in groups.values()]
    # Formulation first: a report reads all of MCF, then all of CF (an MCF-only grid keeps its order).
    cells.sort(key=lambda c: (FORMULATIONS.index(c.formulation), c.dataset, c.student, c.metric,
                              condition_order(c.condition)))
    comparisons: list[Comparison] = []
    for c in cells:
        for baseline in baselines_for(c.condition):
            ref = groups.get((c.dataset, c.student, c.formulation, c.metric, parse_condition(baseline).spec))
            if ref is None:
                continue
            other = groups[(c.dataset, c.student, c.formulation, c.metric, c.condition)]
            delta, interval, test, n_seeds, n_docs, one, per_seed = compare_runs(ref, other, seed=seed,
                                                                                 n_resamples=n_resamples)
            comparisons.append(Comparison(c.dataset, c.student, c.metric, c.condition, baseline, n_seeds, n_docs,
                                          delta, interval, test.p_value, math.nan, test.test, one, test.interval,
                                          cross_device_seeds(ref, other), c.formulation, per_seed))
    return cells, _with_holm(comparisons)


def _with_holm(comparisons: list[Comparison]) -> list[Comparison]:
    """Holm over each dataset x student x formulation x metric family."""
    families: dict[tuple, list[int]] = defaultdict(list)
    for i, c in enumerate(comparisons):
        families[(c.dataset, c.student, c.formulation, c.metric)].append(i)
    out = list(comparisons)
    for members in families.values():
        for i, p in zip(members, stats.holm([comparisons[i].p_value for i in members])):
            out[i] = replace(comparisons[i], p_holm=p)
    return out
