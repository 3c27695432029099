"""``cot-distill tasks | tasks-dir``: our lm-eval task names and the folder that holds them."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("tasks-dir", help="print the lm-eval include path holding the cot_* tasks")
    p.set_defaults(func=_tasks_dir)

    p = sub.add_parser("tasks", help="list our lm-eval task and group names")
    p.set_defaults(func=_tasks)


def _tasks_dir(args) -> int:
    from harness_plugins.lmeval.registry import TASKS_DIR

    print(TASKS_DIR)
    return 0


def _tasks(args) -> int:
    # The names as cot_tasks.names spells them, without importing lm-eval (seconds, and torch with it);
    # tests/test_tasks.py checks they are exactly what lm-eval indexes in the task folder.
    from cot_tasks.names import ALL_NAMES

    print("\n".join(sorted(ALL_NAMES)))
    return 0
