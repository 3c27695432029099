"""Integrated gradients, the prompt's keys and values reused: the attribution method ``integrated_gradients``.

F = log p(gold label | prompt + " " + rationale + "\\nAnswer:") -- the ``pre`` target layout; in the cloze
formulation the label is the gold answer text, all its tokens -- is attributed to the input embeddings with
captum's LayerIntegratedGradients. The baseline replaces only the rationale tokens (by the pad or eos
embedding, or one named token), so prompt and cue get zero attribution and the rationale scores sum to
F(input) - F(baseline); the relative gap is each record's completeness error.

Speed comes from doing many examples per forward: ``trainers.attribution`` sorts examples by length, and
each captum call here runs a batch of examples right-padded with an attention mask x ``steps`` interpolation
points (chunked by ``internal_batch_size``). The prompt, the same at every step, runs once and its keys and
values are reused (:mod:`trainers.prompt_cache`). Only the label positions go through the LM head, so the
vocabulary-sized logits never exist for the whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from cot_tasks.errors import DataError
from cot_tasks.rationales.keytokens import DEFAULT_METHOD
from trainers.attribution_method import AttributionMethod, Scored, Scorer

if TYPE_CHECKING:
    from trainers.attribution import AttributionConfig, Encoded

BASELINE_HELP = ("what replaces the rationale tokens at the path's start: pad, eos, or token:TEXT, one student "
                 "token (token: the = ' the'). Where pad/eos is also the model's bos (SmolLM2: <|endoftext|>, a "
                 "likely attention sink) the path is near-singular and the integral does not converge; check the "
                 "completeness error")


def check_baseline(baseline: str) -> None:
    """A baseline name is pad, eos or token:TEXT with some text."""
    if baseline in ("pad", "eos") or (baseline.startswith("token:") and baseline[len("token:"):]):
        return
    raise DataError(f"unknown baseline {baseline!r} (pad, eos or token:TEXT, e.g. 'token: the')")


def baseline_token_id(tokenizer: Any, baseline: str) -> int:
    """The token id that replaces each rationale token at the path's start."""
    check_baseline(baseline)
    if baseline.startswith("token:"):
        text = baseline[len("token:"):]
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise DataError(f"baseline {baseline!r}: {text!r} is {len(ids)} tokens of this student, not one")
        return ids[0]
    from trainers.model import pad_id

    token_id = pad_id(tokenizer) if baseline == "pad" else tokenizer.eos_token_id
    if token_id is None:
        raise DataError(f"the tokenizer has no {baseline} token; use another baseline")
    return token_id


def label_logprob(model: Any):
    """F(input_ids, ...) -> log p(gold label tokens), one value per row.

    Runs the base model and applies the LM head only at the positions that
    predict the label, instead of materialising (rows x length x vocab) logits.
    """
    import torch

    from trainers.model import head_logits

    def forward(input_ids, attention_mask, label_pos, label_ids, label_mask):
        hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        rows = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
        logp = torch.log_softmax(head_logits(model, hidden[rows, label_pos - 1]).float(), dim=-1)
        picked = logp.gather(-1, label_ids[..., None]).squeeze(-1)
        return (picked * label_mask).sum(-1)

    return forward


def collate(items: Sequence[Encoded], pad_id: int, baseline_id: int, device: str):
    """Right-padded ids, attention mask, baseline ids (rationale -> baseline token) and label indices."""
    import torch

    from trainers.data import right_pad

    n, width = len(items), max(len(it.label) for it in items)
    ids, mask = right_pad([it.input_ids for it in items], pad_id)
    label_pos = torch.ones((n, width), dtype=torch.long)
    label_mask = torch.zeros((n, width))
    for row, it in enumerate(items):
        label_pos[row, : len(it.label)] = torch.tensor(it.label)
        label_mask[row, : len(it.label)] = 1
    base = ids.clone()
    for row, it in enumerate(items):
        base[row, it.rationale] = baseline_id
    label_ids = ids.gather(1, label_pos)
    extra = tuple(t.to(device) for t in (mask, label_pos, label_ids, label_mask))
    return ids.to(device), base.to(device), extra


def attribute_batch(model: Any, items: Sequence[Encoded], *, steps: int, pad_id: int, baseline_id: int,
                    device: str, internal_batch_size: int | None = None,
                    reuse_prompt: bool = True) -> list[dict[str, Any]]:
    """Scores per rationale token for several examples in one captum call, plus F(x), F(baseline).

    ``reuse_prompt``: run the prompt once and every step over the rationale, cue and label only
    (:mod:`trainers.prompt_cache`; not for sliding-window models, see ``prompt_cache.supported``); the
    prompt's attributions are zero either way (input equals baseline there), so the scores are the full
    sequence's up to float rounding.
    """
    import torch
    from captum.attr import LayerIntegratedGradients

    from trainers import prompt_cache

    if reuse_prompt and prompt_cache.supported(model):
        (prefix, prefix_mask), (ids, base), extra = prompt_cache.split(items, pad_id, baseline_id, device)
        extra = extra + prompt_cache.prefix_kv(model, prefix, prefix_mask)
        forward = prompt_cache.suffix_logprob(model)
        offsets = [it.rationale[0] for it in items]  # suffix column 0 is this input position
    else:
        ids, base, extra = collate(items, pad_id, baseline_id, device)
        forward = label_logprob(model)
        offsets = [0] * len(items)
    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    attributions = lig.attribute(ids, baselines=base, additional_forward_args=extra, n_steps=steps,
                                 internal_batch_size=internal_batch_size)
    with torch.no_grad():
        f_input, f_base = forward(ids, *extra), forward(base, *extra)
    per_token = attributions.sum(-1).detach().float().cpu()
    out = []
    for row, (it, offset) in enumerate(zip(items, offsets)):
        out.append({
            "scores": per_token[row, [p - offset for p in it.rationale]].tolist(),
            "total": float(per_token[row].sum()),  # all positions: the completeness check uses this
            "f_input": float(f_input[row]),
            "f_baseline": float(f_base[row]),
        })
    return out


def completeness_error(result: dict[str, Any]) -> float:
    """|sum of attributions - (F(x) - F(baseline))| / |F(x) - F(baseline)|."""
    gap = result["f_input"] - result["f_baseline"]
    return abs(result["total"] - gap) / max(abs(gap), 1e-8)


@dataclass(frozen=True)
class IntegratedGradients(AttributionMethod):
    """Settings ``steps`` and ``baseline`` (their defaults are ``AttributionConfig``'s); ``internal_batch_size``
    and ``reuse_prompt`` change only memory and speed, not the scores (up to float rounding)."""

    name: ClassVar[str] = DEFAULT_METHOD
    steps: int
    baseline: str
    internal_batch_size: int | None = None
    reuse_prompt: bool = True

    @classmethod
    def from_config(cls, config: AttributionConfig) -> IntegratedGradients:
        check_baseline(config.baseline)
        return cls(config.steps, config.baseline, config.internal_batch_size)

    def settings(self) -> dict[str, Any]:
        return {"steps": self.steps, "baseline": self.baseline}

    def scorer(self, model: Any, tokenizer: Any, device: str) -> Scorer:
        from trainers.model import pad_id

        pad, baseline_id = pad_id(tokenizer), baseline_token_id(tokenizer, self.baseline)

        def score(items: Sequence[Encoded]) -> list[Scored]:
            results = attribute_batch(model, items, steps=self.steps, pad_id=pad, baseline_id=baseline_id,
                                      device=device, internal_batch_size=self.internal_batch_size,
                                      reuse_prompt=self.reuse_prompt)
            return [Scored(r["scores"], completeness_error(r), {key: r[key] for key in ("f_input", "f_baseline")})
                    for r in results]

        return score
