"""Which answer a student's text names: a label letter (MCF) or an option's text (CF), and which questions the
cloze formulation can score. Shared by the lm-eval filters (cot_tasks/tasks/utils.py) and any script that
reads generations."""

from __future__ import annotations

import re
import sys
from typing import Sequence

from cot_tasks.errors import DataError
from cot_tasks.records import Example

# "Answer:", "answer is", "The answer is:" (any case): where a student says which label it takes.
_CUE = re.compile(r"\banswer\s*(?:is\b\s*:?|:)", re.IGNORECASE)
# A leading cue a label-first student may write before its label ("The answer is C").
_LEADING_CUE = re.compile(r"\s*(?:the\s+)?answer\s*(?:is\b\s*:?|:)", re.IGNORECASE)
# "(c)", "C", "C." ... : one letter, bracketed or not followed by another letter or digit.
_LABEL = re.compile(r"\s*(?:\(([A-Za-z])\)|([A-Za-z])(?![A-Za-z0-9]))(.*)", re.DOTALL)
# After a bare "A", these words still make it a label ("A because ..."); any other word makes it the article.
_REASON_WORDS = re.compile(r"\s+(?:because|since|as|so|is)\b", re.IGNORECASE)


def _commitment(text: str, reasoning_first: bool) -> str | None:
    """Where a student's answer starts: after its last cue (reasoning-first; None without one), or its
    output less a leading cue (label-first)."""
    if reasoning_first:
        cues = list(_CUE.finditer(text))
        return text[cues[-1].end():] if cues else None
    lead = _LEADING_CUE.match(text)
    return text[lead.end():] if lead else text


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
    said = _commitment(text, reasoning_first)
    return None if said is None else _label_at(said, labels)


def normalise_answer(text: str) -> str:
    """Case, whitespace and trailing punctuation do not change which option a text names."""
    return " ".join(text.lower().split()).rstrip(".,;:!?")


def extract_text(text: str, options: Sequence[str], *, reasoning_first: bool) -> str | None:
    """The option (one of ``options``, as spelled there) a CF student commits to, or None when it names none.

    Label-first students commit with how their output begins (after an optional leading cue);
    reasoning-first students with what follows their last answer cue. The output names an option when,
    normalised, it starts with the normalised option text and no letter or digit follows it; when one
    option is a prefix of another ("bank", "bank account"), the longest match wins.
    """
    text = _commitment(text, reasoning_first)
    if text is None:
        return None
    said = " ".join(text.lower().split())
    best = None
    for option in options:
        norm = normalise_answer(option)
        if norm and said.startswith(norm) and not said[len(norm):len(norm) + 1].isalnum():
            if best is None or len(norm) > len(normalise_answer(best)):
                best = option
    return best



def cf_scorable(examples: Sequence[Example], dataset: str, split: str) -> list[Example]:
    """The questions a cloze task can score: two options with the same text (after ``normalise_answer``)
    cannot be told apart by their text, so such a question is skipped, counted and reported on stderr
    (CSQA: 24 of 1,221 validation questions); an option whose text is empty is bad input."""
    kept, repeated = [], []
    for ex in examples:
        texts = [normalise_answer(t) for _, t in ex.choices]
        empty = [label for (label, _), t in zip(ex.choices, texts) if not t]
        if empty:
            raise DataError(f"{dataset} {split} doc {ex.id!r}: option {empty[0]} has no answer text; the cloze "
                            "formulation scores each option's text")
        (repeated if len(set(texts)) < len(texts) else kept).append(ex)
    if repeated:
        print(f"cot-distill: {dataset} {split} (cloze): {len(repeated)} of {len(examples)} questions skipped, two "
              f"of their options have the same text (first: {repeated[0].id!r})", file=sys.stderr, flush=True)
    if not kept:
        raise DataError(f"{dataset} {split}: no question has options with distinct texts to score in cloze form")
    return kept
