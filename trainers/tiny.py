"""A tiny GPT-2-style student built locally: random init from a config plus a BPE
tokenizer trained with ``tokenizers`` on the texts it will see. No download.

Used by ``--student tiny``, by the tests and by the bundled default run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

EOS = "<|endoftext|>"


@dataclass(frozen=True)
class TinyConfig:
    """The size of the tiny student (``TrainConfig.tiny``; the ``tiny:`` key of a grid YAML)."""

    vocab_size: int = 2048
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128


def train_tokenizer(corpus: Iterable[str], vocab_size: int, model_max_length: int = 1024):
    """Byte-level BPE like GPT-2's, so ' A', ' B', ... stay single tokens when frequent."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The label letters after the cue must be single tokens, as in GPT-2's vocabulary.
    letters = [f"Answer: {c}" for c in "ABCDE"] * 50
    tok.train_from_iterator(list(corpus) + letters, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS,
        model_max_length=model_max_length,
        # As GPT-2's own tokenizer: no token_type_ids, which GPT-2 would add as extra embeddings.
        model_input_names=["input_ids", "attention_mask"],
    )


def build_tiny_student(corpus: Iterable[str], out_dir: str | Path, config: TinyConfig = TinyConfig(), *,
                       n_positions: int = 1024, seed: int = 0) -> Path:
    """Write a randomly initialised GPT-2 checkpoint and its tokenizer to ``out_dir``.

    The result loads with ``AutoModelForCausalLM.from_pretrained(out_dir)`` and
    ``lm_eval --model hf --model_args pretrained=out_dir``.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    out = Path(out_dir)
    tokenizer = train_tokenizer(corpus, config.vocab_size, n_positions)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_layer=config.n_layer,
            n_head=config.n_head,
            n_embd=config.n_embd,
            n_positions=n_positions,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.eos_token_id,
        )
    )
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    _portable_tokenizer_class(out)
    return out


def _portable_tokenizer_class(out: Path) -> None:
    # transformers 5 records its new backend class name, which 4.x cannot load;
    # PreTrainedTokenizerFast names the same tokenizer.json in both.
    path = out / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(config, indent=2))
