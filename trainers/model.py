"""The student and its loss: cross-entropy on target tokens only, computed where it is needed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainers.data import IGNORE

# Causal LMs whose logits are exactly lm_head(base_model(...) hidden states), so the head can
# run on target positions alone. Anything else takes the full forward (same loss, more work).
HEAD_ON_HIDDEN = {"gpt2", "gpt_neox", "gptj", "llama", "mistral", "qwen2", "phi", "gemma", "gemma2", "opt"}


def head_logits(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The model's own logits for some final hidden states (an ``HEAD_ON_HIDDEN`` model): LM head,
    then Gemma-2's logit soft-capping where the config has it, so scores match a full forward."""
    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


class TargetLoss(nn.Module):
    """Wraps a causal LM; ``forward`` returns the mean cross-entropy over target tokens.

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
        return F.cross_entropy(logits.float(), next_labels[keep])
