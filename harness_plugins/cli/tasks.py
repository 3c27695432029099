"""``cot-distill tasks | tasks-dir | eval``: our lm-eval tasks and lm-eval's CLI with them included."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("tasks-dir", help="print the lm-eval include path holding the cot_* tasks")
    p.set_defaults(func=_tasks_dir)

    p = sub.add_parser("tasks", help="list our lm-eval task and group names")
    p.set_defaults(func=_tasks)

    # '+' as prefix so every '-' option (even -h) is passed through to lm-eval untouched.
    p = sub.add_parser(
        "eval",
        help="run lm-eval's CLI with our tasks included (all arguments go to lm_eval)",
        add_help=False,
        prefix_chars="+",
    )
    p.add_argument("lm_eval_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_eval)


def _tasks_dir(args) -> int:
    from harness_plugins.registry import TASKS_DIR

    print(TASKS_DIR)
    return 0


def _tasks(args) -> int:
    from harness_plugins.registry import our_task_names

    print("\n".join(our_task_names()))
    return 0


def _eval(args) -> int:
    from harness_plugins.evaluate import run_lm_eval

    return run_lm_eval(args.lm_eval_args)
