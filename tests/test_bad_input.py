"""A corpus of bad input: every case ends in exit 2 and one line naming the file, line or field, with nothing
written where the command would have written, and no traceback."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from harness_plugins.cli import main


def _rationale(rid: str, dataset: str = "csqa", text: str = "because it is so") -> str:
    return json.dumps({"id": rid, "dataset": dataset, "rationale": text, "teacher_answer": None,
                       "teacher": "t", "source": "s"}) + "\n"


def _sample_ids(dataset: str) -> list[str]:
    from cot_tasks.data import load_split

    return [ex.id for ex in load_split(dataset, "train", "sample")]


def _grid(tmp: Path, body: str) -> str:
    path = tmp / "grid.yaml"
    path.write_text("output: out\ndatasets: [csqa]\nconditions: [none]\nrationales: {csqa: sample}\n" + body)
    return str(path)


def _grid_without(tmp: Path, key: str, body: str) -> str:
    lines = "output: out\ndatasets: [csqa]\nconditions: [none]\nrationales: {csqa: sample}\n".splitlines()
    path = tmp / "grid.yaml"
    path.write_text("\n".join(x for x in lines if not x.startswith(key + ":")) + "\n" + body)
    return str(path)


def _non_utf8_csqa(tmp: Path) -> str:
    folder = tmp / "csqa_files"
    folder.mkdir()
    (folder / "train_rand_split.jsonl").write_bytes(b'{"id": "caf\xe9"}\n')
    return str(folder)


def _train(*extra: str) -> list[str]:
    return ["train", "--dataset", "csqa", "--output", "out", "--limit", "4", *extra]


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Path], list[str]]
    says: tuple[str, ...]  # every piece must be in the one line
    not_written: tuple[str, ...] = ("out",)


CASES = [
    Case("train post without rationales", lambda t: _train("--condition", "post"), ("needs a rationale file",)),
    Case("train on a rationale file that joins nothing",
         lambda t: (t.joinpath("r.jsonl").write_text(_rationale("nope-1") + _rationale("nope-2")),
                    _train("--condition", "post", "--rationales", "r.jsonl"))[1],
         ("r.jsonl", "0 of 4 joined")),
    Case("rationales of another dataset",
         lambda t: (t.joinpath("r.jsonl").write_text(_rationale("x", "obqa")),
                    _train("--condition", "post", "--rationales", "r.jsonl"))[1],
         ("r.jsonl:1", "'dataset'", "obqa rationale in a file read for csqa")),
    Case("a rationale file of empty strings",
         lambda t: (t.joinpath("r.jsonl").write_text("".join(_rationale(i, text="  ") for i in _sample_ids("csqa"))),
                    _train("--condition", "post", "--rationales", "r.jsonl"))[1],
         ("r.jsonl", "'rationale'", "rationales are empty")),
    Case("broken JSON in a rationale file",
         lambda t: (t.joinpath("r.jsonl").write_text(_rationale("a") + "{oops\n"),
                    _train("--condition", "post", "--rationales", "r.jsonl"))[1],
         ("r.jsonl:2",)),
    Case("a non-UTF-8 byte in a data file",
         lambda t: ["data", "check", "--dataset", "csqa", "--source", _non_utf8_csqa(t)],
         ("train_rand_split.jsonl:1", "UTF-8")),
    Case("unknown source", lambda t: ["data", "check", "--dataset", "csqa", "--source", "nowhere"],
         ("unknown source 'nowhere'",)),
    Case("grid seed negative", lambda t: ["run", _grid(t, "seeds: [0, -1]\n")], ("grid.yaml:5", "seeds[1]")),
    Case("grid seed fractional", lambda t: ["run", _grid(t, "seeds: [0.5]\n")], ("grid.yaml:5", "seeds[0]")),
    Case("grid seed a string", lambda t: ["run", _grid(t, "seeds: [one]\n")], ("grid.yaml:5", "seeds[0]")),
    Case("grid number as a string", lambda t: ["run", _grid(t, "train: {lr: '0.001'}\n")], ("grid.yaml:5", "train.lr")),
    Case("grid eval number as a string", lambda t: ["run", _grid(t, "eval: {batch_size: '8'}\n")],
         ("grid.yaml:5", "eval.batch_size")),
    Case("grid unknown condition", lambda t: ["run", _grid_without(t, "conditions", "conditions: [none, psot]\n")],
         ("grid.yaml", "conditions[1]", "psot")),
    Case("grid unknown dataset", lambda t: ["run", _grid_without(t, "datasets", "datasets: [csqa, boolq]\n")],
         ("grid.yaml", "datasets[1]", "boolq")),
    Case("grid unknown key", lambda t: ["run", _grid(t, "sedes: [1]\n")], ("grid.yaml:5", "sedes")),
    Case("grid rationale file missing",
         lambda t: ["run", _grid_without(t, "rationales", "rationales: {csqa: r.jsonl}\n")],
         ("r.jsonl", "rationales.csqa")),
    Case("eval of an empty folder",
         lambda t: (t.joinpath("empty").mkdir(),
                    ["eval", "--model", "hf", "--model_args", "pretrained=empty", "--tasks", "cot_csqa"])[1],
         ("empty",), ("out", "empty/config.json")),
    Case("lens of a non-model folder",
         lambda t: (t.joinpath("notes").mkdir(), t.joinpath("notes", "a.txt").write_text("hi"),
                    ["lens", "notes", "--dataset", "csqa", "--out", "out"])[2],
         ("notes",)),
    Case("import joining no rows",
         lambda t: (t.joinpath("in.jsonl").write_text(json.dumps({"id": "zz", "rationale": "r"}) + "\n"),
                    ["rationales", "import", "--format", "generic", "in.jsonl", "--dataset", "csqa",
                     "--out", "out"])[1],
         ("in.jsonl", "0 joined")),
    # Numbers out of range, each named by its flag, before any model or file is read.
    Case("attribute --steps 1", lambda t: ["attribute", "--model", "m", "--dataset", "csqa", "--rationales", "r",
                                           "--out", "out", "--steps", "1"], ("--steps must be at least 2",)),
    Case("attribute --limit 0", lambda t: ["attribute", "--model", "m", "--dataset", "csqa", "--rationales", "r",
                                           "--out", "out", "--limit", "0"], ("--limit must be at least 1",)),
    Case("attribute --internal-batch-size -1",
         lambda t: ["attribute", "--model", "m", "--dataset", "csqa", "--rationales", "r", "--out", "out",
                    "--internal-batch-size", "-1"], ("--internal-batch-size must be at least 1",)),
    Case("lens --batch-size 0", lambda t: ["lens", "m", "--dataset", "csqa", "--out", "out", "--batch-size", "0"],
         ("--batch-size must be at least 1",)),
    Case("report --resamples 0", lambda t: ["report", "grid", "--out", "out", "--resamples", "0"],
         ("--resamples must be at least 1",)),
    Case("generate --max-new-tokens 0",
         lambda t: ["rationales", "generate", "--teacher", "m", "--dataset", "csqa", "--out", "out",
                    "--max-new-tokens", "0"], ("--max-new-tokens must be at least 1",)),
    # Options that contradict each other: one would be ignored, silently, if the command ran.
    Case("generate --temperature without --do-sample",
         lambda t: ["rationales", "generate", "--teacher", "m", "--dataset", "csqa", "--out", "out",
                    "--temperature", "0.7"], ("--temperature", "--do-sample")),
    Case("lens --tuned-limit without --tuned",
         lambda t: ["lens", "m", "--dataset", "csqa", "--out", "out", "--tuned-limit", "8"],
         ("--tuned-limit", "--tuned")),
    Case("import --format dss with a generic column",
         lambda t: ["rationales", "import", "--format", "dss", "in", "--dataset", "csqa", "--out", "out",
                    "--rationale-column", "why"], ("--format dss does not read --rationale-column", "generic")),
    Case("import --format cose with --teacher",
         lambda t: ["rationales", "import", "--format", "cose", "in.jsonl", "--dataset", "csqa", "--out", "out",
                    "--teacher", "me"], ("--format cose does not read --teacher", "eit or generic")),
    Case("import --format fact1 with an input file",
         lambda t: ["rationales", "import", "--format", "fact1", "in.jsonl", "--dataset", "obqa", "--out", "out"],
         ("fact1", "in.jsonl")),
    Case("eval --metadata that is not JSON",
         lambda t: ["eval", "--model", "hf", "--model_args", "pretrained=m", "--tasks", "cot_csqa",
                    "--metadata", "{source: sample}", "--output_path", "out"], ("--metadata is not JSON",)),
    Case("hub offline from the CLI", lambda t: ["data", "check", "--dataset", "csqa", "--source", "hub"],
         ("Hugging Face Hub", "--source sample")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = case.argv(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("cot-distill: error: ") and "Traceback" not in err
    for piece in case.says:
        assert piece in err, (piece, err)
    for path in case.not_written:
        assert not (tmp_path / path).exists(), path


def test_eval_without_arguments_says_how_and_exits_2(capsys):
    assert main(["eval"]) == 2
    assert "usage: cot-distill eval" in capsys.readouterr().err


def test_lens_needs_out(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["lens", "ckpt", "--dataset", "csqa"])
    assert exit_.value.code == 2 and "--out" in capsys.readouterr().err


def test_hub_failure_names_the_lm_eval_fix(monkeypatch):
    """The lm-eval task loader's message names lm-eval's own flag, not ours."""
    from cot_tasks.errors import DataError
    from cot_tasks.tasks.utils import load

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"""--metadata '\{"source": "sample"\}'"""):
        load("csqa", source="hub")


def test_every_entry_point_shares_one_source_default():
    import inspect

    from cot_tasks.data import DEFAULT_SOURCE, load_split
    from cot_tasks.tasks.utils import load, load_commit
    from harness_plugins.cli import build_parser
    from harness_plugins.grid.config import GridConfig
    from harness_plugins.lens.lenses import run_lens
    from harness_plugins.lmeval.evaluate import evaluate_checkpoint
    from trainers.attribution import AttributionConfig
    from trainers.config import TrainConfig
    from trainers.teacher import GenerateConfig

    for fn in (load_split, load, load_commit, evaluate_checkpoint, run_lens):
        assert inspect.signature(fn).parameters["source"].default == DEFAULT_SOURCE, fn
    for cls in (TrainConfig, GridConfig, AttributionConfig, GenerateConfig):
        assert cls.__dataclass_fields__["source"].default == DEFAULT_SOURCE, cls
    parser = build_parser()
    for argv in (["train", "--dataset", "csqa", "--condition", "none", "--output", "o"],
                 ["data", "check", "--dataset", "csqa"], ["lens", "c", "--dataset", "csqa", "--out", "o"],
                 ["attribute", "--model", "m", "--dataset", "csqa", "--rationales", "r", "--out", "o"],
                 ["rationales", "filter", "r", "--dataset", "csqa", "--out", "o"]):
        assert parser.parse_args(argv).source == DEFAULT_SOURCE, argv


def test_quarel_rationales_join_by_question_text(tmp_path):
    """QuaRel's loader keeps the stem; a teacher file carries the question with its inline options."""
    from cot_tasks.data import load_split, split_file
    from cot_tasks.rationales import generic

    examples = load_split("quarel", "train", "sample")
    raw = [json.loads(line)["question"] for line in split_file("quarel", "train", "sample").read_text().splitlines()]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps({"question": q, "rationale": "r. The answer is (A)."}) + "\n" for q in raw))
    result = generic.import_generic(path, examples, generic.Columns(id=None, question="question"))
    assert len(result.rationales) == len(examples) and result.unjoined == 0


def test_a_failed_train_does_not_block_the_corrected_rerun(tmp_path, monkeypatch, capsys):
    """`train --condition post` without --rationales fails and leaves no claim on --output, so the
    corrected command trains into it."""
    from cot_tasks.sample import rationale_path

    monkeypatch.chdir(tmp_path)
    tiny = ["--epochs", "1", "--batch-size", "4", "--max-length", "128", "--save-steps", "0"]
    assert main(_train("--condition", "post", *tiny)) == 2
    assert not (tmp_path / "out").exists()
    (tmp_path / "out").mkdir()  # a folder the user made is emptied of our claim, not removed
    assert main(_train("--condition", "post", "--rationales", "nope.jsonl", *tiny)) == 2
    assert (tmp_path / "out").is_dir() and not any((tmp_path / "out").iterdir())
    mask = os.umask(0o022)
    try:
        assert main(_train("--condition", "post", "--rationales", str(rationale_path("csqa")), *tiny)) == 0
    finally:
        os.umask(mask)
    for name in ("model.safetensors", "cot_distill.json", "README.md", "config.json"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o644, name  # readable by others
    assert json.loads((tmp_path / "out" / "cot_distill.json").read_text())["status"] == "finished"
    card = (tmp_path / "out" / "README.md").read_text()  # the README promises a card for standalone train
    assert "Not scored yet" in card and "bundled sample" in card and str(tmp_path) not in card


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_writes_are_as_readable_as_the_umask_allows(tmp_path, umask, mode):
    from cot_tasks.io import write_atomic, write_files_atomic, write_json_atomic

    old = os.umask(umask)
    try:
        paths = [write_atomic(tmp_path / "a.csv", "x"), write_json_atomic(tmp_path / "run.json", {}),
                 *write_files_atomic({tmp_path / "report.md": "m", tmp_path / "report.png": b"p"})]
    finally:
        os.umask(old)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in paths} == {p.name: mode for p in paths}
