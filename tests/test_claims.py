"""Verdicts per claim: the pre-registered rules of harness_plugins/claims.py, on hand-made comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from harness_plugins.claims import (
    INCONCLUSIVE,
    MARGIN,
    NOT_REPRODUCED,
    REPRODUCED,
    claim_verdicts,
    gain_verdict,
    match_verdict,
    to_markdown,
)
from harness_plugins.report import stats
from harness_plugins.report.aggregate import Cell, Comparison


def comp(condition, baseline, delta, low, high, p_holm, *, metric="acc", one_model=False, dataset="csqa",
         t=None, formulation="mcf"):
    return Comparison(dataset, "s", metric, condition, baseline, 1 if one_model else 3, 100, delta,
                      stats.Interval(low, high), p_holm, p_holm, "t", one_model,
                      None if t is None else stats.Interval(*t), formulation=formulation)


def test_a_verdict_needs_the_seed_level_interval_too():
    """With three seeds the bootstrap recombines three values and is far narrower than the t test's own
    interval: SmolLM2's CSQA post - pre (seeds -0.2, -15.2, -15.2 points) had bootstrap [-17.5, -0.7], t
    [-31.7, +11.4], p = 0.18. Ruling a gain out takes both intervals."""
    test = stats.seed_level_test([0.197, 0.349, 0.347], [0.195, 0.197, 0.195], paired=True)
    assert (test.interval.low, test.interval.high) == pytest.approx((-0.317, 0.114), abs=0.001)
    assert gain_verdict(comp("post", "pre", -0.102, -0.175, -0.007, 1.0)) == NOT_REPRODUCED
    assert gain_verdict(comp("post", "pre", -0.102, -0.175, -0.007, 1.0, t=(-0.317, 0.114))) == INCONCLUSIVE
    assert gain_verdict(comp("post", "pre", -0.024, -0.064, 0.017, 0.69, t=(-0.057, 0.009))) == NOT_REPRODUCED
    # ... and matching the full CoT takes both within the margin
    gain = comp("keytokens_post:5", "none", 0.05, 0.02, 0.08, 0.01)
    assert match_verdict(gain, comp("keytokens_post:5", "post", 0.0, -0.01, 0.01, 1.0)) == REPRODUCED
    assert match_verdict(gain, comp("keytokens_post:5", "post", 0.0, -0.01, 0.01, 1.0, t=(-0.03, 0.03))) == INCONCLUSIVE


@pytest.mark.parametrize("paired", [True, False])
def test_the_seed_interval_is_its_tests_own(paired):
    """It excludes 0 exactly when the test's p < 0.05 (the same t distribution and df)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.normal(0.3, 0.02, 3)
        b = (a if paired else rng.normal(0.3, 0.02, 4)) + rng.normal(rng.uniform(-0.05, 0.05), 0.02, 3 if paired else 4)
        test = stats.seed_level_test(a, b, paired=paired)
        assert (test.interval.low > 0 or test.interval.high < 0) == (test.p_value < 0.05)
        assert test.interval.low < b.mean() - a.mean() < test.interval.high


@pytest.mark.parametrize("delta, low, high, p, verdict", [
    (0.05, 0.02, 0.08, 0.01, REPRODUCED),
    (0.05, -0.01, 0.11, 0.20, INCONCLUSIVE),  # could be a gain, not shown
    (0.003, -0.01, 0.015, 0.60, NOT_REPRODUCED),  # any gain is below the margin
    (-0.06, -0.09, -0.03, 0.01, NOT_REPRODUCED),  # reversed
    (0.01, -0.01, MARGIN, 0.40, INCONCLUSIVE),  # the margin itself is not ruled out
])
def test_gain_rule(delta, low, high, p, verdict):
    assert gain_verdict(comp("post", "pre", delta, low, high, p)) == verdict


def test_one_model_never_decides():
    assert gain_verdict(comp("post", "pre", 0.3, 0.2, 0.4, 1e-9, one_model=True)) == INCONCLUSIVE


@pytest.mark.parametrize("gain, versus_full, verdict", [
    ((0.05, 0.03, 0.07, 0.01), (0.0, -0.015, 0.015, 0.9), REPRODUCED),
    ((0.05, 0.03, 0.07, 0.01), (-0.01, -0.04, 0.02, 0.5), INCONCLUSIVE),  # the CI leaves the margin
    ((0.05, 0.03, 0.07, 0.01), (-0.05, -0.07, -0.03, 0.01), NOT_REPRODUCED),  # clearly below the full CoT
    ((0.0, -0.01, 0.01, 0.9), (0.0, -0.01, 0.01, 0.9), NOT_REPRODUCED),  # no gain at all: nothing to match
    ((0.03, -0.01, 0.07, 0.2), (0.0, -0.01, 0.01, 0.9), INCONCLUSIVE),
])
def test_match_rule(gain, versus_full, verdict):
    assert match_verdict(comp("keytokens_post:5", "none", *gain), comp("keytokens_post:5", "post", *versus_full)) \
        == verdict


def test_verdicts_per_metric_with_evidence_and_control():
    comparisons = [comp("post", "pre", 0.05, 0.02, 0.08, 0.01, metric=m) for m in ("acc", "exact_match")]
    comparisons += [comp("shuffled_post", "none", 0.0, -0.01, 0.01, 0.9),
                    comp("keytokens_post:5", "none", 0.05, 0.03, 0.07, 0.01),
                    comp("keytokens_post:5", "post", 0.0, -0.015, 0.015, 0.9),
                    comp("keytokens_post:5", "random_post:5", 0.03, 0.01, 0.05, 0.02)]
    verdicts = claim_verdicts(comparisons)
    got = {(v.claim, v.metric): v for v in verdicts}
    assert set(got) == {("post beats pre", "acc"), ("post beats pre", "exact_match"),
                        ("shuffled post still helps", "acc"), ("a few key tokens (5) match the full CoT", "acc")}
    keys = got[("a few key tokens (5) match the full CoT", "acc")]
    assert keys.verdict == REPRODUCED
    assert "keytokens_post:5 - post = +0.0 points" in keys.evidence
    assert "control: keytokens_post:5 - random_post:5 = +3.0" in keys.evidence
    assert got[("shuffled post still helps", "acc")].verdict == NOT_REPRODUCED
    table = "\n".join(to_markdown(verdicts))
    assert "## Claims" in table and table.count("**reproduced**") == 3 and "**not reproduced**" in table


def test_missing_conditions_give_no_verdict():
    assert claim_verdicts([comp("pre", "none", 0.1, 0.0, 0.2, 0.1)]) == []
    assert to_markdown([]) == []


def test_one_model_verdict_says_why():
    (v,) = claim_verdicts([comp("post", "pre", 0.2, 0.1, 0.3, 0.001, one_model=True)])
    assert v.verdict == INCONCLUSIVE and "one model per condition" in v.evidence


def cell(condition, low, *, chance=0.2, metric="acc", formulation="mcf"):
    return Cell("csqa", "s", metric, condition, "t", (0, 1, 2), 100, low + 0.01, 0.01, stats.Interval(low, low + 0.02),
                None, chance, formulation)


def test_no_gain_between_students_at_chance_is_inconclusive():
    no_gain = [comp("post", "pre", 0.003, -0.01, 0.015, 0.6), comp("shuffled_post", "none", 0.0, -0.01, 0.01, 0.9)]
    at_chance = [cell("pre", 0.18), cell("post", 0.19), cell("none", 0.185), cell("shuffled_post", 0.19)]
    got = {v.claim: v for v in claim_verdicts(no_gain, at_chance)}
    post_pre = got["post beats pre"]
    assert post_pre.verdict == INCONCLUSIVE and "post and pre both at chance" in post_pre.evidence
    assert got["shuffled post still helps"].verdict == INCONCLUSIVE
    # One student above chance: then "no gain" is evidence.
    learned = [cell("pre", 0.30), cell("post", 0.30), cell("none", 0.185), cell("shuffled_post", 0.19)]
    got = {v.claim: v for v in claim_verdicts(no_gain, learned)}
    assert got["post beats pre"].verdict == NOT_REPRODUCED and "chance" not in got["post beats pre"].evidence
    # A real gain is a gain whatever the floor.
    gain = [comp("post", "pre", 0.05, 0.02, 0.08, 0.01)]
    assert claim_verdicts(gain, at_chance)[0].verdict == REPRODUCED


def test_cf_is_judged_on_acc_norm_and_exact_match_only_and_never_with_mcf():
    """CF's plain acc (a summed log-likelihood, which prefers short answer texts) is recorded, not judged; and
    no claim reads comparisons of two formulations together."""
    gain = {"delta": 0.05, "low": 0.02, "high": 0.08, "p_holm": 0.01}
    comparisons = [comp("post", "pre", formulation=f, metric=m, **gain)
                   for f, metrics in (("mcf", ("acc", "exact_match")), ("cf", ("acc", "acc_norm", "exact_match")))
                   for m in metrics]
    # key tokens: the gain over none in MCF, the match with post in CF only: neither formulation can judge it
    comparisons += [comp("keytokens_post:5", "none", formulation="mcf", **gain),
                    comp("keytokens_post:5", "post", 0.0, -0.01, 0.01, 0.9, formulation="cf")]
    verdicts = claim_verdicts(comparisons)
    assert {(v.claim, v.formulation, v.metric) for v in verdicts} == {
        ("post beats pre", "mcf", "acc"), ("post beats pre", "mcf", "exact_match"),
        ("post beats pre", "cf", "acc_norm"), ("post beats pre", "cf", "exact_match")}
    lines = to_markdown(verdicts)
    assert "| claim | dataset | student | formulation | metric | verdict | evidence |" in lines
    assert "| post beats pre | csqa | s | CF | acc_norm | **reproduced** |" in "\n".join(lines)
    assert "CF: acc_norm, exact_match" in lines[2] and "not judged" in lines[2]
    mcf_only = to_markdown([v for v in verdicts if v.formulation == "mcf"])
    assert "| claim | dataset | student | metric | verdict | evidence |" in mcf_only and "CF" not in "".join(mcf_only)


def test_the_floor_rule_reads_the_cells_of_the_same_formulation():
    no_gain = [comp("post", "pre", 0.003, -0.01, 0.015, 0.6, formulation="cf", metric="acc_norm")]
    mcf_at_chance = [cell("pre", 0.18), cell("post", 0.19)]
    cf_at_chance = [cell("pre", 0.18, formulation="cf", metric="acc_norm"),
                    cell("post", 0.19, formulation="cf", metric="acc_norm")]
    assert claim_verdicts(no_gain, mcf_at_chance)[0].verdict == NOT_REPRODUCED
    assert claim_verdicts(no_gain, cf_at_chance)[0].verdict == INCONCLUSIVE
