"""The bundled sample: hand-written questions in each dataset's original file layout.

``sample_dir(dataset)`` is itself a valid "directory of original files" source,
so ``--source sample`` and ``--source <that dir>`` load the same examples. Every
train item has a hand-written rationale in ``rationale_path(dataset)``.
"""

from __future__ import annotations

from pathlib import Path

from cot_tasks.errors import DataError
from cot_tasks.records import DATASETS

# From the package, never the working directory, so an installed copy finds its data.
SAMPLE_DIR = Path(__file__).resolve().parent


def sample_dir(dataset: str) -> Path:
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")
    return SAMPLE_DIR / dataset


def rationale_path(dataset: str) -> Path:
    return sample_dir(dataset) / "rationales.jsonl"
