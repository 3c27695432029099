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
from cot_tasks.prompts import TARGET_DELIMITER

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


def lm_eval_adds_special_tokens(model_type: str) -> bool:
    """Whether the installed lm-eval's HFLM, with default arguments, encodes a context with the
    tokenizer's special tokens (the BOS of Llama- and Gemma-style tokenizers) for this model type.

    The one place that knows: lm-eval <= 0.4.9 defaults ``add_bos_token=False`` and encodes
    without special tokens except for Gemma-family model types; from 0.4.10 the default is
    None, which leaves the tokenizer's own default (special tokens on). Detected from HFLM's
    signature rather than a version number, so a patched or backported lm-eval is read as it is.
    """
    import inspect

    from lm_eval.models.huggingface import HFLM

    default = inspect.signature(HFLM.__init__).parameters["add_bos_token"].default
    if default is None:
        return True
    return bool(default) or "gemma" in model_type


def _ids(tokenizer, text: str, special: bool) -> list[int]:
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def _name(tokenizer) -> str:
    return getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__


def encode(tokenizer, prompt: str, target: Target, max_length: int, *, special_tokens: bool = True,
           label: str | None = None, one_token: bool = True, example_id: str = "?") -> Encoded:
    """Prompt + target + EOS, tokenised the way lm-eval scores it; an over-long rationale is cut.

    As lm-eval's ``_encode_pair`` does, the prompt is encoded alone and the pair
    whole, and the target is the whole's tokens past the prompt's count, so training
    sees exactly the tokens the evaluation scores. ``special_tokens``: whether lm-eval
    adds them (:func:`lm_eval_adds_special_tokens`). Only ``target.body`` (the rationale)
    is ever cut, in the token space of the whole encoding: tokenising the pieces
    separately would give SentencePiece tokenizers a stray ``▁`` before each piece.

    ``label`` (label-first conditions): the target must open with the label's tokens as lm-eval
    encodes context + continuation; with ``one_token`` (MCF's letters) the first target token must
    decode to exactly this label. A tokenizer that cannot spell it so fails every example of that
    label alike, so this stops the run (a skip would silently drop one answer letter).
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise DataError("the student tokenizer has no EOS token")
    prompt_ids = _ids(tokenizer, prompt, special_tokens)
    n = len(prompt_ids)
    text = prompt + target.text
    whole = _ids(tokenizer, text, special_tokens)
    ids = prompt_ids + whole[n:] + [eos]
    truncated = len(ids) > max_length
    if truncated:
        ids = _cut_body(tokenizer, text, ids, n, special_tokens, len(prompt) + len(target.head), len(target.body),
                        max_length, example_id)
    if label is not None:
        _check_label_opens(tokenizer, prompt, ids, n, label, special_tokens, one_token, example_id)
    return Encoded(tuple(ids), n, truncated=truncated)


def _check_label_opens(tokenizer, prompt: str, ids: list[int], n: int, label: str, special: bool, one_token: bool,
                       example_id: str) -> None:
    """The target opens with exactly the tokens lm-eval scores for the label: those of context + " " + label
    past the context's (``one_token``: MCF's letter, also one token of its own)."""
    if one_token:
        first = tokenizer.decode(ids[n:n + 1]).strip()
        if first != label:
            raise DataError(f"example {example_id!r}: the first target token is {first!r}, not the label "
                            f"{label!r}, under tokenizer {_name(tokenizer)!r}; label-first conditions need "
                            "the label as a token of its own")
        return
    want = _ids(tokenizer, prompt + TARGET_DELIMITER + label, special)[n:]
    if not want or not tokenizer.decode(want).strip():
        raise DataError(f"example {example_id!r}: the answer text {label!r} tokenises to nothing under "
                        f"{_name(tokenizer)!r}")
    if ids[n:n + len(want)] != want:
        raise DataError(f"example {example_id!r}: the target does not open with the {len(want)} tokens lm-eval "
                        f"scores for the answer {label!r} after this prompt (it opens with "
                        f"{tokenizer.decode(ids[n:n + len(want)])!r}) under tokenizer {_name(tokenizer)!r}")


def _cut_body(tokenizer, text: str, ids: list[int], n_prompt: int, special: bool, body_start: int,
              body_len: int, max_length: int, example_id: str) -> list[int]:
    """Drop the last rationale tokens of ``ids`` (``text`` encoded whole) until it fits."""
    if body_len and not tokenizer.is_fast:
        raise DataError(f"example {example_id!r}: cutting an over-long rationale needs a fast tokenizer's "
                        f"offsets; {_name(tokenizer)!r} is slow; raise --max-length")
    body = []
    if body_len:
        offsets = tokenizer(text, add_special_tokens=special, return_offsets_mapping=True)["offset_mapping"]
        # Tokens wholly inside the rationale's characters; one straddling its edges belongs to
        # the label or the answer cue and is kept.
        body = [i for i in range(n_prompt, len(ids) - 1)
                if body_start <= offsets[i][0] < offsets[i][1] <= body_start + body_len]
    lo, hi = (body[0], body[-1] + 1) if body else (len(ids) - 1, len(ids) - 1)
    room = max_length - (len(ids) - (hi - lo))
    if room < 0:
        raise DataError(f"example {example_id!r}: prompt and label alone take {max_length - room} tokens "
                        f"> max_length {max_length}; raise --max-length")
    return ids[:lo + room] + ids[hi:]


def right_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids right-padded to the longest sequence, and the attention mask (1 on real tokens): the one padding
    the trainer, attribution and the lens share (causal models: pads never leak back)."""
    width = max(len(seq) for seq in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def collate(items: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest item in the batch (dynamic padding); labels are -100 on prompt and padding."""
    input_ids, attention = right_pad([it.input_ids for it in items], pad_id)
    labels = torch.full(input_ids.shape, IGNORE, dtype=torch.long)
    for row, it in enumerate(items):
        labels[row, it.n_prompt:len(it.input_ids)] = input_ids[row, it.n_prompt:len(it.input_ids)]
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


def step_token_counts(schedule: Sequence[Sequence[int]], n_targets: Sequence[int], per_step: int) -> list[int]:
    """Target tokens of each optimizer step, over all its micro-batches and processes.

    Process r takes ``schedule[r::world]`` and steps every ``grad_accum`` of its
    micro-batches, so step s covers ``schedule[s * per_step:(s + 1) * per_step]``
    (``per_step = world * grad_accum``), whichever process holds which.
    """
    return [sum(n_targets[i] for batch in schedule[s:s + per_step] for i in batch)
            for s in range(0, len(schedule), per_step)]


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
