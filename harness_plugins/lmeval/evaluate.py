"""Score a checkpoint on our tasks with lm-eval, saving what ``lm_eval --output_path --log_samples`` saves."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, redirect_stderr
from typing import Any

from cot_tasks.data import DEFAULT_SOURCE
from cot_tasks.errors import DataError
from harness_plugins.lmeval.registry import TASKS_DIR, our_task_names, task_manager


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    tasks: str | Iterable[str],
    *,
    source: str | os.PathLike = DEFAULT_SOURCE,
    output_dir: str | os.PathLike,
    batch_size: int = 8,
    device: str = "cpu",
    limit: int | float | None = None,
    log_samples: bool = True,
    trust_remote_code: bool = False,
    gen_kwargs: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    dtype: str | None = None,
    quiet: bool = False,
) -> dict:
    """Run ``lm_eval.simple_evaluate`` with ``model="hf"`` on ``checkpoint``; return the results dict.

    Files go through lm-eval's own EvaluationTracker, so ``output_dir`` ends up
    exactly as after ``lm_eval --output_path output_dir --log_samples``
    (``<model>/results_<time>.json`` and ``<model>/samples_<task>_<time>.jsonl``)
    and leaderboard tooling reads it unchanged. ``gen_kwargs`` is lm-eval's
    ``--gen_kwargs`` string (e.g. ``"max_gen_toks=32"``). ``metadata``: more
    ``--metadata`` keys beside ``source`` (the commit tasks' ``generations``).
    ``dtype``: lm-eval's ``dtype`` model argument (``bfloat16``, ``float32``; None: the checkpoint's own).
    ``quiet``: lm-eval's progress bars, warnings and subprocess chatter are not shown.
    """
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker

    from trainers.model import check_model_path

    check_model_path(os.fspath(checkpoint), "checkpoint")
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    metadata = {"entry": "python", **(metadata or {}), "source": os.fspath(source)}
    # Indexing lm-eval's ~15k built-in tasks takes seconds; only do it when one is asked for.
    builtin_needed = not set(tasks) <= set(our_task_names())
    tracker = EvaluationTracker(output_path=os.fspath(output_dir))
    with silenced_stderr() if quiet else nullcontext():
        results = simple_evaluate(
            model="hf",
            model_args={"pretrained": os.fspath(checkpoint), "trust_remote_code": trust_remote_code,
                        **({"dtype": dtype} if dtype else {})},
            tasks=tasks,
            batch_size=batch_size,
            device=device,
            limit=limit,
            gen_kwargs=gen_kwargs,
            log_samples=log_samples,
            evaluation_tracker=tracker,
            task_manager=task_manager(metadata, include_defaults=builtin_needed),
        )
    # As lm-eval's CLI does: samples go to their own files, not into results_*.json.
    samples = results.pop("samples", None)
    tracker.save_results_aggregated(results=results, samples=samples)
    if samples is not None:
        for name in results["configs"]:
            tracker.save_results_samples(task_name=name, samples=samples[name])
    return results


@contextmanager
def silenced_stderr() -> Iterator[None]:
    """Standard error to /dev/null for a while, at the file-descriptor level: third-party progress bars,
    logging handlers and the ``git`` lm-eval runs to stamp its results all write there. An exception still
    propagates and is reported after the descriptor is back."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with open(os.devnull, "w") as sink, redirect_stderr(sink):
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def flag_values(argv: list[str], flag: str) -> list[str]:
    """Every value given to ``flag`` in an lm-eval argument list (``--flag VALUE`` or ``--flag=VALUE``)."""
    values = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == flag]
    return values + [arg.partition("=")[2] for arg in argv if arg.startswith(flag + "=")]


def run_lm_eval(argv: list[str]) -> int:
    """lm-eval's own command line (its real entry function) with ``--include_path TASKS_DIR`` added."""
    if any(arg == "--include_path" or arg.startswith("--include_path=") for arg in argv):
        raise DataError(
            "cot-distill eval sets --include_path itself; to add more task folders run "
            f'lm_eval --include_path "{TASKS_DIR}" ... directly'
        )
    from lm_eval.__main__ import cli_evaluate

    from trainers.model import check_model_path

    for value in flag_values(argv, "--model_args"):  # a local model folder is checked here, in one line
        for part in value.split(","):
            key, _, name = part.partition("=")
            if key.strip() == "pretrained" and name:
                check_model_path(name.strip(), "pretrained")
    for value in flag_values(argv, "--metadata"):  # lm-eval raises a traceback on JSON it cannot parse
        if "{" in value:
            try:
                json.loads(value)
            except json.JSONDecodeError as err:
                raise DataError(f"--metadata is not JSON ({err.msg} at character {err.pos}): write it as "
                                """'{"source": "hub"}', double quotes inside single ones""") from None
    # Every lm-eval version parses sys.argv itself (0.4.10+ takes no argv argument).
    saved = sys.argv
    sys.argv = ["lm_eval", *argv, "--include_path", str(TASKS_DIR)]
    try:
        cli_evaluate()
    finally:
        sys.argv = saved
    return 0

