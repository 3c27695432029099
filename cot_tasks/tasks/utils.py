"""lm-eval glue: a doc is ``Example.to_row()`` (plus ``formulation`` in the cloze tasks); prompt and data
come from the package, so one function serves both formulations."""

from __future__ import annotations

from typing import Sequence

import datasets

from cot_tasks.answers import cf_scorable, extract_label, extract_text
from cot_tasks.data import DEFAULT_SOURCE, EVAL_SPLIT, load_split
from cot_tasks.errors import DataError
from cot_tasks.lmeval_samples import read_generations
from cot_tasks.prompts import CF, MCF, commit_context, gold_label, render_prompt
from cot_tasks.records import Example

# What a filter returns when the output names no answer (cot_tasks.answers says what names one).
INVALID = "[invalid]"


def _committed(text: str, doc: dict, reasoning_first: bool) -> str | None:
    if doc.get("formulation", MCF) == CF:
        return extract_text(text, doc["texts"], reasoning_first=reasoning_first)
    return extract_label(text, doc["labels"], reasoning_first=reasoning_first)


def _filtered(resps, docs, reasoning_first: bool):
    return [[_committed(r, doc, reasoning_first) or INVALID for r in doc_resps]
            for doc_resps, doc in zip(resps, docs)]


def first_label(resps, docs):
    """Filter ``first-label`` (lm-eval ``custom`` filter)."""
    return _filtered(resps, docs, reasoning_first=False)


def committed_label(resps, docs):
    """Filter ``committed-label`` (lm-eval ``custom`` filter)."""
    return _filtered(resps, docs, reasoning_first=True)


def process_gen(doc: dict, results: list[str]) -> dict[str, float]:
    """``exact_match`` of the filtered label (letter or answer text) and ``invalid`` (none extracted, scored
    wrong)."""
    (label,) = results
    gold = gold_label(Example.from_row(doc), doc.get("formulation", MCF))
    return {"exact_match": float(label == gold), "invalid": float(label == INVALID)}


def doc_to_text(doc: dict) -> str:
    return render_prompt(Example.from_row(doc), doc.get("formulation", MCF))


def commit_doc_to_text(doc: dict) -> str:
    return commit_context(Example.from_row(doc), doc["generation"], doc.get("formulation", MCF))


def _rows(examples: Sequence[Example], formulation: str, **extra) -> list[dict]:
    tag = {"formulation": formulation} if formulation != MCF else {}
    return [{**ex.to_row(), **tag, **{k: v[ex.id] for k, v in extra.items()}} for ex in examples]


def load(dataset: str, source: str = DEFAULT_SOURCE, entry: str = "lm-eval", heldout: int | None = None,
         formulation: str = MCF, **metadata) -> datasets.DatasetDict:
    """``custom_dataset``: train + the dataset's eval split, read from ``source``.

    lm-eval calls this with the task's ``metadata`` merged with ``--metadata``
    (and, from its CLI, ``--model_args``) as keywords, plus ``dataset_kwargs``;
    only ``dataset``, ``source``, ``heldout`` and ``entry`` (who called lm-eval: how a failed hub load
    names its fix, see cot_tasks.data.SOURCE_FIX) concern us, the rest is ignored.
    ``heldout`` (metadata) N: the eval split is replaced by the training questions from index N on, a
    held-out slice for choosing hyper-parameters of students trained on the first N (``train --limit N``)
    without ever scoring the real eval set; lm-eval's ``--limit`` then takes the slice's first docs.
    """
    train = load_split(dataset, "train", source, entry=entry)
    if heldout is None:
        scored = load_split(dataset, EVAL_SPLIT[dataset], source, entry=entry)
    else:
        if isinstance(heldout, bool) or not isinstance(heldout, int) or not 0 <= heldout < len(train):
            raise DataError(f"metadata 'heldout' must be an integer from 0 to {len(train) - 1} (the {dataset} "
                            f"training questions from that index on are scored), not {heldout!r}")
        train, scored = train[:heldout], train[heldout:]
    if formulation == CF:
        scored = cf_scorable(scored, dataset, EVAL_SPLIT[dataset] if heldout is None else f"train[{heldout}:]")
    return datasets.DatasetDict({
        "train": datasets.Dataset.from_list(_rows(train, formulation)),
        EVAL_SPLIT[dataset]: datasets.Dataset.from_list(_rows(scored, formulation)),
    })


def load_cf(dataset: str, **metadata) -> datasets.DatasetDict:
    """``custom_dataset`` of the cloze tasks: :func:`load` with each doc marked ``formulation: cf``."""
    return load(dataset, **{**metadata, "formulation": CF})


def load_commit(dataset: str, source: str = DEFAULT_SOURCE, generations: str | None = None,
                limit: int | None = None, entry: str = "lm-eval", formulation: str = MCF,
                **metadata) -> datasets.DatasetDict:
    """``custom_dataset`` of the commit tasks: each eval doc with the student's generation (``doc["generation"]``).

    ``generations`` (metadata) is the samples file of a ``cot_<ds>_gen`` run of
    the same student; every eval doc must have its generation. ``limit``: that run's
    ``--limit N`` (an integer), when it scored only the first N docs.
    """
    if not generations:
        raise DataError(f"the commit task of {dataset} needs metadata key 'generations': the samples file of "
                        f"its gen task (lm_eval --log_samples), e.g. --metadata '{{\"generations\": PATH}}'")
    split = EVAL_SPLIT[dataset]
    examples = load_split(dataset, split, source=source, entry=entry)
    if formulation == CF:
        examples = cf_scorable(examples, dataset, split)
    texts = read_generations(generations, dataset, split)
    unknown = sorted(set(texts) - {ex.id for ex in examples})
    if unknown:
        raise DataError(f"generations for {len(unknown)} docs not in {dataset} {split} from {source!r} "
                        f"(first: {unknown[0]!r})", path=generations)
    scored = examples[: int(limit)] if limit is not None else examples
    missing = [ex.id for ex in scored if ex.id not in texts]
    if missing:
        raise DataError(f"no generation for {len(missing)} of {len(scored)} {dataset} {split} docs "
                        f"(first: {missing[0]!r}); pass the gen run's --limit as metadata 'limit'",
                        path=generations)
    train = load_split(dataset, "train", source=source, entry=entry)
    return datasets.DatasetDict({
        "train": datasets.Dataset.from_list(_rows(train, formulation)),
        split: datasets.Dataset.from_list(_rows(scored, formulation, generation=texts)),
    })


def load_commit_cf(dataset: str, **metadata) -> datasets.DatasetDict:
    """``custom_dataset`` of the cloze commit tasks."""
    return load_commit(dataset, **{**metadata, "formulation": CF})
