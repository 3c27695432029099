"""Doc-level statistics for comparing students: bootstrap intervals and paired tests.

Inputs are per-doc correctness arrays as lm-eval's ``--log_samples`` gives them
(0/1 per doc, or a per-doc mean over seeds). Everything is seeded so a report
reruns to the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

N_RESAMPLES = 10_000
CONFIDENCE = 0.95
# Resample in chunks so 10k resamples of a 1k-doc split stay at a few MB.
_CHUNK = 500


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test: a binomial test on the discordant pairs.

    ``ref_only``: docs the reference got right and the other got wrong;
    ``other_only``: the reverse. Concordant pairs carry no information.
    """

    ref_only: int
    other_only: int
    p_value: float


@dataclass(frozen=True)
class PairedBootstrap:
    delta: float  # mean(other) - mean(ref)
    interval: Interval
    p_value: float  # two-sided: how often the resampled delta crosses zero


def _resampled_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Means of ``values`` (docs on axis 0) over doc-level resamples with replacement."""
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    out = []
    for start in range(0, n_resamples, _CHUNK):
        size = min(_CHUNK, n_resamples - start)
        idx = rng.integers(0, n, size=(size, n))
        out.append(values[idx].mean(axis=1))
    return np.concatenate(out)


def _as_docs(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("need a non-empty 1-D array of per-doc scores")
    return arr


def bootstrap_interval(
    per_doc, *, n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0
) -> Interval:
    """Percentile bootstrap interval of the mean over docs."""
    means = _resampled_means(_as_docs(per_doc), n_resamples, seed)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(low), float(high))


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


def paired_bootstrap(
    ref, other, *, n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0
) -> PairedBootstrap:
    """Bootstrap of mean(other) - mean(ref), resampling docs so the pairing is kept."""
    diff = _as_docs(other) - _as_docs(ref)
    deltas = _resampled_means(diff, n_resamples, seed)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    # Two-sided p: twice the smaller tail beyond zero, with the +1 correction so a
    # finite number of resamples never claims p = 0.
    tail_count = min(np.sum(deltas <= 0), np.sum(deltas >= 0))
    p = min(1.0, 2 * (tail_count + 1) / (deltas.size + 1))
    return PairedBootstrap(float(diff.mean()), Interval(float(low), float(high)), float(p))
