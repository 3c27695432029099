"""lm-eval glue: a doc is ``Example.to_row()``; prompt and data come from the package."""

from __future__ import annotations

import datasets

from cot_tasks.data import EVAL_SPLIT, load_split
from cot_tasks.prompts import render_prompt
from cot_tasks.records import Example


def doc_to_text(doc: dict) -> str:
    return render_prompt(Example.from_row(doc))


def load(dataset: str, source: str = "hub", **metadata) -> datasets.DatasetDict:
    """``custom_dataset``: train + the dataset's eval split, read from ``source``.

    lm-eval calls this with the task's ``metadata`` merged with ``--metadata``
    (and, from its CLI, ``--model_args``) as keywords, plus ``dataset_kwargs``;
    only ``dataset`` and ``source`` concern us, the rest is ignored.
    """
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_list([ex.to_row() for ex in load_split(dataset, split, source=source)])
            for split in ("train", EVAL_SPLIT[dataset])
        }
    )
