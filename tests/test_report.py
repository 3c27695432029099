"""Report aggregation and statistics on hand-made lm-eval outputs with known answers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from cot_tasks.errors import DataError
from harness_plugins import stats
from harness_plugins.cli import main
from harness_plugins.report import REPORT_FILES, aggregate, build_report, load_grid

TS = "2026-01-01T00-00-00.000001"


def write_run(run_dir: Path, *, dataset="csqa", condition="none", student="tiny", seed=0, correct=(1, 0, 1, 1),
              task="cot_csqa", metric="acc", version=1.0, ts=TS, samples=True) -> Path:
    """One grid run in the layout `cot-distill run` + lm-eval write: run.json, results and samples."""
    run = run_dir / "runs" / f"{dataset}__{condition}__{student}__seed{seed}"
    out = run / "eval" / "student"
    out.mkdir(parents=True)
    value = float(np.mean(correct))
    results = {
        "results": {task: {"alias": task, f"{metric},none": value, f"{metric}_stderr,none": 0.1}},
        "configs": {task: {"task": task, "test_split": "validation"}},
        "versions": {task: version},
        "n-samples": {task: {"original": len(correct), "effective": len(correct)}},
        "model_name": str(run / "checkpoint"),
    }
    (out / f"results_{ts}.json").write_text(json.dumps(results))
    if samples:
        with open(out / f"samples_{task}_{ts}.jsonl", "w") as fh:
            for doc_id, ok in enumerate(correct):
                fh.write(json.dumps({"doc_id": doc_id, "target": 0, "filter": "none", "metrics": [metric],
                                     "doc_hash": f"h{doc_id}", metric: float(ok)}) + "\n")
    info = {"dataset": dataset, "condition": condition, "student": student, "seed": seed, "teacher": "t",
            "rationales": None, "task": task, "checkpoint": str(run / "checkpoint"), "metric": metric, "value": value}
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
    interval = stats.bootstrap_interval(np.ones(30))
    assert (interval.low, interval.high) == (1.0, 1.0)


def test_bootstrap_of_binary_docs_matches_binomial_quantiles():
    # Resampling n binary docs with mean p makes the mean Binomial(n, p)/n.
    n, k = 200, 130
    interval = stats.bootstrap_interval(np.r_[np.ones(k), np.zeros(n - k)], seed=1)
    low, high = binom.ppf([0.025, 0.975], n, k / n) / n
    assert interval.low == pytest.approx(low, abs=1.5 / n)
    assert interval.high == pytest.approx(high, abs=1.5 / n)


def test_bootstrap_is_seeded():
    x = np.r_[np.ones(7), np.zeros(5)]
    assert stats.bootstrap_interval(x, seed=3) == stats.bootstrap_interval(x, seed=3)


def test_paired_bootstrap_identical_is_null():
    x = np.r_[np.ones(7), np.zeros(5)]
    result = stats.paired_bootstrap(x, x)
    assert result.delta == 0 and result.p_value == 1.0
    assert (result.interval.low, result.interval.high) == (0.0, 0.0)


# --------------------------------------------------------------------------- aggregation


def _grid(tmp_path: Path) -> Path:
    rd = tmp_path / "grid"
    # none: seeds 0/1; post: seeds 0/1; pre: seed 0 only (gen task, exact_match).
    write_run(rd, condition="none", seed=0, correct=[1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    write_run(rd, condition="none", seed=1, correct=[1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    write_run(rd, condition="post", seed=0, correct=[1, 1, 1, 1, 1, 1, 1, 1, 0, 0])
    write_run(rd, condition="post", seed=1, correct=[1, 1, 1, 1, 1, 1, 1, 0, 0, 0])
    write_run(rd, condition="pre", seed=0, correct=[0, 0, 1, 1, 1, 1, 1, 1, 1, 1], task="cot_csqa_gen",
              metric="exact_match")
    return rd


def test_aggregate_means_std_and_pairs(tmp_path):
    cells = {c.condition: c for c in aggregate(load_grid(_grid(tmp_path)), n_resamples=2000)}
    assert list(cells) == ["none", "pre", "post"]
    none, post, pre = cells["none"], cells["post"], cells["pre"]
    assert none.mean == pytest.approx(0.25) and none.std == pytest.approx(np.std([0.2, 0.3], ddof=1))
    assert np.isnan(pre.std) and pre.metric == "exact_match"
    assert none.interval.low <= none.mean <= none.interval.high
    # post vs none pairs by seed: seed0 discordant none-only 0 / post-only 6, seed1 0 / 4.
    vs_none = post.paired["none"]
    assert vs_none.pairs == 20
    assert (vs_none.mcnemar.ref_only, vs_none.mcnemar.other_only) == (0, 10)
    assert vs_none.mcnemar.p_value == pytest.approx(2 / 2**10)
    assert vs_none.delta == pytest.approx(0.75 - 0.25)
    # post vs pre: no shared seeds beyond 0 -> pairs seed0 with seed0 only.
    vs_pre = post.paired["pre"]
    assert vs_pre.pairs == 10
    assert (vs_pre.mcnemar.ref_only, vs_pre.mcnemar.other_only) == (2, 2)
    assert "pre" not in cells["none"].paired and "pre" not in pre.paired


def test_report_writes_files_and_cli_prints_table(tmp_path, capsys):
    rd = _grid(tmp_path)
    assert main(["report", str(rd), "--resamples", "500"]) == 0
    out = capsys.readouterr().out
    assert "| csqa | tiny | post |" in out
    for name in REPORT_FILES:
        assert (rd / name).stat().st_size > 0
    rows = list(csv.DictReader(open(rd / "report.csv")))
    assert [r["condition"] for r in rows] == ["none", "pre", "post"]
    assert rows[2]["vs_none_ref_only"] == "0" and rows[2]["vs_none_other_only"] == "10"
    assert rows[0]["vs_none_delta"] == ""
    assert (rd / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_report_out_folder(tmp_path):
    rd = _grid(tmp_path)
    report = build_report(rd, tmp_path / "elsewhere", n_resamples=200)
    assert sorted(p.name for p in report.paths) == sorted(REPORT_FILES)
    assert not (rd / "report.md").exists()


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
    samples.write_text(samples.read_text().replace('"h0"', '"other"'))
    with pytest.raises(DataError, match="different document"):
        build_report(rd, n_resamples=100)
    _assert_nothing_written(rd)
