"""The training objective: cross-entropy on target tokens only, one per-token mean per optimizer step."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from trainers.data import IGNORE
from trainers.model import HEAD_ON_HIDDEN, head_logits


class TargetLoss(nn.Module):
    """Wraps a causal LM; ``forward`` returns (summed cross-entropy over target tokens, their count).

    Summed, not averaged: :func:`accumulate` divides by every target token of the
    optimizer step, so each token weighs the same whatever micro-batch it landed in.

    The prompt carries no loss, so with ``target_only_logits`` the LM head (for a
    GPT-2 sized model the biggest matmul: hidden x vocab per position) runs only
    on positions whose next token is a target token. Going through this module's
    own ``forward`` keeps DDP's gradient hooks and accelerate's autocast in play.
    """

    def __init__(self, model: nn.Module, target_only_logits: bool = True):
        super().__init__()
        self.model = model
        self.target_only_logits = target_only_logits and model.config.model_type in HEAD_ON_HIDDEN

    def forward(self, input_ids, attention_mask, labels):
        # Position t predicts token t+1.
        next_labels = labels[:, 1:]
        keep = next_labels != IGNORE
        if self.target_only_logits:
            hidden = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]
            logits = head_logits(self.model, hidden[:, :-1][keep])
        else:
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1][keep]
        # At least float32 for the softmax; float64 stays float64 (exact gradient checks).
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        return F.cross_entropy(logits, next_labels[keep], reduction="sum"), keep.sum()


def accumulate(accelerator, loss_model: nn.Module, batches: Sequence[dict], step_tokens: int) -> torch.Tensor:
    """Forward and backward passes over this process's micro-batches of one optimizer step.

    The step's gradient is that of the summed loss over ``step_tokens``, the target
    tokens of all the step's micro-batches on all processes: one per-token mean, the same
    for any split into micro-batches and processes. DDP averages gradients over processes,
    hence the factor ``num_processes``. Returns this process's (summed loss, tokens).
    """
    scale = accelerator.num_processes / step_tokens
    stats = torch.zeros(2, device=accelerator.device)
    for i, batch in enumerate(batches):
        # Gradients are all-reduced only on the last micro-batch.
        with nullcontext() if i == len(batches) - 1 else accelerator.no_sync(loss_model):
            total, n = loss_model(**batch)
            accelerator.backward(total * scale)
        stats += torch.stack([total.detach().float(), n.float()])
    return stats


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: decay on weight matrices only; biases, norm gains and embeddings
    (a head tied to them included) take none."""
    embeddings = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters(recurse=False)}
    decay, rest = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 and id(p) not in embeddings else rest).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]
