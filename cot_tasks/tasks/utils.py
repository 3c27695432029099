"""lm-eval glue: a doc is ``Example.to_row()``; prompt and data come from the package."""

from __future__ import annotations

import re
from typing import Sequence

import datasets

from cot_tasks.data import DEFAULT_SOURCE, EVAL_SPLIT, load_split
from cot_tasks.errors import DataError
from cot_tasks.lmeval_samples import read_generations
from cot_tasks.prompts import commit_context, render_prompt
from cot_tasks.records import Example

INVALID = "[invalid]"
# "Answer:", "answer is", "The answer is:" (any case): where a student says which label it takes.
_CUE = re.compile(r"\banswer\s*(?:is\b\s*:?|:)", re.IGNORECASE)
# A leading cue a label-first student may write before its label ("The answer is C").
_LEADING_CUE = re.compile(r"\s*(?:the\s+)?answer\s*(?:is\b\s*:?|:)", re.IGNORECASE)
# "(c)", "C", "C." ... : one letter, bracketed or not followed by another letter or digit.
_LABEL = re.compile(r"\s*(?:\(([A-Za-z])\)|([A-Za-z])(?![A-Za-z0-9]))(.*)", re.DOTALL)
# After a bare "A", these words still make it a label ("A because ..."); any other word makes it the article.
_REASON_WORDS = re.compile(r"\s+(?:because|since|as|so|is)\b", re.IGNORECASE)


def _label_at(text: str, labels: Sequence[str]) -> str | None:
    m = _LABEL.match(text)
    if not m:
        return None
    bracketed, bare, rest = m.groups()
    letter = (bracketed or bare).upper()
    if letter not in labels:
        return None
    if bare in ("A", "a") and re.match(r"\s+\w", rest) and not _REASON_WORDS.match(rest):
        return None  # "A bird can fly": the article
    return letter


def extract_label(text: str, labels: Sequence[str], *, reasoning_first: bool) -> str | None:
    """The label a student commits to in its generated ``text``, or None when it names none.

    Label-first students commit with their first word (``"B."``, ``"(b)"``, ``"The
    answer is C"``, ``"C because ..."``); whatever they write after it, a later
    ``"Answer: D"`` included, is not their answer. Reasoning-first students commit
    after their last answer cue. Only ``labels`` (the doc's letters) count.
    """
    if reasoning_first:
        cues = list(_CUE.finditer(text))
        return _label_at(text[cues[-1].end():], labels) if cues else None
    lead = _LEADING_CUE.match(text)
    return _label_at(text[lead.end():] if lead else text, labels)


def _filtered(resps, docs, reasoning_first: bool):
    return [[extract_label(r, doc["labels"], reasoning_first=reasoning_first) or INVALID for r in doc_resps]
            for doc_resps, doc in zip(resps, docs)]


def first_label(resps, docs):
    """Filter ``first-label`` (lm-eval ``custom`` filter)."""
    return _filtered(resps, docs, reasoning_first=False)


def committed_label(resps, docs):
    """Filter ``committed-label`` (lm-eval ``custom`` filter)."""
    return _filtered(resps, docs, reasoning_first=True)


def process_gen(doc: dict, results: list[str]) -> dict[str, float]:
    """``exact_match`` of the filtered label and ``invalid`` (no label extracted, scored wrong)."""
    (label,) = results
    return {"exact_match": float(label == doc["answer"]), "invalid": float(label == INVALID)}


def doc_to_text(doc: dict) -> str:
    return render_prompt(Example.from_row(doc))


def commit_doc_to_text(doc: dict) -> str:
    return commit_context(Example.from_row(doc), doc["generation"])


def load(dataset: str, source: str = DEFAULT_SOURCE, entry: str = "lm-eval", heldout: int | None = None,
         **metadata) -> datasets.DatasetDict:
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
    return datasets.DatasetDict({
        "train": datasets.Dataset.from_list([ex.to_row() for ex in train]),
        EVAL_SPLIT[dataset]: datasets.Dataset.from_list([ex.to_row() for ex in scored]),
    })


def load_commit(dataset: str, source: str = DEFAULT_SOURCE, generations: str | None = None,
                limit: int | None = None, entry: str = "lm-eval", **metadata) -> datasets.DatasetDict:
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
    train = [ex.to_row() for ex in load_split(dataset, "train", source=source, entry=entry)]
    return datasets.DatasetDict({
        "train": datasets.Dataset.from_list(train),
        split: datasets.Dataset.from_list([{**ex.to_row(), "generation": texts[ex.id]} for ex in scored]),
    })
