"""``cot-distill lens``'s settings, each default stated once (``run_lens`` and the CLI read them here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cot_tasks.data import DEFAULT_SOURCE
from trainers.config import option

TUNED_LIMIT = 512  # training prompts of a tuned lens when --tuned-limit is not given


@dataclass(frozen=True)
class LensOptions:
    dataset: str = option(help="whose eval prompts are decoded")
    out: Path = option(help="output folder for lens_DATASET.csv and .png")
    source: str = option(DEFAULT_SOURCE, "sample, hub or a folder of the original files")
    split: str | None = option(None, "default: the dataset's eval split")
    limit: int | None = option(None, "score only the first N examples")
    tuned: bool = option(False, "also a tuned lens (needs the tuned-lens package)")
    tuned_limit: int | None = option(None, f"training prompts for the tuned lens (only with --tuned; unset: "
                                           f"{TUNED_LIMIT})")
    batch_size: int = option(16, "prompts per forward")
    device: str | None = option(None, "default: cuda if available, else cpu")
