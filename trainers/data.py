"""Tokenisation, truncation, length-grouped batches and collation for the student trainer."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Sequence

import torch

from cot_tasks.conditions import Target
from cot_tasks.errors import DataError

IGNORE = -100  # label value cross-entropy skips: prompt and padding positions


@dataclass(frozen=True)
class Encoded:
    """One training sequence: ``input_ids[:n_prompt]`` is the prompt (no loss), the rest the target + EOS."""

    input_ids: tuple[int, ...]
    n_prompt: int
    truncated: bool = False

    @property
    def n_target(self) -> int:
        return len(self.input_ids) - self.n_prompt


def _ids(tokenizer, text: str, special: bool = False) -> list[int]:
    if special:
        # The tokenizer's own default (BOS for Gemma, nothing for GPT-2), as lm-eval's HFLM encodes.
        return list(tokenizer(text)["input_ids"])
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def encode(tokenizer, prompt: str, target: Target, max_length: int, *, example_id: str = "?") -> Encoded:
    """Prompt + target + EOS, tokenised the way lm-eval scores it; an over-long rationale is cut.

    Like lm-eval, the pair is tokenised whole and split where the prompt's own
    tokens end, so training sees exactly the tokens the evaluation scores. Only
    ``target.body`` (the rationale) is ever cut: the prompt with its choices and
    the label survive or the example is refused.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise DataError("the student tokenizer has no EOS token")
    prompt_ids = _ids(tokenizer, prompt, special=True)
    whole = _ids(tokenizer, prompt + target.text, special=True)
    if whole[: len(prompt_ids)] != prompt_ids:
        # The tokenizer merged across the prompt/target seam: fall back to separate pieces.
        whole = prompt_ids + _ids(tokenizer, target.text)
    ids = whole + [eos]
    if len(ids) <= max_length:
        return Encoded(tuple(ids), len(prompt_ids))
    head, body, tail = (_ids(tokenizer, part) for part in (target.head, target.body, target.tail))
    room = max_length - len(prompt_ids) - len(head) - len(tail) - 1
    if room < 0:
        raise DataError(f"example {example_id!r}: prompt and label alone take {max_length - room} tokens "
                        f"> max_length {max_length}; raise --max-length")
    return Encoded(tuple(prompt_ids + head + body[:room] + tail + [eos]), len(prompt_ids), truncated=True)


def collate(items: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest item in the batch (dynamic padding); labels are -100 on prompt and padding."""
    width = max(len(it.input_ids) for it in items)
    input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, it in enumerate(items):
        n = len(it.input_ids)
        input_ids[row, :n] = torch.tensor(it.input_ids)
        attention[row, :n] = 1
        labels[row, it.n_prompt:n] = input_ids[row, it.n_prompt:n]
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: random.Random,
                           mega: int = 50) -> list[list[int]]:
    """One epoch of batches of similar-length items, in random order.

    Shuffle, cut into chunks of ``mega`` batches, sort each chunk by length and
    batch it; then shuffle the batches. Padding stays small while the order stays random.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * mega
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: -lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def batch_schedule(lengths: Sequence[int], batch_size: int, epochs: float, seed: int) -> list[list[int]]:
    """Every micro-batch of the whole run, epoch after epoch; a fractional last epoch is cut short.

    Each epoch's order depends only on (seed, epoch), so a resumed run rebuilds
    the same schedule and just skips what it already did.
    """
    out: list[list[int]] = []
    whole = int(epochs)
    for epoch in range(whole + (epochs > whole)):
        batches = length_grouped_batches(lengths, batch_size, random.Random(f"{seed}|epoch{epoch}"))
        if epoch == whole:  # fractional epoch
            batches = batches[: max(1, round(len(batches) * (epochs - whole)))]
        out += batches
    return out


def data_sha256(rows: Sequence[tuple[str, str, str]]) -> str:
    """Hash of (id, prompt, target) rows: two runs trained on the same text get the same hash."""
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
