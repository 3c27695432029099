"""The docs name only commands and flags the CLI has, their links resolve, and their cheap commands run.

Every ``cot-distill ...`` (or ``-m harness_plugins ...``) invocation in a fenced shell block of README.md or
docs/*.md is checked against ``harness_plugins.cli.build_parser()``: each subcommand and nested subcommand
exists, and each ``--flag`` is one of that subcommand's own option strings. ``cot-distill eval`` hands every
argument to lm_eval, so for it only the subcommand is checked.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness_plugins.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh"}
SEPARATORS = {"&&", "||", ";", "|", "&", ";;", "|&"}
PASS_THROUGH = {("eval",)}  # every argument goes to lm_eval
# Documented commands that read only the bundled files: run as written, each well under a second.
CHEAP = {("tasks",), ("tasks-dir",), ("students", "list"), ("data", "check")}


@dataclass(frozen=True)
class Invocation:
    where: str  # file:line
    args: tuple[str, ...]  # the words after `cot-distill`


def fenced_commands(text: str) -> list[tuple[int, str]]:
    """(line number, logical line) of every line in a fenced shell block; backslash continuations joined."""
    out: list[tuple[int, str]] = []
    fence = None
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if fence is None:
            if m := re.match(r"^(`{3,}|~{3,})\s*([\w+-]*)", stripped):
                fence = m.group(1) if m.group(2).lower() in SHELL_LANGS else "skip:" + m.group(1)
            continue
        marker = fence.removeprefix("skip:")
        if stripped.startswith(marker) and set(stripped) <= set(marker[0]):
            fence = None
            if pending:
                out.append((start, pending))
            pending = ""
            continue
        if fence.startswith("skip:"):
            continue
        if stripped.startswith("$ "):
            stripped = stripped[2:]
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
        else:
            out.append((start, pending + stripped))
            pending = ""
    return out


def _segments(line: str) -> list[list[str]]:
    """The simple commands of a shell line: split at && ; | and friends, with $(...) as commands of their own."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    stack: list[list[str]] = [[]]
    segments: list[list[str]] = []
    skip = False
    for tok in lex:
        if skip:
            skip = False
        elif tok == "(":
            stack.append([])
        elif tok == ")":
            if len(stack) > 1:
                segments.append(stack.pop())
        elif tok in SEPARATORS:
            segments.append(stack[-1])
            stack[-1] = []
        elif set(tok) <= set("<>&"):  # a redirection: its target is no argument
            skip = True
        else:
            for inner in re.findall(r"\$\(([^()]*)\)", tok):  # quoted "$(cot-distill tasks-dir)"
                segments.extend(_segments(inner))
            stack[-1].append(tok)
    segments.extend(stack)
    return segments


def invocations_in_line(line: str) -> list[tuple[str, ...]]:
    """The argument words of every cot-distill invocation in one logical shell line."""
    found = []
    for words in _segments(line):
        for i, word in enumerate(words):
            if word == "cot-distill" or word.endswith("/cot-distill"):
                found.append(tuple(words[i + 1:]))
                break
            if word == "-m" and i + 1 < len(words) and words[i + 1] == "harness_plugins":
                found.append(tuple(words[i + 2:]))
                break
    return found


def doc_invocations(paths=DOCS) -> tuple[list[Invocation], list[str]]:
    """The invocations in the docs' fenced shell blocks, and the lines naming cot-distill that shlex cannot split."""
    out, unparsed = [], []
    for path in paths:
        for number, line in fenced_commands(path.read_text()):
            if "cot-distill" not in line and "harness_plugins" not in line:
                continue
            where = f"{path.relative_to(ROOT)}:{number}"
            try:
                out.extend(Invocation(where, args) for args in invocations_in_line(line))
            except ValueError as err:
                unparsed.append(f"{where}: {err}: {line}")
    return out, unparsed


def _subparsers(parser: argparse.ArgumentParser):
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


def _is_flag(word: str) -> bool:
    return word.startswith("-") and word != "-" and word != "--" and not re.fullmatch(r"-\d[\d.e+-]*", word)


def check_invocation(args, parser: argparse.ArgumentParser | None = None) -> tuple[list[str], tuple[str, ...]]:
    """Problems with one invocation's words (empty when the CLI accepts its subcommands and flags) and its
    subcommand path, e.g. ('rationales', 'import')."""
    parser = parser or build_parser()
    problems: list[str] = []
    path: tuple[str, ...] = ()
    words = [w for w in args if w not in ("...", "…")]
    i = 0
    while (sub := _subparsers(parser)) is not None:
        options = _options(parser)
        # options of this level before its subcommand (e.g. `cot-distill -v run`)
        while i < len(words) and _is_flag(words[i]):
            name = words[i].split("=", 1)[0]
            if name not in options:
                problems.append(f"{' '.join(('cot-distill',) + path)}: no option {name}")
            elif options[name].nargs != 0 and "=" not in words[i]:
                i += 1
            i += 1
        if i >= len(words):
            if not set(words) & {"-h", "--help"}:
                problems.append(f"{' '.join(('cot-distill',) + path)}: no subcommand given "
                                f"(one of {', '.join(sub.choices)})")
            return problems, path
        name = words[i]
        if name not in sub.choices:
            problems.append(f"{' '.join(('cot-distill',) + path)}: no subcommand {name!r} "
                            f"(one of {', '.join(sub.choices)})")
            return problems, path
        path += (name,)
        parser = sub.choices[name]
        i += 1
        if path in PASS_THROUGH:
            return problems, path
    options = _options(parser)
    for word in words[i:]:
        if word == "--":
            break
        if _is_flag(word) and (name := word.split("=", 1)[0]) not in options:
            problems.append(f"cot-distill {' '.join(path)}: no option {name} "
                            f"(it has {', '.join(sorted(o for o in options if o.startswith('--')))})")
    return problems, path


INVOCATIONS, UNPARSED = doc_invocations()


# -- the checker itself ---------------------------------------------------------------------------------

def test_the_docs_hold_commands_to_check():
    paths = {check_invocation(inv.args)[1] for inv in INVOCATIONS}
    assert {("run",), ("train",), ("eval",), ("rationales", "import"), ("students", "fetch")} <= paths


def test_checker_rejects_a_made_up_flag():
    text = "```bash\ncot-distill train --dataset csqa --condition post \\\n  --no-such-flag 3 --output ckpt/\n```\n"
    (line_no, line), = fenced_commands(text)
    assert line_no == 2
    (args,) = invocations_in_line(line)
    problems, path = check_invocation(args)
    assert path == ("train",)
    assert len(problems) == 1 and "--no-such-flag" in problems[0]


def test_checker_rejects_unknown_subcommands_and_misplaced_flags():
    assert "no subcommand 'trian'" in check_invocation(["trian", "--dataset", "csqa"])[0][0]
    assert "no subcommand 'export'" in check_invocation(["rationales", "export", "--out", "x"])[0][0]
    assert check_invocation(["students"])[0]  # a group without its action
    # a flag of another subcommand
    assert "--steps" in check_invocation(["train", "--dataset", "csqa", "--steps", "3"])[0][0]
    assert "--flag-of-nothing" in check_invocation(["--flag-of-nothing", "tasks"])[0][0]


def test_checker_accepts_good_lines_and_passes_eval_through():
    assert check_invocation(["-v", "run", "grid.yaml", "--output", "/tmp/x"]) == ([], ("run",))
    assert check_invocation(["rationales", "import", "--format=dss", "in", "--dataset", "csqa", "--out", "o"]) \
        == ([], ("rationales", "import"))
    assert check_invocation(["eval", "--model", "hf", "--anything-lm-eval-takes"]) == ([], ("eval",))
    assert check_invocation(["train", "--no-trust-remote-code", "--lr", "-1e-4", "..."])[0] == []


def test_line_splitting_finds_every_invocation():
    line = ('cot-distill students fetch x && lm_eval --include_path "$(cot-distill tasks-dir)" --tasks t | tee log; '
            'cot-distill eval --model_args pretrained=$(cot-distill students path x),dtype=bf16 > out.txt  # a note')
    assert sorted(invocations_in_line(line)) == sorted([
        ("students", "fetch", "x"), ("tasks-dir",), ("students", "path", "x"),
        ("eval", "--model_args", "pretrained=$", ",dtype=bf16"),
    ])
    assert invocations_in_line("# cot-distill run --not-checked") == []
    assert invocations_in_line("accelerate launch --num_processes 2 -m harness_plugins train --lr 1") \
        == [("train", "--lr", "1")]
    text = "```yaml\noutput: cot-distill run --x\n```\n```\ncot-distill tasks\n```\n"
    assert [line for _, line in fenced_commands(text)] == ["cot-distill tasks"]


# -- the docs -------------------------------------------------------------------------------------------

def test_every_documented_command_line_parses():
    assert not UNPARSED


@pytest.mark.parametrize("inv", INVOCATIONS, ids=[f"{i.where} {' '.join(i.args[:2])}" for i in INVOCATIONS])
def test_documented_command_exists(inv):
    problems, _ = check_invocation(inv.args)
    assert not problems, f"{inv.where}: {'; '.join(problems)}"


def test_readme_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("```bash")
    assert lines[start + 1:start + 4] == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt . && cot-distill run",
        "pip install tox && tox",
        "```",
    ]
    assert all(not line.strip() or line.startswith("# ") for line in lines[:start])


def test_readme_is_one_screen_and_links_every_docs_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    assert "\n## Results\n" in text
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in text, f"README.md does not link docs/{page.name}"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_relative_links_resolve(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    missing = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        if not (path.parent / target.split("#", 1)[0]).exists():
            missing.append(target)
    assert not missing, f"{path.relative_to(ROOT)}: broken links {missing}"


def _runs_here(inv: Invocation) -> bool:
    """Cheap, and every path it names is there (not a placeholder such as path/to/commonsenseqa)."""
    return check_invocation(inv.args)[1] in CHEAP and all(
        (ROOT / w).exists() for w in inv.args if "/" in w and not w.startswith("-"))


CHEAP_INVOCATIONS = [inv for inv in INVOCATIONS if _runs_here(inv)]


def test_cheap_documented_commands_are_there():
    assert {check_invocation(inv.args)[1] for inv in CHEAP_INVOCATIONS} == CHEAP


@pytest.mark.parametrize("inv", CHEAP_INVOCATIONS, ids=[f"{i.where} {' '.join(i.args)}" for i in CHEAP_INVOCATIONS])
def test_cheap_documented_command_runs(inv, capsys):
    assert main(list(inv.args)) == 0, f"{inv.where}: cot-distill {' '.join(inv.args)}"
    assert capsys.readouterr().out.strip()


PYTHON_NAME = re.compile(r"`((?:cot_tasks|trainers|harness_plugins)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
FILE_NAME = re.compile(r"`((?:cot_tasks|trainers|harness_plugins)/[A-Za-z0-9_/]+\.(?:py|csv|yaml))")


def test_every_module_function_and_file_the_docs_name_exists():
    """A module moved or a function renamed cannot leave the docs pointing at nothing."""
    import importlib

    names = sorted({m for path in DOCS for m in PYTHON_NAME.findall(path.read_text(encoding="utf-8"))})
    files = sorted({m for path in DOCS for m in FILE_NAME.findall(path.read_text(encoding="utf-8"))})
    assert names and files
    for name in names:
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), name
                obj = getattr(obj, attr)
            break
        else:
            pytest.fail(f"{name}: no such module")
    for name in files:
        assert (ROOT / name).is_file(), name
