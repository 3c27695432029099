"""The report's figures: the fitted score axis, the comparison figure's rows, intervals, seeds and verdict
marks, and the training curves."""

from __future__ import annotations

import math

import pytest
from test_report import write_run

from harness_plugins import claims
from harness_plugins.report.aggregate import Cell, Comparison, aggregate
from harness_plugins.report.figures import curves_figure, deltas_figure, fitted_limits, scores_figure
from harness_plugins.report.runs import Training, load_grid
from harness_plugins.report.stats import Interval


def cell(condition, mean, metric="acc", formulation="mcf", chance=0.2, dataset="csqa"):
    return Cell(dataset, "tiny", metric, condition, "t", (0, 1, 2), 1000, mean, 0.01,
                Interval(mean - 0.02, mean + 0.02), None, chance, formulation)


def comparison(condition, baseline, delta, low, high, *, t=None, seeds=(0.0, 0.0, 0.0), p=0.01, one_model=False,
               metric="acc", formulation="mcf"):
    return Comparison("csqa", "tiny", metric, condition, baseline, len(seeds), 1000, delta, Interval(low, high), p,
                      p, "paired t", one_model, Interval(*t) if t else None, (), formulation, seeds)


def test_fitted_limits_hold_the_data_on_round_numbers():
    assert fitted_limits([41.0, 52.5]) == (35.0, 55.0)
    assert fitted_limits([0.0, 30.0]) == (0.0, 35.0)
    assert fitted_limits([97.0, 99.5]) == (95.0, 100.0)
    assert fitted_limits([50.0, 50.0]) == (45.0, 55.0)


def test_scores_axis_is_fitted_and_keeps_chance_in_view():
    fig = scores_figure([cell("none", 0.48), cell("post", 0.52)])
    low, high = fig.axes[0].get_ylim()
    assert (low, high) == (15.0, 60.0)  # chance 20 in view; not a 0-100 axis that flattens 4 points
    assert any(line.get_linestyle() == "--" and line.get_ydata()[0] == pytest.approx(20) for line in fig.axes[0].lines)


def test_row_verdicts_follow_the_claim_rules():
    cells = [cell("none", 0.5), cell("post", 0.6), cell("keytokens_post:5", 0.6)]
    assert claims.row_verdict(comparison("post", "none", 0.1, 0.05, 0.15), cells) == claims.GAIN
    assert claims.row_verdict(comparison("post", "none", 0.0, -0.01, 0.01, p=0.9), cells) == claims.NO_GAIN
    assert claims.row_verdict(comparison("post", "none", 0.03, -0.01, 0.07, p=0.2), cells) == claims.UNDECIDED
    assert claims.row_verdict(comparison("post", "none", 0.1, 0.05, 0.15, one_model=True), cells) == claims.UNDECIDED
    # the t interval widens what the bootstrap says (claims.span)
    wide = comparison("keytokens_post:5", "post", 0.0, -0.01, 0.01, t=(-0.05, 0.05), p=0.9)
    assert claims.row_verdict(wide, cells) == claims.UNDECIDED
    assert claims.row_verdict(comparison("keytokens_post:5", "post", 0.0, -0.01, 0.01, p=0.9), cells) == \
        claims.MATCHES
    assert claims.row_verdict(comparison("keytokens_post:5", "post", -0.1, -0.15, -0.05), cells) == \
        claims.FALLS_SHORT
    # CF's plain acc is recorded, not judged
    assert claims.row_verdict(comparison("post", "none", 0.1, 0.05, 0.15, formulation="cf"), cells) == \
        claims.NOT_JUDGED
    # "no gain" between two students at chance is no evidence
    floor = [cell("none", 0.2), cell("shuffled_post", 0.2)]
    assert claims.row_verdict(comparison("shuffled_post", "none", 0.0, -0.01, 0.01, p=0.9), floor) == \
        claims.UNDECIDED


def test_comparison_figure_rows_intervals_seeds_band_and_marks():
    rows = [comparison("pre", "none", -0.05, -0.08, -0.02, t=(-0.1, 0.0), seeds=(-0.04, -0.05, -0.06)),
            comparison("post", "pre", 0.12, 0.08, 0.16, t=(0.05, 0.2), seeds=(0.1, 0.12, 0.14)),
            comparison("post", "none", 0.07, 0.04, 0.1, seeds=(0.06, 0.07, 0.08), p=0.2)]
    fig = deltas_figure(rows, [cell("none", 0.5), cell("pre", 0.45), cell("post", 0.57)])
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "post − pre  [claim 1]"  # the claim's row first
    assert set(labels[1:]) == {"pre − none", "post − none"}
    (right,) = ax.child_axes  # the secondary y-axis on the right
    marks = [t.get_text() for t in right.get_yticklabels()]
    assert marks[0] == "gain (3 seeds)"
    assert "inconclusive (3 seeds)" in marks  # post - none with Holm p 0.2
    # the band of the claim rules, the zero line, one dot per seed, and both intervals of each row
    band = [p for p in ax.patches if p.get_width() == pytest.approx(4)]
    assert len(band) == 1 and band[0].get_x() == pytest.approx(-2)
    assert any(list(line.get_xdata()) == [0, 0] for line in ax.lines)
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert sorted(x for line in dots for x in line.get_xdata()) == pytest.approx(
        sorted(100 * d for r in rows for d in r.seed_deltas))
    spans = {tuple(round(x, 6) for x in line.get_xdata()) for line in ax.lines if line.get_marker() in ("None", "")}
    assert (5.0, 20.0) in spans and (8.0, 16.0) in spans


def test_comparison_figure_keeps_formulations_and_metrics_apart():
    rows = [comparison("post", "none", 0.1, 0.05, 0.15),
            comparison("post", "none", 0.1, 0.05, 0.15, metric="acc_norm", formulation="cf"),
            comparison("post", "none", 0.1, 0.05, 0.15, metric="acc", formulation="cf")]
    fig = deltas_figure(rows)
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    # CF's plain acc is recorded, not judged: the figure of the decisions leaves it out
    assert len(titles) == 2 and "MCF acc" in titles[0] and "CF acc_norm" in titles[1]
    assert deltas_figure(rows[2:]) is None


def training(condition, seed, curve, formulation="mcf"):
    return Training(f"csqa__{condition}__tiny__seed{seed}", "csqa", "tiny", condition, seed, 10, 0, 0, {},
                    formulation, curve)


def test_curves_one_thin_line_per_run_coloured_by_condition():
    runs = [training(c, s, ((1, 2.0), (2, 1.0 + s / 10), (3, 0.5))) for c in ("none", "post") for s in (0, 1)]
    runs.append(training("none", 0, ()))  # a cell trained before the log existed draws nothing
    fig = curves_figure(runs)
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    colours = {}
    for line in ax.lines:
        colours.setdefault(line.get_label(), set()).add(line.get_color())
    assert set(colours) == {"none", "post"} and all(len(v) == 1 for v in colours.values())
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    assert "4 runs, 2 seed(s)" in ax.get_title()
    assert curves_figure([training("none", 0, ())]) is None


def test_seed_deltas_are_what_the_comparison_pairs(tmp_path):
    rd = tmp_path / "g"
    for seed, (a, b) in enumerate([([1, 0, 0, 0], [1, 1, 0, 0]), ([1, 1, 0, 0], [1, 1, 1, 1])]):
        write_run(rd, condition="none", seed=seed, correct=a)
        write_run(rd, condition="post", seed=seed, correct=b)
    _, comps = aggregate(load_grid(rd), n_resamples=50)
    (c,) = comps
    assert c.seed_deltas == pytest.approx((0.25, 0.5)) and math.isclose(c.delta, 0.375)
