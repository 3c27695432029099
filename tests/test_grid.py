"""`cot-distill run`: a tiny grid end to end, rerun reuse, and bad input as one-line errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from cot_tasks.errors import DataError
from harness_plugins.cli import main
from harness_plugins.grid.config import GridConfig, load_grid_config
from harness_plugins.grid.plan import plan
from harness_plugins.grid.run import run_grid


def write_source(tmp: Path) -> tuple[Path, Path]:
    """A 16-train / 6-dev CSQA source folder in the official layout, and rationales for its train split."""
    src = tmp / "src"
    src.mkdir()
    places = ["bank", "river", "library", "bakery", "garage", "closet", "fridge", "garden"]
    rationales = []
    for split, name, n, off in (("train", "train_rand_split.jsonl", 16, 0), ("dev", "dev_rand_split.jsonl", 6, 50)):
        lines = []
        for i in range(off, off + n):
            gold = i % 5
            texts = [places[(i + k) % len(places)] for k in range(5)]
            lines.append(json.dumps({"answerKey": "ABCDE"[gold], "id": f"{split}-{i}", "question": {
                "question_concept": "thing", "stem": f"Where is thing {i} kept?",
                "choices": [{"label": "ABCDE"[k], "text": t} for k, t in enumerate(texts)]}}))
            if split == "train":
                rationales.append(json.dumps({"id": f"{split}-{i}", "dataset": "csqa",
                                              "rationale": f"Thing {i} is kept in a {texts[gold]}."}))
        (src / name).write_text("\n".join(lines) + "\n")
    rat = tmp / "rationales.jsonl"
    rat.write_text("\n".join(rationales) + "\n")
    return src, rat


def grid_yaml(tmp: Path, src: Path, rat: Path, **over) -> Path:
    import yaml

    data = {"output": str(tmp / "runs_out"), "source": str(src), "datasets": ["csqa"],
            "conditions": ["none", "pre"], "students": ["tiny"], "seeds": [0], "teacher": "test",
            "rationales": {"csqa": str(rat)},
            "train": {"epochs": 1, "batch_size": 8, "lr": 0.002, "max_length": 96, "save_steps": 0,
                      "tiny": {"vocab_size": 400, "n_layer": 1, "n_head": 2, "n_embd": 32}},
            "eval": {"batch_size": 16, "gen_kwargs": "max_gen_toks=8"}}
    data.update(over)
    path = tmp / "grid.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_run_table_uses_the_report_order_and_percent():
    from cot_tasks.grid_files import RunRecord, Score
    from harness_plugins.grid.run import format_table

    def row(condition, value):
        metric = Score(task="t", key="k", value=value, n_docs=20, invalid=0.0)
        return RunRecord(dataset="csqa", student="tiny", condition=condition, seed=0, chance=0.2,
                         metrics={"acc": metric, "exact_match": metric})

    table = format_table([row("random_post:5", 0.25), row("post", 0.5), row("none", 0.0)])
    names = [line.split()[2] for line in table.splitlines() if line.startswith("tiny / ")]
    assert names == ["none", "post", "random_post:5"]
    assert "chance 20.0%" in table and "50.0" in table and "0.500" not in table


def test_grid_end_to_end_both_metrics_and_rerun_reuse(tmp_path, capsys):
    from harness_plugins.lmeval.results import results_for_task, samples_path

    config = grid_yaml(tmp_path, "sample", "sample", conditions=["none", "pre", "post"], rationales={"csqa": "sample"})
    assert main(["run", str(config)]) == 0
    out = tmp_path / "runs_out"
    table = capsys.readouterr().out
    # Deliberately changed (issue 10): percent, the report's unit.
    assert "csqa: 20 eval docs, chance 20.0%" in table  # 20 sample docs, 5 choices each
    assert all(name in table for name in ("acc", "exact_match", "invalid", "tiny / none", "tiny / pre", "tiny / post"))

    rows = list(csv.DictReader((out / "results.csv").open()))
    assert list(rows[0])[:8] == ["dataset", "student", "condition", "seed", "metric", "value", "n_docs", "invalid"]
    assert [(r["condition"], r["metric"], r["task"], r["key"]) for r in rows] == [
        ("none", "acc", "cot_csqa", "acc,none"), ("none", "exact_match", "cot_csqa_gen", "exact_match,first-label"),
        ("pre", "acc", "cot_csqa_commit", "acc,none"),
        ("pre", "exact_match", "cot_csqa_gen", "exact_match,committed-label"),
        ("post", "acc", "cot_csqa", "acc,none"), ("post", "exact_match", "cot_csqa_gen", "exact_match,first-label")]
    for row in rows:
        assert row["n_docs"] == "20" and float(row["chance"]) == pytest.approx(0.2)
        assert 0.0 <= float(row["value"]) <= 1.0 and 0.0 <= float(row["invalid"]) <= 1.0
        assert row["metric"] == "exact_match" or float(row["invalid"]) == 0.0
        assert row["teacher"] == "test" and row["examples"] == "40"

    for condition in ("none", "pre", "post"):
        run_dir = out / "runs" / f"csqa__{condition}__tiny__seed0"
        run = json.loads((run_dir / "run.json").read_text())
        assert run["checkpoint"] == str((run_dir / "checkpoint").resolve())
        assert set(run["metrics"]) == {"acc", "exact_match"}
        for name, metric in run["metrics"].items():
            # Each metric is what lm-eval wrote in the cell's eval/, in its own layout.
            results = results_for_task(run_dir / "eval", metric["task"])
            assert metric["value"] == results.tasks()[metric["task"]][metric["key"]]
            assert metric["n_docs"] == 20 == results.n_docs(metric["task"])
            if name == "exact_match":
                filter_name = metric["key"].split(",")[1]
                assert metric["invalid"] == results.tasks()[metric["task"]][f"invalid,{filter_name}"]
        assert (run_dir / "checkpoint" / "model.safetensors").exists()
        training = run["training"]  # the trainer's own record, carried into the committed run.json
        assert training["steps"] > 0 and training["target_tokens"] > 0 and training["final_loss"] > 0
        assert training["target_length_mean"] >= 2  # at least the label and EOS
        card = (run_dir / "checkpoint" / "README.md").read_text()
        assert f"`acc` = {run['metrics']['acc']['value']:.4f}" in card
    # pre's acc pass read its own gen pass's generations.
    pre_eval = out / "runs" / "csqa__pre__tiny__seed0" / "eval"
    commit = results_for_task(pre_eval, "cot_csqa_commit")
    gen_samples = samples_path(results_for_task(pre_eval, "cot_csqa_gen"), "cot_csqa_gen")
    assert commit.data["configs"]["cot_csqa_commit"]["metadata"]["generations"] == str(gen_samples)

    assert not any((out / "claims").iterdir())  # every step's claim was released
    # Rerun: every run reused (run.json untouched), same results.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("run.json")}
    rows_again = run_grid(load_grid_config(config))
    assert {p: p.stat().st_mtime_ns for p in out.rglob("run.json")} == stamps
    assert [m.value for r in rows_again for m in r.metrics.values()] == [float(r["value"]) for r in rows]


def test_finished_cells_scored_another_way_are_refused_not_reused(tmp_path, capsys):
    """A grid rerun with other scoring settings would mix unlike cells in one table (training settings:
    test_a_finished_cell_of_other_settings_is_refused_not_reused)."""
    config = grid_yaml(tmp_path, "sample", "sample", conditions=["none"], rationales={"csqa": "sample"},
                       eval={"batch_size": 16, "gen_kwargs": "max_gen_toks=8", "limit": 6})
    assert main(["run", str(config)]) == 0
    capsys.readouterr()
    run_json = tmp_path / "runs_out" / "runs" / "csqa__none__tiny__seed0" / "run.json"
    made = run_json.read_text()
    cases = [
        (dict(eval={"batch_size": 16, "gen_kwargs": "max_gen_toks=9", "limit": 6}), "other eval settings",
         "eval.gen_kwargs"),
        (dict(eval={"batch_size": 16, "gen_kwargs": "max_gen_toks=8", "limit": 5}), "other eval settings",
         "eval.limit"),
        (dict(eval={"batch_size": 16, "gen_kwargs": "max_gen_toks=8", "limit": 6, "dtype": "bfloat16"}),
         "other eval settings", "eval.dtype"),
    ]
    for over, message, field in cases:
        changed = grid_yaml(tmp_path, "sample", "sample", conditions=["none"], rationales={"csqa": "sample"},
                            **{"eval": {"batch_size": 16, "gen_kwargs": "max_gen_toks=8", "limit": 6}, **over})
        assert main(["run", str(changed)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and f"differs in: {field})" in err and err.count("\n") == 0, (over, err)
        assert run_json.read_text() == made
    # The batch size of scoring is no setting of the cell: the cell is reused.
    same = grid_yaml(tmp_path, "sample", "sample", conditions=["none"], rationales={"csqa": "sample"},
                     eval={"batch_size": 4, "gen_kwargs": "max_gen_toks=8", "limit": 6})
    assert main(["run", str(same)]) == 0 and run_json.read_text() == made


def test_bad_grids_are_one_line_errors(tmp_path, capsys):
    src, rat = write_source(tmp_path)
    unjoined = tmp_path / "other.jsonl"
    unjoined.write_text(json.dumps({"id": "nope", "dataset": "csqa", "rationale": "x"}) + "\n")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not ours")
    cases = [
        (dict(conditions=["post", "bogus"]), "unknown condition 'bogus'"),
        (dict(conditions=["masked_post:2"]), "fraction P in [0, 1]"),
        (dict(conditions=[]), "empty grid"),
        (dict(rationales={"csqa": str(unjoined)}), "0 of 16 joined, 1 rationales"),
        (dict(output=str(foreign)), "holds other files"),
        (dict(train={"epochz": 1}), "unknown key(s) epochz"),
        (dict(colour="red"), "unknown key(s) colour"),
        (dict(attribution={"baseline": "zero"}), "unknown baseline 'zero' (pad, eos or token:TEXT"),
        (dict(train={"attributions": "a.jsonl"}), "the grid makes the attribution files itself"),
        (dict(eval={"dtype": "bf16"}), "eval.dtype"),
    ]
    for over, message in cases:
        assert main(["run", str(grid_yaml(tmp_path, src, rat, **over))]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.count("\n") == 0, (over, err)
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]
    assert not (tmp_path / "runs_out").exists()  # nothing was started for any bad grid


def test_default_config_parses_and_covers_every_condition():
    grid = load_grid_config(None)
    cells = plan(grid).cells
    assert {c.condition.split(":")[0] for c in cells} >= {
        "none", "pre", "post", "shuffled_post", "shuffled_pre", "masked_post", "filler_post", "other_post",
        "answer_masked_post", "keytokens_post", "random_post"}
    assert grid.students == ["tiny"] and grid.source == "sample"
    example = Path(__file__).resolve().parents[1] / "trainers" / "configs" / "paper_gpt2.yaml"
    assert load_grid_config(example).seeds == [0, 1, 2]  # its rationale paths are placeholders
    with pytest.raises(DataError, match="set dataset at the top level"):
        GridConfig.from_dict({"train": {"dataset": "obqa"}})


def test_the_default_grid_file_is_grid_config_written_out():
    """One statement of each default: GridConfig() is the bundled demo, and default.yaml says exactly it."""
    assert load_grid_config(None) == GridConfig()
    assert GridConfig.from_dict({}) == GridConfig()


@pytest.mark.parametrize("given, missing", [
    ({"students": ["gpt2"], "train": {"lr": 1e-4}, "rationales": {"csqa": "r.jsonl"}}, "teacher"),
    ({"source": "hub", "teacher": "t", "rationales": {"csqa": "r.jsonl"}}, "train"),
    ({"source": "hub", "teacher": "t", "train": {}}, "rationales"),
])
def test_a_grid_off_the_demo_must_set_what_only_suits_the_demo(given, missing):
    """The demo's training schedule, rationale files and teacher name would silently apply to other students or
    data: a grid of those must set them itself."""
    with pytest.raises(DataError, match=f"field '{missing}': not set, and its default is the bundled demo's"):
        GridConfig.from_dict(given)


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).resolve().parents[1] / "trainers" /
                                                         "configs").glob("*.yaml")))
def test_every_shipped_grid_file_parses(name):
    grid = load_grid_config(Path(__file__).resolve().parents[1] / "trainers" / "configs" / name)
    assert grid.datasets and grid.conditions and grid.students and grid.seeds and grid.output


def test_key_token_cell_attributes_with_the_pre_student_and_reruns_reuse(tmp_path, capsys, monkeypatch):
    from cot_tasks.data import load_split
    from cot_tasks.prompts import render_prompt
    from cot_tasks.rationales import read_rationales
    from cot_tasks.rationales.keytokens import read_attributions, span_text
    from trainers.data import data_sha256

    src, rat = write_source(tmp_path)
    config = grid_yaml(tmp_path, src, rat, conditions=["keytokens_post:3"], attribution={"steps": 4})
    assert main(["run", str(config)]) == 0
    assert "pre is not among the grid's conditions" in capsys.readouterr().out
    out = tmp_path / "runs_out"
    # Not a grid cell: kept out of runs/, so `cot-distill report` sees only the grid's cells.
    pre = out / "attributions" / "csqa__pre__tiny__seed0"
    assert (pre / "checkpoint" / "model.safetensors").exists() and not (pre / "run.json").exists()
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["csqa__keytokens_post-3__tiny__seed0"]
    from harness_plugins.report.runs import load_grid

    assert sorted((r.condition, r.metric) for r in load_grid(out)) == [("keytokens_post:3", "acc"),
                                                                      ("keytokens_post:3", "exact_match")]
    attr = out / "attributions" / "csqa__tiny__seed0.jsonl"
    rows = {r["id"]: r for r in map(json.loads, attr.read_text().splitlines())}
    assert len(rows) == 16 and {r["model"] for r in rows.values()} == {str(pre / "checkpoint")}

    # The cell trained on exactly " <label>. <top-3 tokens of the file, in rationale order>".
    cell = out / "runs" / "csqa__keytokens_post-3__tiny__seed0"
    run = json.loads((cell / "run.json").read_text())
    assert run["attributions"] == str(attr) and run["metrics"]["acc"]["task"] == "cot_csqa"
    texts, parsed = read_rationales(rat), read_attributions(attr)
    expected = [(ex.id, render_prompt(ex), f" {ex.answer}. " + span_text(
                    parsed[ex.id], " ".join(texts[ex.id].rationale.split()), sorted(rows[ex.id]["top_indices"][:3])))
                for ex in load_split("csqa", "train", str(src))]
    record = json.loads((cell / "checkpoint" / "cot_distill.json").read_text())
    assert record["data_sha256"] == data_sha256(expected)
    assert record["identity"]["attributions"] == str(attr) and len(record["identity"]["attributions_sha256"]) == 64

    # Rerun: the attribution file and the cell are reused; no model is loaded to attribute. Each cell is
    # checked once, the rationale file hashed once, and no step claimed (a finished grid writes nothing).
    import harness_plugins.grid.cell as cell_module
    import harness_plugins.grid.run as grid_module
    import trainers.data as data_module

    calls: dict[str, int] = {}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(cell_module, "_finished", counting("finished", cell_module._finished))
    monkeypatch.setattr(data_module, "file_sha256", counting("sha256", data_module.file_sha256))
    monkeypatch.setattr(grid_module, "claimed", counting("claimed", grid_module.claimed))
    stamps = {p: p.stat().st_mtime_ns for p in [attr, *out.rglob("run.json")]}
    assert main(["run", str(config)]) == 0
    assert "key tokens come from" not in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert calls == {"finished": 1, "sha256": 1}, calls
    monkeypatch.undo()

    # A new machine: the committed artefacts (attribution file + its .done.json), no checkpoints, the cell
    # unfinished. The complete attribution file is reused: no pre student is trained or loaded again.
    done = json.loads(attr.with_suffix(".done.json").read_text())
    assert done["steps"] == 4 and done["pre_trained_again"] is False and done["same_weights_as_pre_cell"] is None
    shutil.rmtree(pre)
    (cell / "run.json").unlink()
    shutil.rmtree(cell / "checkpoint")
    assert main(["run", str(config)]) == 0
    assert "key tokens come from" not in capsys.readouterr().out and not pre.exists()
    assert attr.stat().st_mtime_ns == stamps[attr] and (cell / "run.json").is_file()

    # A copy cut at a line boundary parses: its rows are counted against its .done.json, and it is made again.
    lines = attr.read_text().splitlines(keepends=True)
    attr.write_text("".join(lines[:-1]))
    (cell / "run.json").unlink()
    shutil.rmtree(cell / "checkpoint")  # a new machine: the committed artefacts only
    assert main(["run", str(config)]) == 0
    assert f"{attr} holds 15 rows where its .done.json records 16: making it again" in capsys.readouterr().out
    assert len(attr.read_text().splitlines()) == 16 and (cell / "run.json").is_file()


def test_pre_student_without_its_checkpoint_is_trained_again_for_attributions(tmp_path, capsys):
    """A new machine has the pre cell's committed run but not its weights, and no attributions yet: the pre
    student is trained again (same settings and seed) and every example attributed with that one model."""
    src, rat = write_source(tmp_path)
    assert main(["run", str(grid_yaml(tmp_path, src, rat, conditions=["pre"]))]) == 0
    pre = tmp_path / "runs_out" / "runs" / "csqa__pre__tiny__seed0"
    made = json.loads((pre / "checkpoint" / "cot_distill.json").read_text())
    shutil.rmtree(pre / "checkpoint")
    capsys.readouterr()
    config = grid_yaml(tmp_path, src, rat, conditions=["pre", "keytokens_post:3"], attribution={"steps": 4})
    assert main(["run", str(config)]) == 0
    assert "has no checkpoint here: training it again" in capsys.readouterr().out
    again = json.loads((pre / "checkpoint" / "cot_distill.json").read_text())
    assert again["identity"] == made["identity"] and again["data_sha256"] == made["data_sha256"]
    attr = tmp_path / "runs_out" / "attributions" / "csqa__tiny__seed0.jsonl"
    rows = [json.loads(line) for line in attr.read_text().splitlines()]
    assert len(rows) == 16 and {r["model"] for r in rows} == {str(pre / "checkpoint")}
    done = json.loads(attr.with_suffix(".done.json").read_text())
    weights = json.loads((pre / "run.json").read_text())["weights_sha256"]
    assert done["pre_trained_again"] is True and len(weights) == 64
    # Same machine, same seed: the student trained again is bit-equal to the one the pre cell scored.
    assert done["weights_sha256"] == weights and done["same_weights_as_pre_cell"] is True
    # Stopped after the retraining, before the attributions were done: the rerun still says so.
    attr.unlink()
    attr.with_suffix(".done.json").unlink()
    shutil.rmtree(tmp_path / "runs_out" / "runs" / "csqa__keytokens_post-3__tiny__seed0")
    assert main(["run", str(config)]) == 0
    assert "training it again" not in capsys.readouterr().out
    assert json.loads(attr.with_suffix(".done.json").read_text())["pre_trained_again"] is True
    assert (tmp_path / "runs_out" / "runs" / "csqa__keytokens_post-3__tiny__seed0" / "run.json").is_file()


def test_a_partial_attribution_file_from_another_machine_is_resumed_only_with_the_same_weights(tmp_path, capsys):
    """A session ended half-way through the attributions and committed the rows made so far. The next machine
    trains the pre student again; bit-equal weights resume the file, hours of attribution kept; rows of other
    weights (or naming none) are made again, never mixed."""
    src, rat = write_source(tmp_path)
    config = grid_yaml(tmp_path, src, rat, conditions=["pre", "keytokens_post:3"], attribution={"steps": 4})
    assert main(["run", str(config)]) == 0
    runs, attr = tmp_path / "runs_out" / "runs", tmp_path / "runs_out" / "attributions" / "csqa__tiny__seed0.jsonl"
    lines = attr.read_text().splitlines(keepends=True)
    weights = json.loads((runs / "csqa__pre__tiny__seed0" / "run.json").read_text())["weights_sha256"]
    assert len(lines) == 16 and {json.loads(line)["weights_sha256"] for line in lines} == {weights}

    def new_machine(committed: list[str]) -> str:
        shutil.rmtree(runs / "csqa__pre__tiny__seed0" / "checkpoint")
        shutil.rmtree(runs / "csqa__keytokens_post-3__tiny__seed0")
        attr.with_suffix(".done.json").unlink()
        attr.with_suffix(".trained_again").unlink(missing_ok=True)
        attr.write_text("".join(committed))
        capsys.readouterr()
        assert main(["run", str(config)]) == 0
        return capsys.readouterr().out

    printed = new_machine(lines[:8])
    assert "training it again" in printed and "resumed, its rows made with these same weights" in printed
    assert f"{attr}: 8 already there, 8 attributed" in printed
    assert attr.read_text().splitlines(keepends=True)[:8] == lines[:8]  # kept as committed, not redone
    assert json.loads(attr.with_suffix(".done.json").read_text())["attributed"] == 16
    for committed in ([json.dumps({**json.loads(line), "weights_sha256": "0" * 64}) + "\n" for line in lines[:8]],
                      [json.dumps({k: v for k, v in json.loads(line).items() if k != "weights_sha256"}) + "\n"
                       for line in lines[:8]]):
        printed = new_machine(committed)
        assert "made with other weights, or rows that name none: making it again" in printed
        assert f"{attr}: 0 already there, 16 attributed" in printed
        assert {json.loads(line)["weights_sha256"] for line in attr.read_text().splitlines()} == {weights}
    assert (runs / "csqa__keytokens_post-3__tiny__seed0" / "run.json").is_file()


def test_a_seed_started_on_another_device_is_left_for_it(tmp_path, capsys):
    """One device per seed: the same seed trains differently on another CPU, so a seed whose first cell
    finished elsewhere is left for that device (named, counted), and a seed with no finished cell is taken."""
    import dataclasses

    from cot_tasks.grid_files import read_run, write_run

    src, rat = write_source(tmp_path)
    config = grid_yaml(tmp_path, src, rat, seeds=[0, 1])
    assert main(["run", str(config)]) == 0
    runs = tmp_path / "runs_out" / "runs"
    none0 = runs / "csqa__none__tiny__seed0"
    record = read_run(none0)
    write_run(none0, dataclasses.replace(record, training={**record.training, "device": "cpu (x86_64, Other, AMX)"}))
    for name in ("csqa__pre__tiny__seed0", "csqa__pre__tiny__seed1", "csqa__none__tiny__seed1"):
        (runs / name / "run.json").unlink()
    capsys.readouterr()
    assert main(["run", str(config)]) == 0
    printed = capsys.readouterr().out
    assert ("[csqa] csqa__pre__tiny__seed0: left for cpu (x86_64, Other, AMX), where its seed's first cell trained; "
            "run the grid there") in printed
    assert "1 cell(s) left for the device their seed's first cell trained on" in printed
    assert not (runs / "csqa__pre__tiny__seed0" / "run.json").exists()
    assert all((runs / f"csqa__{c}__tiny__seed1" / "run.json").is_file() for c in ("none", "pre"))
    import csv

    with open(tmp_path / "runs_out" / "results.csv") as fh:
        cells = {(r["condition"], r["seed"]) for r in csv.DictReader(fh)}
    assert cells == {("none", "0"), ("none", "1"), ("pre", "1")}


def test_a_finished_cell_of_other_settings_is_refused_not_reused(tmp_path, capsys):
    """Changing a training setting and rerunning into the same folder would mix two experiments in one
    report: the finished cell is refused with one line naming it and the setting."""
    import yaml

    src, rat = write_source(tmp_path)
    config = grid_yaml(tmp_path, src, rat, conditions=["none"])
    assert main(["run", str(config)]) == 0
    run = tmp_path / "runs_out" / "runs" / "csqa__none__tiny__seed0" / "run.json"
    grid_json = tmp_path / "runs_out" / "grid.json"
    stamp, grid_before = run.stat().st_mtime_ns, grid_json.read_text()
    data = yaml.safe_load(config.read_text())
    data["train"]["lr"] = 0.001
    config.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "csqa__none__tiny__seed0" in err and "differs in: lr" in err
    assert run.stat().st_mtime_ns == stamp and grid_json.read_text() == grid_before


def test_control_cells_record_their_measured_length_in_run_json(tmp_path):
    """A control's measurements reach the committed run.json: filler_post's body against the rationale it
    replaces, in the student's tokens, and every cell's mean target length (the weights are never committed)."""
    src, rat = write_source(tmp_path)
    assert main(["run", str(grid_yaml(tmp_path, src, rat, conditions=["post", "filler_post"]))]) == 0
    runs = tmp_path / "runs_out" / "runs"
    post, filler = (json.loads((runs / f"csqa__{c}__tiny__seed0" / "run.json").read_text())["training"]
                    for c in ("post", "filler_post"))
    assert "length_ratio" not in post and filler["length_ratio"] == pytest.approx(1.0, abs=0.05)
    assert filler["target_length_mean"] == pytest.approx(post["target_length_mean"], rel=0.05)


def test_a_key_token_cell_of_other_attribution_settings_is_refused_not_reused(tmp_path, capsys):
    """Key tokens from another IG baseline or step count are other key tokens: the finished cell records what
    made its attribution file, and a grid asking for other settings refuses it in one line."""
    import yaml

    src, rat = write_source(tmp_path)
    config = grid_yaml(tmp_path, src, rat, conditions=["keytokens_post:3", "random_post:3"], attribution={"steps": 4})
    assert main(["run", str(config)]) == 0
    cell = tmp_path / "runs_out" / "runs" / "csqa__keytokens_post-3__tiny__seed0"
    random_cell = tmp_path / "runs_out" / "runs" / "csqa__random_post-3__tiny__seed0"
    made = json.loads((cell / "run.json").read_text())["attributions_made_by"]
    done = tmp_path / "runs_out" / "attributions" / "csqa__tiny__seed0.done.json"
    assert made == json.loads(done.read_text()) and made["steps"] == 4 and made["baseline"] == "pad"
    assert 0 <= made["median_completeness_error"] < 1
    data = yaml.safe_load(config.read_text())
    data["attribution"]["baseline"] = "eos"
    config.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "csqa__keytokens_post-3__tiny__seed0" in err
    assert "differs in: attribution.baseline" in err
    # random_post takes only the file's tokenization, the same whatever the IG settings: it stays reusable.
    shutil.rmtree(cell)
    for made_file in (done, done.with_name("csqa__tiny__seed0.jsonl")):
        made_file.unlink()
    stamp = (random_cell / "run.json").stat().st_mtime_ns
    assert main(["run", str(config)]) == 0
    assert (random_cell / "run.json").stat().st_mtime_ns == stamp and (cell / "run.json").is_file()
    assert json.loads((cell / "run.json").read_text())["attributions_made_by"]["baseline"] == "eos"



@pytest.mark.parametrize("section, key, value", [("train", "mixed_precision", "bf16"), ("eval", "dtype", "bfloat16")])
def test_a_bf16_grid_stops_before_any_work_where_bf16_is_only_emulated(tmp_path, capsys, monkeypatch, section,
                                                                      key, value):
    """On a CPU without native bf16 a bf16 grid would run ~100x slower than fp32: one line naming the field
    and nothing written; where the probe says bf16 is native, the same grid runs."""
    import yaml

    import harness_plugins.grid.run as grid_module

    src, rat = write_source(tmp_path)
    config = grid_yaml(tmp_path, src, rat, conditions=["none"])
    data = yaml.safe_load(config.read_text())
    data.setdefault(section, {})[key] = value
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(grid_module, "bf16_is_fast", lambda device: False)
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{section}.{key}" in err and "emulates" in err
    assert not (tmp_path / "runs_out").exists()
    if section == "eval":  # bf16 training is left out: accelerate's state is per process (see test_trainer)
        monkeypatch.setattr(grid_module, "bf16_is_fast", lambda device: True)
        assert main(["run", str(config)]) == 0
        monkeypatch.setattr(grid_module, "bf16_is_fast", lambda device: False)
        assert main(["run", str(config)]) == 0  # finished: nothing left to run in bf16, so nothing refused


def test_the_grid_compares_the_attribution_method(tmp_path):
    """What made an attribution file includes its method: files made before the key (integrated gradients) keep
    matching the default, a file or cell of another method is refused, never mixed in."""
    from dataclasses import replace

    from harness_plugins.grid.attribution_step import check_attribution_file
    from harness_plugins.grid.cell import attribution_made_by
    from harness_plugins.grid.config import AttributionOptions
    from harness_plugins.grid.plan import Cell

    grid = GridConfig.from_dict({"conditions": ["keytokens_post:5"], "datasets": ["csqa"]})
    pre = Cell("csqa", "pre", "tiny", 0)
    assert "method" not in attribution_made_by(plan(grid), pre)  # as every .done.json made before the key
    other = replace(grid, attribution=AttributionOptions(method="token_id"))
    assert attribution_made_by(plan(other), pre)["method"] == "token_id"

    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"model": "m", "steps": 20, "baseline": "pad"}) + "\n")  # no method: IG
    check_attribution_file(path, "m", AttributionOptions())
    with pytest.raises(DataError, match="made with other method"):
        check_attribution_file(path, "m", AttributionOptions(method="token_id"))
