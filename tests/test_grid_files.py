"""The run folder's files (cot_tasks.grid_files): one reader and one writer each, reading every layout the
committed grids hold, and the report refusing a run.json that disagrees with lm-eval's own file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cot_tasks.errors import DataError
from cot_tasks.grid_files import (
    AttributionDone,
    RunRecord,
    Score,
    read_done,
    read_grid_file,
    read_run,
    write_done,
    write_grid_file,
    write_run,
)

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_every_committed_run_json_reads_and_writes_back_unchanged(tmp_path):
    files = sorted(RESULTS.rglob("run.json"))
    assert files, "the committed grids hold run.json files"
    for path in files:
        record = read_run(path.parent)
        write_run(tmp_path, record)
        assert json.loads((tmp_path / "run.json").read_text()) == json.loads(path.read_text()), path


def test_a_done_file_made_by_the_grid_reads_and_writes_back_unchanged(tmp_path):
    source = RESULTS / "smollm2-cpu" / "grid-v2" / "attributions" / "csqa__smollm2-135m__seed0.jsonl"
    done = read_done(source)
    assert done is not None and done.made_as({"steps": done.made_by["steps"]}) and done.attributed
    write_done(tmp_path / "a.jsonl", done)
    made = json.loads(source.with_suffix(".done.json").read_text())
    assert json.loads((tmp_path / "a.done.json").read_text()) == made
    assert read_done(tmp_path / "missing.jsonl") is None
    (tmp_path / "torn.done.json").write_text("{")
    assert read_done(tmp_path / "torn.jsonl") is None  # made again, never trusted


def test_records_are_typed_and_bad_ones_are_one_line(tmp_path):
    record = RunRecord("csqa", "post", "tiny", 0, {"acc": Score("cot_csqa", "acc,none", 0.5, 4, 0.0)},
                       formulation="cf")
    write_run(tmp_path, record)
    assert read_run(tmp_path) == record and json.loads((tmp_path / "run.json").read_text())["formulation"] == "cf"
    for text, says in (("{", "broken JSON"), ('{"dataset": "csqa"}', "'condition'"),
                       ('{"dataset": "a", "condition": "none", "student": "s", "seed": 0, "metrics": {"acc": 1}}',
                        "metrics.acc"),
                       ('{"dataset": "a", "condition": "none", "student": "s", "seed": 0, "metrics": {}, '
                        '"formulation": "x"}', "unknown formulation")):
        (tmp_path / "run.json").write_text(text)
        with pytest.raises(DataError, match=says):
            read_run(tmp_path)
    write_grid_file(tmp_path, {"datasets": ["csqa"], "conditions": ["none"], "students": ["tiny"], "seeds": [0, 1]})
    grid = read_grid_file(tmp_path)
    assert grid.seeds == [0, 1] and grid.formulation == "mcf" and read_grid_file(tmp_path / "none") is None
    assert AttributionDone({"steps": 4}, attributed=3).to_json()["steps"] == 4


def test_the_report_refuses_a_run_json_value_lm_eval_did_not_give(tmp_path):
    from test_report import write_run as write_cell

    from harness_plugins.report.runs import load_run

    cell = write_cell(tmp_path, correct=[1, 0, 1, 1])
    info = json.loads((cell / "run.json").read_text())
    info["metrics"]["acc"]["value"] = 0.75
    (cell / "run.json").write_text(json.dumps(info))
    assert [r.value for r in load_run(cell)] == [0.75]
    info["metrics"]["acc"]["value"] = 0.5
    (cell / "run.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="says 0.5 where lm-eval's results_.* says 0.75"):
        load_run(cell)
