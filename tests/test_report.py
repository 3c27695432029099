"""Report aggregation and statistics on hand-made lm-eval outputs with known answers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from cot_tasks.errors import DataError
from harness_plugins.cli import main
from harness_plugins.report import stats
from harness_plugins.report.aggregate import aggregate
from harness_plugins.report.build import REPORT_FILES, build_report
from harness_plugins.report.runs import load_grid

TS = "2026-01-01T00-00-00.000001"


def write_run(run_dir: Path, *, dataset="csqa", condition="none", student="tiny", seed=0, correct=(1, 0, 1, 1),
              metrics=("acc",), task=None, version=1.0, ts=TS, samples=True, gen_correct=None,
              merge=False, formulation="mcf", norm_correct=None) -> Path:
    """One grid cell in the layout `cot-distill run` + lm-eval write: run.json, results and samples.

    ``metrics``: which of acc (task cot_<ds>) / exact_match (task cot_<ds>_gen, with invalid) the cell has;
    ``gen_correct``: per-doc exact_match (default: ``correct``); ``merge``: add to the cell's run.json.
    ``formulation`` "cf": a CF cell as harness_plugins.grid.cell writes it (folder ``<ds>__cf__...``, tasks
    ``cot_<ds>_cf[_gen]``, run.json's ``formulation``); its acc and acc_norm (per doc ``norm_correct``, default
    ``correct``) come from one task, so one results file holds both, as lm-eval writes them.
    """
    cf = formulation == "cf"
    stem = f"cot_{dataset}" + "_cf" * cf
    run = run_dir / "runs" / f"{dataset}{'__cf' * cf}__{condition}__{student}__seed{seed}"
    out = run / "eval" / "student"
    out.mkdir(parents=True, exist_ok=merge)
    scores = json.loads((run / "run.json").read_text())["metrics"] if merge else {}
    choice = [m for m in metrics if m != "exact_match"]
    for names in [choice] * bool(choice) + [["exact_match"]] * ("exact_match" in metrics):
        gen = names == ["exact_match"]
        name = task or (f"{stem}_gen" if gen else stem)
        filt = "committed-label" if gen else "none"
        per_metric = {m: list(gen_correct if gen and gen_correct is not None else
                              norm_correct if m == "acc_norm" and norm_correct is not None else correct)
                      for m in names}
        entry = {"alias": name}
        for metric, docs in per_metric.items():
            entry.update({f"{metric},{filt}": float(np.mean(docs)), f"{metric}_stderr,{filt}": 0.1})
        if gen:
            entry[f"invalid,{filt}"] = 0.25
        results = {"results": {name: entry}, "configs": {name: {"task": name, "test_split": "validation"}},
                   "versions": {name: version}, "model_name": str(run / "checkpoint")}
        stamp = ts if not gen else ts.replace("00-00-00", "00-00-01")
        stamp = stamp.replace("00.000001", "00.000002") if merge else stamp
        (out / f"results_{stamp}.json").write_text(json.dumps(results))
        if samples:
            with open(out / f"samples_{name}_{stamp}.jsonl", "w") as fh:
                for doc_id in range(len(per_metric[names[0]])):
                    fh.write(json.dumps({"doc_id": doc_id, "filter": filt, "doc_hash": f"{name}-h{doc_id}",
                                         "doc": {"id": f"q{doc_id}", "labels": list("ABCDE")},
                                         **{m: float(docs[doc_id]) for m, docs in per_metric.items()}}) + "\n")
        scores.update({metric: {"task": name, "key": f"{metric},{filt}"} for metric in names})
    info = {"dataset": dataset, "condition": condition, "student": student, "seed": seed, "metrics": scores,
            **({"formulation": formulation} if cf else {})}
    (run / "run.json").write_text(json.dumps(info))
    return run


# --------------------------------------------------------------------------- statistics


def test_mcnemar_exact_matches_hand_computed_binomial():
    # Discordant: 8 docs only the reference gets right, 2 only the other: p = 2 * P(X <= 2 | n=10, 1/2).
    ref = [1] * 8 + [0] * 2 + [1] * 5
    other = [0] * 8 + [1] * 2 + [1] * 5
    result = stats.mcnemar_exact(ref, other)
    assert (result.ref_only, result.other_only) == (8, 2)
    assert result.p_value == pytest.approx(2 * (1 + 10 + 45) / 1024)


def test_mcnemar_without_discordant_pairs_is_one():
    assert stats.mcnemar_exact([1, 0, 1], [1, 0, 1]).p_value == 1.0


def test_bootstrap_all_correct_is_degenerate():
    interval = stats.hierarchical_bootstrap(np.ones((1, 30)))
    assert (interval.low, interval.high) == (1.0, 1.0)


def test_bootstrap_of_binary_docs_matches_binomial_quantiles():
    # One seed: the two-stage bootstrap is the doc bootstrap, whose mean is Binomial(n, p)/n.
    n, k = 200, 130
    interval = stats.hierarchical_bootstrap(np.r_[np.ones(k), np.zeros(n - k)][None], seed=1)
    low, high = binom.ppf([0.025, 0.975], n, k / n) / n
    assert interval.low == pytest.approx(low, abs=1.5 / n)
    assert interval.high == pytest.approx(high, abs=1.5 / n)


def test_bootstrap_is_seeded():
    x = np.r_[np.ones(7), np.zeros(5)][None]
    assert stats.hierarchical_bootstrap(x, seed=3) == stats.hierarchical_bootstrap(x, seed=3)


def test_paired_difference_of_identical_runs_is_null():
    x = np.r_[np.ones(7), np.zeros(5)][None]
    interval = stats.hierarchical_bootstrap(x - x)
    assert (interval.low, interval.high) == (0.0, 0.0)


def test_hierarchical_interval_widens_with_seed_spread():
    # Same docs, seeds 10 points apart: resampling seeds must show that spread; docs alone cannot.
    rng = np.random.default_rng(0)
    base = rng.random(500)
    seeds = np.array([(base < t).astype(float) for t in (0.3, 0.4, 0.5)])
    spread = stats.hierarchical_bootstrap(seeds, n_resamples=4000)
    pooled = stats.hierarchical_bootstrap(seeds.mean(axis=0)[None], n_resamples=4000)
    assert spread.high - spread.low > 1.5 * (pooled.high - pooled.low)


def test_unpaired_difference_draws_seeds_apart():
    a, b = np.zeros((2, 50)), np.ones((3, 50))
    interval = stats.hierarchical_bootstrap(b, minus=a, n_resamples=500)
    assert (interval.low, interval.high) == (1.0, 1.0)


def test_holm_known_values():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    out = stats.holm([0.02, float("nan")])
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1])


def test_seed_level_test_is_scipys_t_test():
    from scipy.stats import ttest_ind, ttest_rel

    a, b = [0.20, 0.22, 0.21], [0.25, 0.24, 0.28]
    assert stats.seed_level_test(a, b, paired=True).p_value == pytest.approx(ttest_rel(b, a).pvalue)
    assert stats.seed_level_test(a, b, paired=False).p_value == pytest.approx(
        ttest_ind(b, a, equal_var=False).pvalue)
    assert stats.seed_level_test(a, a, paired=True).p_value == 1.0
    with pytest.raises(ValueError):
        stats.seed_level_test([0.2], [0.3], paired=True)


def _simulated_runs(rng, condition: str, n_seeds: int, p_doc: np.ndarray, seed_sd: float) -> list:
    from harness_plugins.lmeval.results import DocScore
    from harness_plugins.report.runs import Run

    runs = []
    for seed in range(n_seeds):
        p = np.clip(p_doc + rng.normal(0, seed_sd), 0, 1)
        correct = rng.random(p_doc.size) < p
        runs.append(Run(Path(f"{condition}{seed}"), "csqa", condition, "tiny", seed, "acc", "cot_csqa",
                        float(correct.mean()), None, 1.0,
                        {d: DocScore(float(ok), None) for d, ok in enumerate(correct)}))
    return runs


def test_false_positive_rate_of_identical_conditions_with_seed_variance():
    """Two identical conditions, 3 seeds x 1221 docs, seed sd 1.9 points: the report's test rejects at most
    6% of the time at alpha 0.05. The doc-level McNemar over seed x doc pairs that the report used before
    rejects far more often on the same simulations (so this test fails on that code)."""
    from harness_plugins.report.aggregate import compare_runs

    rng = np.random.default_rng(20261202)
    n_sims, rejected, rejected_docs = 300, 0, 0
    for _ in range(n_sims):
        p_doc = rng.beta(2, 4, size=1221)
        ref = _simulated_runs(rng, "none", 3, p_doc, 0.019)
        other = _simulated_runs(rng, "post", 3, p_doc, 0.019)
        _, _, test, n_seeds, _, one_model, _ = compare_runs(ref, other, n_resamples=10)
        assert n_seeds == 3 and not one_model
        rejected += test.p_value < 0.05
        pooled_ref = np.concatenate([[r.docs[d].score for d in range(1221)] for r in ref])
        pooled_other = np.concatenate([[r.docs[d].score for d in range(1221)] for r in other])
        rejected_docs += stats.mcnemar_exact(pooled_ref, pooled_other).p_value < 0.05
    assert rejected / n_sims <= 0.06
    assert rejected_docs / n_sims > 0.10


# --------------------------------------------------------------------------- aggregation


def _grid(tmp_path: Path) -> Path:
    rd = tmp_path / "grid"
    both = ("acc", "exact_match")
    # none, post: seeds 0/1/2; pre: seeds 0/1/2; every cell scored by both metrics.
    write_run(rd, condition="none", seed=0, metrics=both, correct=[1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    write_run(rd, condition="none", seed=1, metrics=both, correct=[1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    write_run(rd, condition="none", seed=2, metrics=both, correct=[1, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    write_run(rd, condition="post", seed=0, metrics=both, correct=[1, 1, 1, 1, 1, 1, 1, 1, 0, 0])
    write_run(rd, condition="post", seed=1, metrics=both, correct=[1, 1, 1, 1, 1, 1, 1, 0, 0, 0])
    write_run(rd, condition="post", seed=2, metrics=both, correct=[1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    # pre commits after its own rationale: its acc comes from the commit task, whose docs (holding the
    # generation) hash differently; the example ids pair them with the other cells' docs.
    for seed in range(3):
        write_run(rd, condition="pre", seed=seed, metrics=("exact_match",), gen_correct=[0] * 10)
        write_run(rd, condition="pre", seed=seed, metrics=("acc",), correct=[0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
                  task="cot_csqa_commit", merge=True)
    return rd


def test_aggregate_cells_and_comparisons_stay_within_one_metric(tmp_path):
    cells, comparisons = aggregate(load_grid(_grid(tmp_path)), n_resamples=2000)
    acc = {c.condition: c for c in cells if c.metric == "acc"}
    em = {c.condition: c for c in cells if c.metric == "exact_match"}
    assert list(acc) == ["none", "pre", "post"] and list(em) == ["none", "pre", "post"]
    none = acc["none"]
    assert none.mean == pytest.approx(0.3) and none.std == pytest.approx(np.std([0.2, 0.3, 0.4], ddof=1))
    assert none.interval.low <= none.mean <= none.interval.high
    assert none.chance == pytest.approx(0.2) and none.invalid is None and em["pre"].invalid == 0.25
    assert em["pre"].mean == 0.0 and acc["pre"].mean == pytest.approx(0.8)
    by = {(c.metric, c.condition, c.baseline): c for c in comparisons}
    assert set(by) == {(m, c, b) for m in ("acc", "exact_match")
                       for c, b in (("pre", "none"), ("post", "none"), ("post", "pre"))}
    post = by[("acc", "post", "none")]
    # Seed-level paired t: per-seed deltas 0.6, 0.4, 0.2.
    from scipy.stats import ttest_rel
    assert post.delta == pytest.approx(0.4) and post.n_seeds == 3 and "paired t over 3 seeds" in post.test
    assert post.p_value == pytest.approx(ttest_rel([0.8, 0.7, 0.6], [0.2, 0.3, 0.4]).pvalue)
    family = [c for c in comparisons if c.metric == "acc"]
    assert [c.p_holm for c in family] == pytest.approx(stats.holm([c.p_value for c in family]))
    # post vs pre under acc: post is worse here; under exact_match pre never emits a label.
    assert by[("acc", "post", "pre")].delta == pytest.approx(0.7 - 0.8)
    assert by[("exact_match", "post", "pre")].delta == pytest.approx(0.7)


def test_one_seed_falls_back_to_docs_and_says_so(tmp_path):
    rd = tmp_path / "grid"
    write_run(rd, condition="none", correct=[1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    write_run(rd, condition="post", correct=[1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    cells, comparisons = aggregate(load_grid(rd), n_resamples=500)
    (c,) = comparisons
    assert c.one_model and c.n_seeds == 1 and "McNemar" in c.test
    assert c.p_value == pytest.approx(2 / 2**8)
    markdown = build_report(rd, n_resamples=200).markdown
    assert "holds for those two models only" in markdown


def test_key_tokens_are_compared_with_post_and_their_control(tmp_path):
    rd = tmp_path / "grid"
    for condition in ("none", "post", "keytokens_post:5", "random_post:5"):
        write_run(rd, condition=condition.replace(":", "-"), correct=[1, 0, 1, 0])
        info = json.loads((rd / "runs" / f"csqa__{condition.replace(':', '-')}__tiny__seed0" / "run.json").read_text())
        info["condition"] = condition
        (rd / "runs" / f"csqa__{condition.replace(':', '-')}__tiny__seed0" / "run.json").write_text(json.dumps(info))
    _, comparisons = aggregate(load_grid(rd), n_resamples=100)
    assert {(c.condition, c.baseline) for c in comparisons} == {
        ("post", "none"), ("keytokens_post:5", "none"), ("random_post:5", "none"),
        ("keytokens_post:5", "post"), ("keytokens_post:5", "random_post:5")}


def write_train_log(run_dir: Path, losses=(2.0, 1.5, 1.2)) -> None:
    from cot_tasks.train_log import TRAIN_LOG, append_train_log

    for step, loss in enumerate(losses, 1):
        append_train_log(run_dir / TRAIN_LOG, {"step": step, "loss": loss, "lr": 1e-4, "grad_norm": 1.0,
                                               "target_tokens": 100, "tokens_per_s": 50.0})


def test_report_writes_files_and_cli_prints_table(tmp_path, capsys):
    rd = _grid(tmp_path)
    for run in (rd / "runs").iterdir():
        write_train_log(run)
    assert main(["report", str(rd), "--resamples", "500"]) == 0
    out = capsys.readouterr().out
    assert "## acc" in out and "## exact_match" in out and "| csqa | tiny | post | pre |" in out
    assert "## Claims" in out and "| post beats pre | csqa | tiny | acc |" in out
    for name in REPORT_FILES:
        assert (rd / name).stat().st_size > 0
    rows = list(csv.DictReader(open(rd / "report.csv")))
    for field in ("dataset", "student", "metric", "condition", "baseline", "delta", "p_value", "p_holm", "n_seeds",
                  "test"):
        assert field in rows[0]
    assert [(r["metric"], r["condition"], r["baseline"]) for r in rows] == [
        (m, c, b) for m in ("acc", "exact_match")
        for c, b in (("none", ""), ("pre", "none"), ("post", "none"), ("post", "pre"))]
    # each seed-level comparison carries its t test's own interval, which holds the difference
    for r in (r for r in rows if r["baseline"]):
        assert float(r["delta_t_low"]) <= float(r["delta"]) <= float(r["delta_t_high"])
    assert "| t CI |" in out
    assert (rd / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_report_out_folder(tmp_path):
    rd = _grid(tmp_path)
    report = build_report(rd, tmp_path / "elsewhere", n_resamples=200)
    # No cell logged its training: no curves to draw, and report.md names only the figures written.
    assert sorted(p.name for p in report.paths) == sorted(set(REPORT_FILES) - {"report_curves.png"})
    assert "`report_deltas.png`" in report.markdown and "report_curves" not in report.markdown
    assert not (rd / "report.md").exists()


def test_a_torn_training_log_is_one_line_naming_it(tmp_path, capsys):
    rd = _grid(tmp_path)
    run = next((rd / "runs").iterdir())
    write_train_log(run)
    with open(run / "train_log.jsonl", "a") as fh:
        fh.write('{"step": 9, "loss": 1.0, "lr": 1e-4, "grad_norm": 1.0, "target_tokens": 1, "tokens_per_s": 1}\n')
    assert main(["report", str(rd), "--resamples", "50"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train_log.jsonl:4: field 'step'" in err
    _assert_nothing_written(rd)


# --------------------------------------------------------------------------- bad input


def _assert_nothing_written(rd: Path):
    assert not any(p.name.startswith("report") or p.suffix == ".tmp" for p in rd.iterdir())


def test_run_without_results_is_one_line_error(tmp_path, capsys):
    rd = _grid(tmp_path)
    for f in (rd / "runs" / "csqa__post__tiny__seed1" / "eval").rglob("results_*.json"):
        f.unlink()
    assert main(["report", str(rd)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "csqa__post__tiny__seed1" in err and "results_" in err
    _assert_nothing_written(rd)


def test_metric_missing_for_a_cell_names_the_cell(tmp_path, capsys):
    rd = tmp_path / "grid"
    write_run(rd, condition="none", metrics=("acc", "exact_match"))
    write_run(rd, condition="pre", metrics=("exact_match",))
    assert main(["report", str(rd)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "csqa__pre__tiny__seed0" in err and "no acc score" in err
    _assert_nothing_written(rd)


def test_run_json_without_scores_is_refused(tmp_path):
    rd = tmp_path / "grid"
    run = write_run(rd)
    info = json.loads((run / "run.json").read_text())
    del info["metrics"]
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="metrics"):
        build_report(rd)


def test_empty_run_dir_is_error(tmp_path):
    with pytest.raises(DataError, match="no runs/"):
        build_report(tmp_path)


def test_mixed_task_versions_refused(tmp_path, capsys):
    rd = tmp_path / "grid"
    write_run(rd, condition="none", seed=0, version=1.0)
    write_run(rd, condition="post", seed=0, version=2.0)
    assert main(["report", str(rd)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mixed versions" in err and "cot_csqa" in err
    _assert_nothing_written(rd)


def test_missing_samples_is_error(tmp_path):
    rd = tmp_path / "grid"
    write_run(rd, samples=False)
    with pytest.raises(DataError, match="log_samples"):
        build_report(rd)


def test_different_docs_under_same_id_refused(tmp_path):
    rd = tmp_path / "grid"
    write_run(rd, condition="none")
    post = write_run(rd, condition="post")
    samples = next(post.rglob("samples_*.jsonl"))
    edit_doc(samples, "q0", question="another question")
    with pytest.raises(DataError, match="different document"):
        build_report(rd, n_resamples=100)
    _assert_nothing_written(rd)


def test_commit_docs_may_differ_across_seeds_gen_docs_may_not(tmp_path):
    """A reasoning-first cell's acc comes from the commit task, whose docs hold that model's own generation:
    two seeds of `pre` see different commit docs by design (seen on SmolLM2 seeds 0 and 1). Their gen docs,
    which hold only the question, must still be the same."""
    rd = tmp_path / "grid"
    for seed in (0, 1):
        for condition in ("pre", "post"):
            write_run(rd, condition=condition, seed=seed, task="cot_csqa_commit" if condition == "pre" else None)
            write_run(rd, condition=condition, seed=seed, metrics=("exact_match",), merge=True)
    pre1 = rd / "runs" / "csqa__pre__tiny__seed1"
    commit = next(pre1.rglob("samples_cot_csqa_commit_*.jsonl"))
    edit_doc(commit, "q0", generation="its own generation")
    build_report(rd, n_resamples=100)
    gen = next(pre1.rglob("samples_cot_csqa_gen_*.jsonl"))
    original = gen.read_text()
    # source metadata no prompt reads (OBQA's fact1: in the release's Additional/ files, not in Main/) may differ
    edit_doc(gen, "q0", extras='{"fact1": "the skeletal system protects internal organs"}')
    build_report(rd, n_resamples=100)
    gen.write_text(original)
    edit_doc(gen, "q0", question="another question")
    with pytest.raises(DataError, match="different document"):
        build_report(rd, n_resamples=100)


def edit_doc(samples: Path, doc_id: str, **fields) -> None:
    lines = []
    for line in samples.read_text().splitlines():
        obj = json.loads(line)
        if obj["doc"]["id"] == doc_id:
            obj["doc"].update(fields)
        lines.append(json.dumps(obj))
    samples.write_text("\n".join(lines) + "\n")


def _cell(condition, metric="acc", mean=0.4):
    from harness_plugins.report.aggregate import Cell
    from harness_plugins.report.stats import Interval

    return Cell(dataset="csqa", student="tiny", metric=metric, condition=condition, task="t", seeds=(0, 1), docs=20,
                mean=mean, std=0.0, interval=Interval(max(0.0, mean - 0.1), mean + 0.1), invalid=None,
                chance=0.2)


def test_png_shows_zeros_tells_metrics_apart_and_pairs_controls():
    from matplotlib.colors import to_rgb

    from harness_plugins.report.figures import condition_colours
    from harness_plugins.report.figures import scores_figure as figure

    conditions = ["none", "post", "keytokens_post:5", "random_post:5", "random_post:3"]
    colours = condition_colours(conditions)
    assert len({to_rgb(c) for c in colours.values()}) == len(conditions)
    # tab20 pairs a dark and a light shade of one hue: the control takes its condition's light shade.
    import matplotlib

    palette = [to_rgb(c) for c in matplotlib.colormaps["tab20"].colors]
    dark = palette.index(to_rgb(colours["keytokens_post:5"]))
    assert dark % 2 == 0 and to_rgb(colours["random_post:5"]) == palette[dark + 1]
    assert palette.index(to_rgb(colours["random_post:3"])) % 2 == 0  # no keytokens_post:3 to pair with

    cells = [_cell(c, m, 0.0 if c == "none" else 0.4) for m in ("acc", "exact_match") for c in conditions]
    fig = figure(cells)
    acc, em = fig.axes[0], fig.axes[1]
    assert "0" in [t.get_text() for t in acc.texts]  # the zero bar of 'none' is written out
    assert {p.get_hatch() for p in em.patches if p.get_height() > 0} == {"//"}
    assert {p.get_hatch() for p in acc.patches if p.get_height() > 0} == {None}
    assert "20 docs" in acc.get_title() and "2 seed(s)" in acc.get_title()
    assert any(line.get_linestyle() == "--" for line in acc.lines)  # chance


def test_grid_in_progress_reports_its_finished_cells_and_names_the_rest(tmp_path, capsys):
    rd = _grid(tmp_path)
    (rd / "runs" / "csqa__shuffled_post__tiny__seed0" / "checkpoint").mkdir(parents=True)  # training, no run.json
    report = build_report(rd, n_resamples=200)
    assert report.unfinished == ["csqa__shuffled_post__tiny__seed0"]
    assert "1 cell(s) of the grid not finished, left out: csqa__shuffled_post__tiny__seed0" in report.markdown
    assert {c.condition for c in report.cells} == {"none", "pre", "post"}
    assert main(["compare", str(rd)]) == 0
    assert "1 unfinished cell(s) left out: csqa__shuffled_post__tiny__seed0" in capsys.readouterr().err


def test_cells_the_grid_planned_but_never_started_are_named(tmp_path):
    """A grid stopped before some cells began (no folder at all) still says they are missing: grid.json,
    written by `cot-distill run`, lists what the grid holds."""
    rd = _grid(tmp_path)
    grid = {"datasets": ["csqa"], "conditions": ["none", "pre", "post", "keytokens_post:5"], "students": ["tiny"],
            "seeds": [0, 1]}
    (rd / "grid.json").write_text(json.dumps(grid))
    report = build_report(rd, n_resamples=200)
    assert report.unfinished == ["csqa__keytokens_post-5__tiny__seed0", "csqa__keytokens_post-5__tiny__seed1"]
    assert "2 cell(s) of the grid not finished" in report.markdown


def test_grid_with_no_finished_cell_is_one_line(tmp_path, capsys):
    (tmp_path / "grid" / "runs" / "csqa__none__tiny__seed0").mkdir(parents=True)
    assert main(["report", str(tmp_path / "grid")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no finished cell yet (1 started, none has its run.json)" in err and err.count("\n") == 0


def test_training_per_run_shows_each_cells_measured_controls(tmp_path):
    """Each trained model's controls as measured on its own targets, from run.json; a cell finished before
    run.json carried them shows blanks, never another cell's numbers."""
    rd = tmp_path / "grid"
    for condition in ("none", "post", "filler_post"):
        write_run(rd, condition=condition)
    run = rd / "runs" / "csqa__filler_post__tiny__seed0" / "run.json"
    info = json.loads(run.read_text())
    info.update(examples=40, dropped=2, truncated=1, training={"target_length_mean": 31.25, "length_ratio": 1.0125,
                                                                 "steps": 9, "final_loss": 2.5,
                                                                 "mixed_precision": "no",
                                                                 "device": "cuda (NVIDIA H200)"})
    run.write_text(json.dumps(info))
    lines = build_report(rd, n_resamples=200).markdown.splitlines()
    table = lines[lines.index("## Training, per run"):]
    assert ("| csqa | tiny | filler_post | 0 | 40 | 2 | 1 | 31.2 | 1.012 |  | 9 | 2.500 | fp32 | cuda (NVIDIA H200) |"
            in table)
    assert "| csqa | tiny | post | 0 |  |  |  |  |  |  |  |  |  |  |" in table


def _set_device(rd: Path, cell: str, device: str | None) -> None:
    run = rd / "runs" / cell / "run.json"
    info = json.loads(run.read_text())
    info["training"] = {"device": device} if device else {}
    run.write_text(json.dumps(info))


def test_a_comparison_pairing_cells_of_different_devices_names_those_seeds(tmp_path):
    """Seed 1's post ran on a GPU, its none on a CPU: post - none is marked for seed 1 (and only it); a seed
    whose cells record no device, or the same one, is not; pre - none, every seed on one device, is not."""
    rd = _grid(tmp_path)
    for seed in range(3):
        for condition in ("none", "pre", "post"):
            device = None if seed == 0 else "cpu (x86_64, native bf16)"
            _set_device(rd, f"csqa__{condition}__tiny__seed{seed}", device)
    _set_device(rd, "csqa__post__tiny__seed1", "cuda (NVIDIA H200)")
    _set_device(rd, "csqa__post__tiny__seed0", "cuda (NVIDIA H200)")  # its none records nothing: not judged
    report = build_report(rd, n_resamples=200)
    by = {(c.metric, c.condition, c.baseline): c.cross_device for c in report.comparisons}
    assert by[("acc", "post", "none")] == (1,) and by[("acc", "post", "pre")] == (1,)
    assert by[("acc", "pre", "none")] == () and by[("exact_match", "pre", "none")] == ()
    lines = report.markdown.splitlines()
    assert any(line.startswith("**Devices:**") for line in lines)
    row = next(line for line in lines if line.startswith("| csqa | tiny | post | none |"))
    assert row.endswith("; cross-device: seed 1 |")
    assert not any(line.startswith("| csqa | tiny | pre | none |") and "cross-device" in line for line in lines)
    rows = list(csv.DictReader((rd / "report.csv").open()))
    assert {(r["condition"], r["baseline"], r["cross_device_seeds"]) for r in rows if r["metric"] == "acc"} >= {
        ("post", "none", "1"), ("pre", "none", "")}
    assert "(3 seeds; cross-device: seed 1)" in next(v.evidence for v in report.verdicts if v.claim == "post beats pre")


def test_no_device_marks_where_every_pair_shares_a_device(tmp_path):
    markdown = build_report(_grid(tmp_path), n_resamples=200).markdown
    assert "**Devices:**" not in markdown and "cross-device" not in markdown


def test_several_grids_report_as_one_and_a_cell_in_two_is_refused(tmp_path, capsys):
    """Two students run as two grids (another precision, another machine) give one report: each student's
    conditions are compared within that student only. The same cell in both folders is ambiguous."""
    a, b = tmp_path / "smollm2", tmp_path / "gemma3"
    for condition in ("none", "post"):
        write_run(a, condition=condition, student="smollm2")
        write_run(b, condition=condition, student="gemma3", correct=(0, 0, 1, 1))
    out = tmp_path / "both"
    assert main(["report", str(a), str(b), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert {r["student"] for r in rows} == {"smollm2", "gemma3"}
    assert all(r["condition"] == "post" and r["baseline"] == "none" for r in rows if r["baseline"])
    capsys.readouterr()
    assert main(["report", str(a), str(b)]) == 2
    assert "need --out" in capsys.readouterr().err
    write_run(b, condition="none", student="smollm2")
    assert main(["report", str(a), str(b), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "csqa__none__smollm2__seed0 is in two run folders" in err


# --------------------------------------------------------------------------- formulations


def _cf_cells(rd: Path) -> Path:
    """CF cells beside ``_grid``'s MCF ones, with other scores: none, post (seeds 0-2) and pre (commit task)."""
    cf = {"formulation": "cf", "metrics": ("acc", "acc_norm", "exact_match")}
    for seed in range(3):
        write_run(rd, condition="none", seed=seed, correct=[0] * 9 + [1], **cf)
        write_run(rd, condition="post", seed=seed, correct=[1] * (7 + seed) + [0] * (3 - seed),
                  norm_correct=[0] + [1] * 8 + [0], **cf)
        write_run(rd, condition="pre", seed=seed, metrics=("exact_match",), formulation="cf", gen_correct=[1] * 10)
        write_run(rd, condition="pre", seed=seed, metrics=("acc", "acc_norm"), formulation="cf",
                  correct=[1] * 5 + [0] * 5, task="cot_csqa_cf_commit", merge=True)
    return rd


def test_run_formulation_defaults_to_mcf_and_an_unknown_one_is_refused(tmp_path):
    from harness_plugins.report.runs import load_training

    rd = tmp_path / "grid"
    run = write_run(rd)
    assert {r.formulation for r in load_grid(rd)} == {"mcf"}  # run.json without the key: an MCF cell
    assert [t.formulation for t in load_training(rd)] == ["mcf"]
    cf = write_run(rd, condition="post", formulation="cf", metrics=("acc", "acc_norm"))
    assert cf.name == "csqa__cf__post__tiny__seed0"
    assert {(r.cell, r.formulation) for r in load_grid(rd) if r.formulation == "cf"} == {(cf.name, "cf")}
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "formulation": "cloze"}))
    with pytest.raises(DataError, match=r"run\.json: field 'formulation': unknown formulation 'cloze'"):
        load_grid(rd)
    # a CF cell scored by an MCF task would be compared with the wrong cells
    (run / "run.json").write_text(json.dumps({**info, "formulation": "cf"}))
    with pytest.raises(DataError, match=r"field 'metrics.acc.task': task 'cot_csqa' is mcf, the cell cf"):
        load_grid(rd)


def test_a_report_over_mcf_and_cf_keeps_them_apart(tmp_path):
    """Each formulation its own cells, comparisons, Holm families and headings; CF's claims only on the metrics
    judged for it (acc_norm, exact_match: not plain acc); the csv and the claims table name the formulation."""
    from harness_plugins.report.figures import scores_figure as figure

    rd = _cf_cells(_grid(tmp_path))
    report = build_report(rd, n_resamples=200)
    by = {(c.formulation, c.metric, c.condition): c for c in report.cells}
    assert by[("mcf", "acc", "none")].mean == pytest.approx(0.3)
    assert by[("cf", "acc", "none")].mean == pytest.approx(0.1)
    assert ("mcf", "acc_norm", "none") not in by and by[("cf", "acc_norm", "post")].mean == pytest.approx(0.8)
    pairs = (("pre", "none"), ("post", "none"), ("post", "pre"))
    assert {(c.formulation, c.metric, c.condition, c.baseline) for c in report.comparisons} == {
        (f, m, c, b) for f, metrics in (("mcf", ("acc", "exact_match")), ("cf", ("acc", "acc_norm", "exact_match")))
        for m in metrics for c, b in pairs}
    mcf_post = next(c for c in report.comparisons if (c.formulation, c.metric, c.condition, c.baseline) ==
                    ("mcf", "acc", "post", "none"))
    assert mcf_post.delta == pytest.approx(0.4)  # MCF none (0.3) against MCF post (0.7): no CF cell in it
    for f, m in {(c.formulation, c.metric) for c in report.comparisons}:
        family = [c for c in report.comparisons if (c.formulation, c.metric) == (f, m)]
        assert [c.p_holm for c in family] == pytest.approx(stats.holm([c.p_value for c in family]))
    assert {(v.formulation, v.metric) for v in report.verdicts} == {
        ("mcf", "acc"), ("mcf", "exact_match"), ("cf", "acc_norm"), ("cf", "exact_match")}
    lines = report.markdown.splitlines()
    headings = [line for line in lines if line.startswith("## ") and ":" in line]
    assert headings == ["## MCF: acc", "## MCF: exact_match", "## CF: acc", "## CF: acc_norm", "## CF: exact_match"]
    assert "## acc" not in lines and any(line.startswith("**Formulations:**") for line in lines)
    assert "| claim | dataset | student | formulation | metric | verdict | evidence |" in lines
    assert any(line.startswith("| post beats pre | csqa | tiny | CF | acc_norm |") for line in lines)
    cf_acc = lines[lines.index("## CF: acc") + 2]
    assert "answer text" in cf_acc and "not judged" in cf_acc
    rows = list(csv.DictReader((rd / "report.csv").open()))
    assert list(rows[0])[:4] == ["dataset", "student", "formulation", "metric"]
    assert {(r["formulation"], r["metric"]) for r in rows} == {
        ("mcf", "acc"), ("mcf", "exact_match"), ("cf", "acc"), ("cf", "acc_norm"), ("cf", "exact_match")}
    fig = figure(report.cells)  # one panel row per formulation x metric
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == [
        "csqa: MCF: acc, choice at commitment", "csqa: MCF: exact_match, free generation (hatched)",
        "csqa: CF: acc, choice at commitment", "csqa: CF: acc_norm, choice at commitment, per byte",
        "csqa: CF: exact_match, free generation (hatched)"]


def test_an_mcf_only_report_does_not_name_the_formulation(tmp_path):
    report = build_report(_grid(tmp_path), n_resamples=200)
    lines = report.markdown.splitlines()
    assert "## acc" in lines and "**Formulations:**" not in report.markdown and "MCF" not in report.markdown
    assert "| claim | dataset | student | metric | verdict | evidence |" in lines
    assert "formulation" not in (tmp_path / "grid" / "report.csv").read_text().splitlines()[0]


def test_metrics_are_checked_within_one_formulation(tmp_path, capsys):
    """MCF cells have no acc_norm, and need none; a CF cell without it while other CF cells have it is refused."""
    rd = _grid(tmp_path)
    write_run(rd, condition="none", metrics=("acc", "acc_norm", "exact_match"), formulation="cf")
    write_run(rd, condition="post", metrics=("acc", "exact_match"), formulation="cf")
    assert main(["report", str(rd)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "csqa__cf__post__tiny__seed0" in err and "no acc_norm score" in err


def test_pairing_runs_of_two_formulations_is_refused_in_one_line(tmp_path):
    from harness_plugins.report.aggregate import compare_runs

    rd = tmp_path / "grid"
    write_run(rd, condition="none")
    write_run(rd, condition="post", formulation="cf")
    runs = load_grid(rd)
    mcf, cf = [r for r in runs if r.formulation == "mcf"], [r for r in runs if r.formulation == "cf"]
    with pytest.raises(DataError) as err:
        compare_runs(mcf, cf)
    assert str(err.value) == ("cells csqa__none__tiny__seed0 (mcf) and csqa__cf__post__tiny__seed0 (cf) are of "
                              "different formulations: compare within one formulation only")
    assert aggregate(runs, n_resamples=50)[1] == []  # aggregate never pairs them


def test_figure_of_formulations_that_ran_different_grids():
    """A dataset run in one formulation only gets a "no cells" panel in the other, and the legend holds every
    panel's conditions, not the first panel's (here empty)."""
    from dataclasses import replace

    from harness_plugins.report.figures import scores_figure as figure

    cells = [replace(_cell("none"), dataset="obqa"), replace(_cell("post", mean=0.5), formulation="cf"),
             replace(_cell("pre", mean=0.3), formulation="cf")]
    fig = figure(cells)
    (csqa_mcf, obqa_mcf, csqa_cf, obqa_cf) = fig.axes
    assert csqa_mcf.get_title() == "csqa: MCF: acc\nno cells" and not csqa_mcf.axison
    assert csqa_cf.get_title().startswith("csqa: CF: acc, choice at commitment\n20 docs") and not obqa_cf.axison
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["chance", "none", "pre", "post"]


def test_aggregate_compares_what_the_registry_says(tmp_path, monkeypatch):
    """A condition's baselines are its registry entry's: change the entry and the comparisons follow."""
    from cot_tasks import conditions

    rd = tmp_path / "grid"
    for condition in ("none", "pre", "post", "shuffled_post"):
        write_run(rd, condition=condition, correct=[1, 0, 1, 0])
    spec = conditions.CONDITIONS["shuffled_post"]
    monkeypatch.setitem(conditions.CONDITIONS, "shuffled_post",
                        conditions.ConditionSpec(spec.fn, token_level_ok=True, compared_with=("post",)))
    _, comparisons = aggregate(load_grid(rd), n_resamples=100)
    assert {(c.condition, c.baseline) for c in comparisons} == {
        ("pre", "none"), ("post", "none"), ("post", "pre"), ("shuffled_post", "none"), ("shuffled_post", "post")}
