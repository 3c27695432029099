"""Where our lm-eval tasks live and a TaskManager that sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cot_tasks

# From the package, never the working directory, so an installed copy works anywhere.
TASKS_DIR = Path(cot_tasks.__file__).resolve().parent / "tasks"


def task_manager(metadata: dict[str, Any] | None = None, *, include_defaults: bool = True):
    """An ``lm_eval.tasks.TaskManager`` with our include path.

    ``metadata`` is what ``lm_eval --metadata`` would pass (e.g. ``{"source": "sample"}``);
    lm-eval merges it into every task's ``metadata`` and hands it to ``custom_dataset``.
    """
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS_DIR), include_defaults=include_defaults, metadata=metadata)


def our_task_names() -> list[str]:
    """Every task and group name defined in TASKS_DIR, as lm-eval indexed them."""
    return sorted(task_manager(include_defaults=False).all_tasks)
