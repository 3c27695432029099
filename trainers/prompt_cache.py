"""The prompt run once per example, its keys and values reused by every integrated-gradients step.

The attribution baseline replaces only rationale tokens, so everything before an example's
first rationale token (the prompt) has the same embeddings at every interpolation point and,
in a causal LM, the same activations. :func:`prefix_kv` runs those positions once;
:func:`suffix_logprob` is the score F over the remaining positions (rationale, answer cue,
label) given that cached context. The prompt's keys and values reach F as plain tensors in
captum's ``additional_forward_args``, so captum repeats them per step (and per internal batch)
exactly as it repeats the rest; integration stays captum's.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch


def supported(model) -> bool:
    """Whether a right-padded prompt cache gives the full sequence's context. It does where every layer sees
    the whole prefix; a sliding-window layer (Gemma-2/3, Mistral) keeps only the cache's last slots, which
    for a shorter prompt are its padding, so its scores would move (measured: by ~0.2 nats on a tiny
    Gemma-3). Such models run the full sequence at every step instead."""
    config = getattr(model, "config", None)
    if any("sliding" in str(kind) for kind in getattr(config, "layer_types", None) or ()):
        return False
    return not (getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True))


def _layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) per layer of a transformers cache (``layers`` since 4.56, ``key_cache`` before, legacy
    tuples from 4.x models without cache classes)."""
    if isinstance(cache, (tuple, list)):
        return [(keys, values) for keys, values in cache]
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def _cache(model, kv: Sequence[torch.Tensor]):
    """A fresh cache holding ``kv`` (keys, values, keys, values, ...): a forward appends to the cache it
    gets, so each call needs its own."""
    from transformers import DynamicCache

    if getattr(model, "_supports_cache_class", True) is False:  # transformers 4.x GPT-2: legacy tuples
        return tuple((kv[2 * layer], kv[2 * layer + 1]) for layer in range(len(kv) // 2))
    try:
        cache = DynamicCache(config=model.config)
    except TypeError:  # transformers before 4.56 takes no config
        cache = DynamicCache()
    for layer in range(len(kv) // 2):
        cache.update(kv[2 * layer], kv[2 * layer + 1], layer)
    return cache


def split(items: Sequence[Any], pad_id: int, baseline_id: int, device: str):
    """Per example: the prompt (positions before the first rationale token) and the rest, each right-padded.

    Returns (prefix ids, prefix mask), (suffix ids, baseline suffix ids) and the forward's extra
    tensors: suffix mask, prefix mask, suffix position ids, label positions / ids / mask in suffix
    coordinates.
    """
    from trainers.data import right_pad

    starts = [it.rationale[0] for it in items]
    n, width = len(items), max(len(it.label) for it in items)
    prefix, p_mask = right_pad([it.input_ids[:start] for it, start in zip(items, starts)], pad_id)
    suffix, s_mask = right_pad([it.input_ids[start:] for it, start in zip(items, starts)], pad_id)
    s_len = suffix.shape[1]
    label_pos = torch.ones((n, width), dtype=torch.long)
    label_mask = torch.zeros((n, width))
    for row, (it, start) in enumerate(zip(items, starts)):
        label_pos[row, : len(it.label)] = torch.tensor(it.label) - start
        label_mask[row, : len(it.label)] = 1
    base = suffix.clone()
    for row, (it, start) in enumerate(zip(items, starts)):
        base[row, [p - start for p in it.rationale]] = baseline_id
    positions = torch.tensor(starts)[:, None] + torch.arange(s_len)[None]
    label_ids = suffix.gather(1, label_pos)
    extra = tuple(t.to(device) for t in (s_mask, p_mask, positions, label_pos, label_ids, label_mask))
    return (prefix.to(device), p_mask.to(device)), (suffix.to(device), base.to(device)), extra


def _cache_kwarg(model) -> str:
    """``cache`` since transformers 5.x renamed it, ``past_key_values`` before (and in remote-code models)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.base_model.forward).parameters else "past_key_values"


def prefix_kv(model, prefix: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The prompt's keys and values, flattened (keys, values per layer), computed once without gradients."""
    with torch.no_grad():
        out = model.base_model(input_ids=prefix, attention_mask=mask, use_cache=True)
    cache = out.cache if _cache_kwarg(model) == "cache" else out.past_key_values
    return tuple(t for pair in _layers(cache) for t in pair)


def suffix_logprob(model: Any):
    """F(suffix ids, suffix mask, prefix mask, positions, label pos/ids/mask, *prompt kv) -> log p(gold label)
    per row, the LM head only at the positions predicting the label."""
    from trainers.model import head_logits

    name = _cache_kwarg(model)

    def forward(input_ids, suffix_mask, prefix_mask, positions, label_pos, label_ids, label_mask, *kv):
        hidden = model.base_model(input_ids=input_ids, attention_mask=torch.cat([prefix_mask, suffix_mask], 1),
                                  position_ids=positions, use_cache=True,
                                  **{name: _cache(model, kv)}).last_hidden_state
        rows = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
        logp = torch.log_softmax(head_logits(model, hidden[rows, label_pos - 1]).float(), dim=-1)
        return (logp.gather(-1, label_ids[..., None]).squeeze(-1) * label_mask).sum(-1)

    return forward
