"""``cot-distill``: one console command over the library functions.

Each command group lives in a module of its own name here with a
``register(subparsers)`` function; the work itself is a typed library function
that tests call directly.
"""

from __future__ import annotations

import argparse
import os
import sys

from cot_tasks.errors import DataError

COMMANDS = ("run", "train", "eval", "tasks", "data", "rationales", "attribute", "report", "compare", "lens",
            "students")
DEBUG_ENV = "COT_DISTILL_DEBUG"


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, where it has a meaningful one."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "(default" in text or default in (None, False, argparse.SUPPRESS)
                or not action.option_strings or isinstance(action, argparse.BooleanOptionalAction) and not default):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = Parser(prog="cot-distill", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show third-party progress bars and warnings (transformers, datasets, lm-eval)")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of an error instead of one line (also: {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"harness_plugins.cli.{name}").register(sub)
    return parser


def quiet_third_party() -> None:
    """Our own lines and progress bars only: the libraries we drive keep their bars and warnings to
    themselves unless -v."""
    import logging
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DATASETS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Bars a library draws with tqdm itself (transformers' GGUF conversion, lm-eval's requests) obey only
    # tqdm's own switch, read when tqdm is imported; ours pass ``disable`` explicitly, which wins over it.
    os.environ.setdefault("TQDM_DISABLE", "1")
    for name in ("lm-eval", "lm_eval", "transformers", "datasets", "accelerate", "huggingface_hub", "git"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # The environment is read at import: a library imported before us is told directly.
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(transformers|torch|lm_eval|accelerate)\b")


# What to do about a path the OS refused, by how it refused (the OS's words alone name no fix).
PATH_FIXES = {FileExistsError: "a file is there where a folder is needed: remove it or choose another path",
              NotADirectoryError: "a file is there where a folder is needed: remove it or choose another path",
              IsADirectoryError: "a folder is there where a file is needed: choose another path",
              PermissionError: "not writable here: choose another path or fix its permissions"}


def os_error_line(err: Exception) -> str:
    """``path: what is wrong: what to do`` for an OS error on a path; our own errors as they are."""
    fix = PATH_FIXES.get(type(err))
    if isinstance(err, DataError) or fix is None or not getattr(err, "filename", None):
        return str(err)
    return f"{err.filename}: {fix}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if not args.verbose:
        quiet_third_party()
    try:
        return int(args.func(args) or 0)
    except (DataError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
            PermissionError) as err:
        if debug:
            raise
        # Bad input is the user's to fix: one line, no traceback.
        print(f"cot-distill: error: {os_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cot-distill: interrupted (rerun to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
