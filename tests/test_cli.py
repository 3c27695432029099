"""The command line: help for every option, options derived from the config dataclasses, errors in one line."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from cot_tasks.errors import DataError
from harness_plugins.cli import COMMANDS, build_parser, main
from trainers.config import TrainConfig


def _subparsers(parser: argparse.ArgumentParser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,), sub
                yield from _subparsers(sub, prefix + (name,))


def test_every_command_group_has_a_module_of_its_name():
    names = {path[0] for path, _ in _subparsers(build_parser())}
    assert set(COMMANDS) <= names


def test_every_option_has_help_text():
    missing = [f"{' '.join(path)} {a.option_strings or a.dest}" for path, sub in _subparsers(build_parser())
               for a in sub._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
               and not (a.help or "").strip()]
    assert not missing, missing


def test_help_shows_defaults_and_the_conditions(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 3.0)" in out and "(default: 5e-05)" in out and "(default: tiny)" in out
    assert "keytokens_post:ARG" in out and "shuffled_post" in out


def test_train_options_are_the_config_fields():
    """Every TrainConfig field a user sets from the command line, none copied by hand: the parsed
    options rebuild the same config."""
    from harness_plugins.cli.options import config_from_args

    parser = build_parser()
    args = parser.parse_args(["train", "--dataset", "obqa", "--condition", "pre", "--output", "o", "--lr", "0.001",
                              "--no-target-only-logits", "--limit", "7", "--mixed-precision", "bf16"])
    config = config_from_args(TrainConfig, args)
    assert config == dataclasses.replace(TrainConfig(), dataset="obqa", condition="pre", output="o", lr=0.001,
                                         target_only_logits=False, limit=7, mixed_precision="bf16")
    flags = {s for a in parser._subparsers._group_actions[0].choices["train"]._actions for s in a.option_strings}
    for f in dataclasses.fields(TrainConfig):
        if not dataclasses.is_dataclass(f.default_factory() if f.default_factory is not dataclasses.MISSING
                                        else f.default):
            assert "--" + f.name.replace("_", "-") in flags, f.name


@pytest.mark.parametrize("argv, make", [
    (["attribute", "--model", "m", "--dataset", "obqa", "--rationales", "r", "--out", "o", "--steps", "8"],
     lambda cls: cls(model="m", dataset="obqa", rationales=Path("r"), out=Path("o"), steps=8)),
    (["rationales", "generate", "--teacher", "t", "--dataset", "csqa", "--out", "o", "--do-sample"],
     lambda cls: cls(teacher="t", dataset="csqa", out=Path("o"), do_sample=True)),
    (["lens", "ckpt", "--dataset", "quarel", "--out", "o", "--batch-size", "4"],
     lambda cls: cls(dataset="quarel", out=Path("o"), batch_size=4)),
])
def test_attribute_generate_and_lens_options_are_their_config_fields(argv, make):
    """Each default stated once, in the config: the parsed options rebuild the config the library would make."""
    from harness_plugins.cli.options import config_from_args
    from harness_plugins.grid.config import AttributionOptions
    from harness_plugins.lens.config import LensOptions
    from trainers.attribution import AttributionConfig
    from trainers.teacher import GenerateConfig

    cls = {"attribute": AttributionConfig, "rationales": GenerateConfig, "lens": LensOptions}[argv[0]]
    assert config_from_args(cls, build_parser().parse_args(argv)) == make(cls)
    made = AttributionConfig(model="m", dataset="csqa", rationales=Path("r"), out=Path("o"))
    assert (AttributionOptions().steps, AttributionOptions().baseline) == (made.steps, made.baseline)


def test_eval_without_arguments_says_how(capsys):
    assert main(["eval"]) == 2
    err = capsys.readouterr().err
    assert "usage: cot-distill eval" in err and '"source": "sample"' in err


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    bad = ["data", "check", "--dataset", "csqa", "--source", str(tmp_path / "missing")]
    assert main(bad) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    with pytest.raises((DataError, FileNotFoundError)):
        main(["--debug", *bad])
    monkeypatch.setenv("COT_DISTILL_DEBUG", "1")
    with pytest.raises((DataError, FileNotFoundError)):
        main(bad)


def test_lens_needs_an_output_folder(tiny_checkpoint, capsys):
    with pytest.raises(SystemExit):
        main(["lens", str(tiny_checkpoint), "--dataset", "csqa"])
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["tasks"], ["run", "--help"], ["train", "--help"]])
def test_help_and_tasks_answer_without_torch_or_lm_eval(argv):
    """What makes ``--help`` slow (seconds) is importing torch, transformers or lm-eval: none of them may load."""
    import subprocess
    import sys

    code = ("import sys\nfrom harness_plugins.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit:\n    pass\n"
            "heavy = ('torch', 'transformers', 'lm_eval', 'datasets', 'accelerate')\n"
            "print('HEAVY', sorted(m for m in heavy if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1] == "HEAVY []"


@pytest.mark.parametrize("flag, value, setting", [
    ("--limit", "-1", "limit"), ("--limit", "0", "limit"), ("--warmup-ratio", "1", "warmup_ratio"),
    ("--weight-decay", "-0.1", "weight_decay"), ("--max-grad-norm", "-1", "max_grad_norm"),
    ("--save-steps", "-5", "save_steps"), ("--epochs", "0", "epochs"), ("--lr", "-1e-4", "lr"),
    ("--batch-size", "0", "batch_size"), ("--grad-accum", "0", "grad_accum"),
])
def test_train_numbers_out_of_range_are_one_line_naming_the_setting(tmp_path, capsys, flag, value, setting):
    out = tmp_path / "ckpt"
    assert main(["train", "--dataset", "csqa", "--condition", "none", "--output", str(out), f"{flag}={value}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and setting in err
    assert not out.exists()


@pytest.mark.parametrize("argv", [
    ["train", "--dataset", "csqa", "--condition", "none", "--output", "{file}"],
    ["train", "--dataset", "csqa", "--condition", "none", "--output", "{file}/sub"],
    ["report", "{grid}", "--out", "{file}"],
])
def test_an_output_path_that_is_a_file_is_one_line_naming_it(tmp_path, capsys, argv):
    from test_report import _grid

    file = tmp_path / "taken"
    file.write_text("mine")
    grid = _grid(tmp_path)
    argv = [a.format(file=file, grid=grid) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(file) in err and "remove it or choose another path" in err
    assert file.read_text() == "mine" and not list(grid.glob("report*"))


def test_os_errors_name_the_path_and_the_fix():
    from harness_plugins.cli import os_error_line

    assert os_error_line(PermissionError(13, "Permission denied", "/ro/out")) == \
        "/ro/out: not writable here: choose another path or fix its permissions"
    assert os_error_line(IsADirectoryError(21, "Is a directory", "x.jsonl")).startswith("x.jsonl: a folder is there")
    assert os_error_line(DataError("ours, as it is")) == "ours, as it is"
    assert os_error_line(FileNotFoundError("no such thing: x")) == "no such thing: x"
