"""Statistics for comparing students: tests at the level of trained models, intervals that say what
they resample, and Holm's correction.

A claim about a condition is a claim about the students it trains, so with two
or more seeds the test compares seed-level accuracies (paired t over seeds that
share an init and data order, else Welch), never the seed x doc pairs as if they
were independent: those ignore seed-to-seed variance and reject far too often.
Intervals come from a two-stage (hierarchical) bootstrap: resample seeds, then
eval docs. With one seed per condition only doc-level tests remain, and they
speak for those two trained models alone. Inputs are per-doc correctness as
lm-eval's ``--log_samples`` gives it; everything is seeded, so a report reruns to
the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, ttest_ind, ttest_rel
from scipy.stats import t as t_dist

N_RESAMPLES = 10_000
CONFIDENCE = 0.95
# Resample in chunks so 10k resamples of a 1k-doc split stay at a few MB.
_CHUNK = 500


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def points(self) -> str:
        """``[-1.2, +3.4]``: a difference's interval in signed accuracy points."""
        return f"[{100 * self.low:+.1f}, {100 * self.high:+.1f}]"


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test: a binomial test on the discordant pairs.

    ``ref_only``: docs the reference got right and the other got wrong;
    ``other_only``: the reverse. Concordant pairs carry no information.
    """

    ref_only: int
    other_only: int
    p_value: float


def mcnemar_exact(ref, other) -> McNemar:
    """Two-sided exact McNemar on paired 0/1 outcomes (same docs, same order)."""
    ref_b, other_b = np.asarray(ref) > 0.5, np.asarray(other) > 0.5
    if ref_b.shape != other_b.shape:
        raise ValueError(f"paired arrays differ in shape: {ref_b.shape} vs {other_b.shape}")
    ref_only = int(np.sum(ref_b & ~other_b))
    other_only = int(np.sum(~ref_b & other_b))
    n = ref_only + other_only
    p = 1.0 if n == 0 else float(binomtest(ref_only, n, 0.5, alternative="two-sided").pvalue)
    return McNemar(ref_only, other_only, p)


# --------------------------------------------------------------------------- seed-level


def _seed_doc_matrix(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError("need a non-empty seeds x docs matrix")
    return arr


def hierarchical_bootstrap(matrix, *, minus=None, n_resamples: int = N_RESAMPLES,
                           confidence: float = CONFIDENCE, seed: int = 0) -> Interval:
    """Percentile interval of the grand mean of a seeds x docs matrix: each resample draws seeds with
    replacement, then docs with replacement. One seed reduces it to the doc bootstrap.

    ``minus`` (another seeds x docs matrix on the same docs, seeds not paired): the
    interval of mean(matrix) - mean(minus), seeds drawn apart, docs drawn once for both.
    """
    m = _seed_doc_matrix(matrix)
    rng = np.random.default_rng(seed)
    n = m.shape[1]
    parts = [m] if minus is None else [m, _seed_doc_matrix(minus)]
    if any(part.shape[1] != n for part in parts):
        raise ValueError("matrices differ in docs")
    means = []
    for start in range(0, n_resamples, _CHUNK):
        size = min(_CHUNK, n_resamples - start)
        w = rng.multinomial(n, np.full(n, 1 / n), size=size)
        # Multiplicity counts stand in for index draws: mean = v^T M w / (k n).
        total = []
        for part in parts:
            k = part.shape[0]
            v = rng.multinomial(k, np.full(k, 1 / k), size=size)
            total.append(((v @ part) * w).sum(axis=1) / (k * n))
        means.append(total[0] if minus is None else total[0] - total[1])
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(np.concatenate(means), [tail, 100 - tail])
    return Interval(float(low), float(high))


@dataclass(frozen=True)
class SeedTest:
    p_value: float
    test: str  # what was tested, in words the report prints
    # The test's own 95% interval of the difference of seed means (None where no seed-level test ran). It
    # excludes 0 exactly when p < 0.05. With few seeds it is much wider than the hierarchical bootstrap,
    # which can only recombine the seeds there are: CSQA post - pre over 3 SmolLM2 seeds (-0.2, -15.2,
    # -15.2 points) gives [-31.7, +11.4] here against the bootstrap's [-17.5, -0.7].
    interval: Interval | None = None


def _t_interval(mean: float, var_terms: list[tuple[float, int]], confidence: float = CONFIDENCE) -> Interval:
    """mean +- t * se; ``var_terms``: (sample variance, n) per side, Welch-Satterthwaite df for two sides."""
    se2 = [v / n for v, n in var_terms]
    se = float(np.sqrt(sum(se2)))
    df = (sum(se2) ** 2 / sum(x ** 2 / (n - 1) for x, (_, n) in zip(se2, var_terms))) if se > 0 else 1.0
    half = float(t_dist.ppf(0.5 + confidence / 2, df)) * se
    return Interval(mean - half, mean + half)


def seed_level_test(ref, other, *, paired: bool) -> SeedTest:
    """Two-sided t-test over seed-level accuracies, paired by seed (same init and data order) or Welch,
    with its 95% interval of the difference."""
    a, b = np.asarray(ref, dtype=float), np.asarray(other, dtype=float)
    if min(a.size, b.size) < 2:
        raise ValueError("a seed-level test needs at least two seeds per condition")
    if paired:
        if a.shape != b.shape:
            raise ValueError("paired seeds differ in number")
        diff = b - a
        name = f"paired t over {a.size} seeds"
        interval = _t_interval(float(diff.mean()), [(float(diff.var(ddof=1)), diff.size)])
        if np.allclose(diff, diff[0]):  # no spread: t is undefined, or infinite for a constant shift
            return SeedTest(1.0 if np.isclose(diff[0], 0) else 0.0, name, interval)
        return SeedTest(float(ttest_rel(b, a).pvalue), name, interval)
    name = f"Welch t over {a.size} vs {b.size} seeds"
    interval = _t_interval(float(b.mean() - a.mean()), [(float(b.var(ddof=1)), b.size), (float(a.var(ddof=1)), a.size)])
    if np.isclose(a.var(), 0) and np.isclose(b.var(), 0):
        return SeedTest(1.0 if np.isclose(a.mean(), b.mean()) else 0.0, name, interval)
    return SeedTest(float(ttest_ind(b, a, equal_var=False).pvalue), name, interval)


def holm(p_values) -> list[float]:
    """Holm's step-down adjustment for one family of tests (NaN entries are not tests and stay NaN)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = [i for i in np.argsort(p, kind="stable") if not np.isnan(p[i])]
    m, running = len(idx), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()
