"""Baselines file and `cot-distill compare`: matching by dataset and metric."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_report import write_run

from cot_tasks.errors import DataError
from harness_plugins.cli import main
from harness_plugins.report.baselines import DEFAULT_PATH, REQUIRED, load_baselines
from harness_plugins.report.compare import compare, dataset_of_task, format_table


def test_shipped_baselines_load_and_are_cited():
    rows = load_baselines()
    assert len(rows) > 100
    assert {r.dataset for r in rows} == {"csqa", "obqa", "quarel"}
    assert {r.metric for r in rows} <= {"acc", "acc_norm"}
    assert all(r.citation and 0 <= r.value <= 100 for r in rows)
    # A spot check against the source table (Ho et al. 2023, GPT-2 Small Fine-tune-CoT on CSQA).
    assert any(r.model == "GPT-2 Small" and r.value == 22.69 and "2212.10071" in r.citation for r in rows)


def _baselines(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "b.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=REQUIRED)
        writer.writeheader()
        writer.writerows(rows)
    return path


ROW = {"dataset": "csqa", "split": "validation", "model": "M", "method": "ft", "metric": "acc", "value": "50.0",
       "citation": "Someone 2024, Table 1"}


def test_row_without_citation_is_one_line_error(tmp_path, capsys):
    path = _baselines(tmp_path, [ROW, {**ROW, "citation": " "}])
    with pytest.raises(DataError, match=r"b\.csv:3: field 'citation'"):
        load_baselines(path)
    grid = tmp_path / "grid"
    write_run(grid)
    assert main(["compare", str(grid), "--baselines", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "citation" in err


def test_bad_dataset_and_value_rejected(tmp_path):
    with pytest.raises(DataError, match="unknown dataset"):
        load_baselines(_baselines(tmp_path, [{**ROW, "dataset": "CSQA"}]))
    with pytest.raises(DataError, match="not a number"):
        load_baselines(_baselines(tmp_path, [{**ROW, "value": "n/a"}]))


def test_builtin_task_names_map_to_our_datasets():
    assert dataset_of_task("commonsense_qa") == "csqa"
    assert dataset_of_task("openbookqa") == "obqa"
    assert dataset_of_task("cot_quarel_gen") == "quarel"
    assert dataset_of_task("hellaswag") is None


def test_compare_matches_by_dataset_and_metric(tmp_path, capsys):
    grid = tmp_path / "grid"
    both = ("acc", "exact_match")
    write_run(grid, condition="none", correct=[1, 0, 0, 0], gen_correct=[0, 0, 0, 0], metrics=both)
    write_run(grid, condition="pre", correct=[1, 1, 0, 0], gen_correct=[1, 1, 1, 0], metrics=both)
    base_json = tmp_path / "base" / "results_x.json"
    base_json.parent.mkdir()
    base_json.write_text(json.dumps({
        "results": {"commonsense_qa": {"acc,none": 0.4}, "openbookqa": {"acc,none": 0.3, "acc_norm,none": 0.35},
                    "hellaswag": {"acc,none": 0.9}},
        "versions": {"commonsense_qa": 0.0, "openbookqa": 1.0}, "model_name": "gpt2"}))
    baselines = _baselines(tmp_path, [
        ROW,
        {**ROW, "dataset": "obqa", "model": "O", "value": "20"},
        {**ROW, "dataset": "obqa", "model": "N", "metric": "acc_norm", "value": "30"},
        {**ROW, "dataset": "quarel", "model": "Q"},
        {**ROW, "model": "C-norm", "metric": "acc_norm"},
    ])
    rows = compare([grid, base_json], baselines_path=baselines)
    got = {(r.source if r.source in ("ours", "published") else "file", r.dataset, r.model, r.metric, round(r.value, 2))
           for r in rows}
    assert got == {
        ("ours", "csqa", "tiny", "acc", 25.0),
        ("ours", "csqa", "tiny", "acc", 0.0),  # exact_match of the gen task counts as accuracy
        ("ours", "csqa", "tiny", "acc", 50.0),
        ("ours", "csqa", "tiny", "acc", 75.0),
        ("file", "csqa", "gpt2", "acc", 40.0),
        ("file", "obqa", "gpt2", "acc", 30.0),
        ("published", "csqa", "M", "acc", 50.0),
        ("published", "obqa", "O", "acc", 20.0),
    }
    # acc_norm only when asked for, and then matched to acc_norm rows only.
    norm = compare([base_json], baselines_path=baselines, metric="acc_norm")
    assert {(r.dataset, r.model) for r in norm} == {("obqa", "gpt2"), ("obqa", "N")}
    assert "## csqa (acc, %)" in format_table(rows)
    assert main(["compare", str(grid), str(base_json), "--baselines", str(baselines)]) == 0
    assert "| 40.0 |" in capsys.readouterr().out


def test_compare_needs_results(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="results_"):
        compare([empty])
    with pytest.raises(DataError, match="not found"):
        compare([tmp_path / "missing"])


def test_default_baselines_path_is_packaged():
    assert DEFAULT_PATH.name == "baselines.csv" and DEFAULT_PATH.parent.parts[-2:] == ("harness_plugins", "report")


def test_compare_reads_both_passes_of_an_lm_eval_folder(tmp_path):
    """A grid cell's eval/ holds the gen pass and the acc pass: rows for both, each task's newest file."""
    out = tmp_path / "eval" / "student"
    out.mkdir(parents=True)
    passes = {
        "2024-01-01T10-00-00.000001": {"cot_csqa_gen": {"exact_match,first-label": 0.1, "invalid,first-label": 0.5}},
        "2024-01-01T10-00-05.000001": {"cot_csqa": {"acc,none": 0.3}},
        "2024-01-01T09-00-00.000001": {"cot_csqa": {"acc,none": 0.9}},  # an older acc run
    }
    for ts, results in passes.items():
        (out / f"results_{ts}.json").write_text(json.dumps({"results": results, "model_name": "s"}))
    rows = compare([tmp_path / "eval"], baselines_path=_baselines(tmp_path, [ROW]))
    assert sorted((r.model, r.method, round(r.value, 1)) for r in rows if r.source != "published") == [
        ("s", "lm-eval cot_csqa", 30.0), ("s", "lm-eval cot_csqa_gen", 10.0)]


def test_cf_tasks_and_cells_are_recognised_and_named(tmp_path):
    """Our CF tasks map to their dataset; a grid's CF rows say CF in their method (MCF rows read as before)."""
    assert dataset_of_task("cot_csqa_cf") == "csqa" and dataset_of_task("cot_obqa_cf_commit") == "obqa"
    assert dataset_of_task("cot_quarel_cf_gen") == "quarel"
    grid = tmp_path / "grid"
    write_run(grid, condition="none", correct=[1, 0, 0, 0])
    write_run(grid, condition="none", correct=[1, 1, 0, 0], metrics=("acc", "acc_norm"), formulation="cf")
    rows = compare([grid], baselines_path=_baselines(tmp_path, [ROW]), metric=None)
    ours = {(r.method, r.metric, round(r.value, 1), r.note.split(",")[0]) for r in rows if r.source == "ours"}
    assert ours == {("cot-distill none (acc)", "acc", 25.0, "cot_csqa"),
                    ("cot-distill none (acc, CF)", "acc", 50.0, "cot_csqa_cf"),
                    ("cot-distill none (acc_norm, CF)", "acc_norm", 50.0, "cot_csqa_cf")}
    assert "| cot-distill none (acc_norm, CF) |" in format_table(rows)
