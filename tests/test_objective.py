"""The training objective: one per-token mean over each optimizer step, and weight decay groups."""

from __future__ import annotations

import pytest

from cot_tasks.data import load_split
from cot_tasks.prompts import render_prompt
from cot_tasks.targets import make_target
from trainers.data import IGNORE, batch_schedule, collate, encode, step_token_counts


@pytest.fixture(scope="module")
def tok(tiny_checkpoint):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_checkpoint)


def _grads(model) -> list:
    out = [p.grad.detach().clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return out


def test_grad_accum_gives_the_gradient_of_one_batch(tiny_checkpoint, tok):
    import torch
    from accelerate import Accelerator
    from transformers import AutoModelForCausalLM

    from trainers.loss import TargetLoss, accumulate

    # float64 and no dropout: the paths below differ only in rounding (~1e-15), so 1e-6 is loose.
    # Eager attention: transformers 4.45's SDPA mask overflows in float64 (tox env oldest).
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, attn_implementation="eager").double().eval()
    loss_model = TargetLoss(model)
    exs = load_split("csqa", "train", source="sample")[:4]
    rationale = "People keep such things where they are safe and easy to reach, so that is the place. " * 2
    # Short targets (label + EOS) in one micro-batch, long ones in the other: where a mean of
    # micro-batch means weighs tokens unequally.
    items = [encode(tok, render_prompt(ex), make_target(ex, rationale if i >= 2 else "", "post" if i >= 2 else "none"),
                    256) for i, ex in enumerate(exs)]
    short, long = collate(items[:2], tok.eos_token_id), collate(items[2:], tok.eos_token_id)
    whole = collate(items, tok.eos_token_id)
    n = sum(it.n_target for it in items)
    assert n == (whole["labels"][:, 1:] != IGNORE).sum()

    accelerator = Accelerator(cpu=True)
    stats = accumulate(accelerator, loss_model, [short, long], n)  # grad_accum=2
    two = _grads(model)
    accumulate(accelerator, loss_model, [whole], n)  # one batch of the same examples
    one = _grads(model)
    # The per-token mean over the batch, written out (transformers' own loss upcasts to float32).
    logits = model(input_ids=whole["input_ids"], attention_mask=whole["attention_mask"]).logits
    mean = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), whole["labels"][:, 1:].flatten())
    mean.backward()
    reference = _grads(model)
    for a, b, c in zip(two, one, reference):
        torch.testing.assert_close(a, c, rtol=1e-6, atol=1e-12)
        torch.testing.assert_close(b, c, rtol=1e-6, atol=1e-12)
    assert stats[1] == n and abs(stats[0].item() / n - mean.item()) < 1e-5

    # The objective this replaces (the mean of micro-batch means) is measurably another gradient.
    means = sum(total / count for total, count in (loss_model(**short), loss_model(**long))) / 2
    means.backward()
    old = _grads(model)
    diff = max((a - c).abs().max() / c.abs().max() for a, c in zip(old, reference) if c.abs().max() > 0)
    assert diff > 0.05


def test_step_token_counts_are_the_same_for_processes_and_accumulation():
    lengths = [5, 50, 6, 51, 7, 52, 8, 53, 9, 54]
    n_targets = [x - 3 for x in lengths]
    schedule = batch_schedule(lengths, 2, 2, seed=0)  # 10 micro-batches
    one_process_accum_2 = step_token_counts(schedule, n_targets, per_step=1 * 2)
    two_processes = step_token_counts(schedule, n_targets, per_step=2 * 1)
    assert one_process_accum_2 == two_processes and len(two_processes) == 5
    assert sum(two_processes) == 2 * sum(n_targets)
    # A short last step (3 micro-batches, 2 per step) counts only what it holds.
    assert step_token_counts(schedule[:3], n_targets, 2)[-1] == sum(n_targets[i] for i in schedule[2])
    # Process r takes schedule[r::world] and steps every grad_accum of its own: step s is schedule[s*4:(s+1)*4].
    world, accum = 2, 2
    local = [schedule[r::world] for r in range(world)]
    per_step = step_token_counts(schedule, n_targets, world * accum)
    for s, count in enumerate(per_step):
        held = [b for r in range(world) for b in local[r][s * accum:(s + 1) * accum]]
        assert count == sum(n_targets[i] for b in held for i in b)


def test_no_weight_decay_on_biases_norms_and_embeddings():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    from trainers.loss import param_groups

    def decayed(model, wd=0.1):
        groups = param_groups(model, wd)
        ids = [id(p) for g in groups for p in g["params"]]
        assert sorted(ids) == sorted(id(p) for p in model.parameters())  # each exactly once
        names = {id(p): name for name, p in model.named_parameters()}
        assert {g["weight_decay"] for g in groups} == {wd, 0.0}
        return {names[id(p)] for g in groups if g["weight_decay"] for p in g["params"]}

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    assert decayed(gpt2) == {f"transformer.h.0.{m}.weight" for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc",
                                                                       "mlp.c_proj")}
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1))
    # The untied head is a projection like any other; the (RMS) norms and the input embedding are not.
    assert decayed(llama) == {"lm_head.weight"} | {f"model.layers.0.{m}.weight" for m in (
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
        "mlp.up_proj", "mlp.down_proj")}
    # AdamW takes the groups as they are.
    torch.optim.AdamW(param_groups(llama, 0.1), lr=1e-3)
