"""Locally trained tokenizers in the three styles our students use, for tests.

* ``gpt2``: byte-level BPE, no BOS added (GPT-2, Phi, SmolLM2's byte level).
* ``llama``: SentencePiece-style BPE with ``▁`` word marks, a dummy prefix space,
  byte fallback and a BOS added to every input (Llama, Mistral).
* ``gemma``: the same pieces without the dummy prefix (Gemma's ``add_dummy_prefix: false``),
  BOS added.

Each is a ``PreTrainedTokenizerFast`` trained on the given corpus with the label
letters ``A``..``E`` frequent enough after ``Answer:`` to be single tokens, as in
the real vocabularies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

STYLES = ("gpt2", "llama", "gemma")
BOS, EOS, UNK = "<s>", "</s>", "<unk>"


def build_style_tokenizer(style: str, corpus: Iterable[str], vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    letters = [f"Answer: {c}" for c in "ABCDE"] * 50
    texts = list(corpus) + letters
    if style == "gpt2":
        from trainers.tiny import train_tokenizer

        return train_tokenizer(texts, vocab_size)
    tok = Tokenizer(models.BPE(unk_token=UNK, byte_fallback=True, fuse_unk=True))
    if style == "llama":
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first"),
                                         decoders.ByteFallback(), decoders.Fuse()])
    else:
        # Gemma: spaces become ▁ by normalisation, no dummy prefix, split only on ▁ runs.
        tok.normalizer = normalizers.Replace(" ", "▁")
        tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[UNK, BOS, EOS], show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    # Byte-fallback pieces are ordinary vocabulary entries (as in Llama's and Gemma's), not special tokens.
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    for i in range(256):
        vocab.setdefault(f"<0x{i:02X}>", len(vocab))
    tok = Tokenizer.from_str(json.dumps(spec))
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                       special_tokens=[(BOS, bos_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, unk_token=UNK,
                                   pad_token=EOS, model_input_names=["input_ids", "attention_mask"])


def save_style_tokenizer(style: str, corpus: Iterable[str], out_dir: str | Path, vocab_size: int = 1024) -> Path:
    out = Path(out_dir)
    build_style_tokenizer(style, corpus, vocab_size).save_pretrained(out)
    return out
