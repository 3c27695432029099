"""A GGUF file -> a plain Hugging Face folder (safetensors, tokenizer, generation config).

transformers de-quantises a GGUF's weights well, but the tokenizer it builds from one is not
the model's own (SmolLM2: the chat markers as BOS/EOS and no digit splitting; Gemma-3: words
cut into odd pieces). So the tokenizer here is rebuilt from the GGUF's ``tokenizer.ggml.*``
fields the way llama.cpp reads them: byte-level BPE from tokens + merges (``gpt2``), or
SentencePiece BPE from tokens + scores (``llama``), whose merges are every split of a piece
into two pieces, ranked by the merged piece's score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cot_tasks.errors import DataError
from cot_tasks.io import normal_modes

# llama.cpp's token types (gguf.TokenType): control tokens are special, user-defined ones are
# matched whole but are ordinary text.
NORMAL, CONTROL, USER_DEFINED = 1, 3, 4

# llama.cpp's pre-tokenizer names -> the regex splits it applies before byte-level BPE.
BYTE_LEVEL_PRE = {"smollm": True, "gpt-2": False, "default": False}  # value: split digits one by one


@dataclass(frozen=True)
class Specials:
    """The tokens a plain-text (not chat) user of the model needs, and whether BOS is prepended."""

    bos: str
    eos: str
    pad: str
    unk: str | None
    add_bos: bool


class GGUFFields:
    """The metadata of a GGUF file, read with the ``gguf`` package (parts/data: stable across its versions)."""

    def __init__(self, path: str | Path):
        from gguf import GGUFReader

        self.path = Path(path)
        self.fields = GGUFReader(self.path).fields

    def get(self, key: str, default=None):
        field = self.fields.get(key)
        if field is None:
            if default is None:
                raise DataError("GGUF file lacks this field", path=self.path, field=key)
            return default
        values = [field.parts[i] for i in field.data]
        is_str = int(field.types[-1]) == 8  # GGUFValueType.STRING
        values = [bytes(v).decode("utf-8") if is_str else v.tolist()[0] for v in values]
        is_array = int(field.types[0]) == 9  # GGUFValueType.ARRAY
        return values if is_array else values[0]


def plain_text_specials(meta: GGUFFields, text_token: str | None) -> Specials:
    """BOS/EOS/PAD/UNK from the GGUF, or ``text_token`` for all of them where the GGUF names chat markers."""
    tokens = meta.get("tokenizer.ggml.tokens")
    unk_id = meta.get("tokenizer.ggml.unknown_token_id", -1)
    add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", False))
    if text_token is not None:
        return Specials(text_token, text_token, text_token, text_token, add_bos)
    bos, eos = tokens[meta.get("tokenizer.ggml.bos_token_id")], tokens[meta.get("tokenizer.ggml.eos_token_id")]
    pad_id = meta.get("tokenizer.ggml.padding_token_id", -1)
    pad = tokens[pad_id] if pad_id >= 0 else eos
    return Specials(bos, eos, pad, tokens[unk_id] if unk_id >= 0 else None, add_bos)


def build_tokenizer(meta: GGUFFields, specials: Specials, model_max_length: int):
    """The model's own tokenizer as a ``PreTrainedTokenizerFast``, from the GGUF's fields alone."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    kind = meta.get("tokenizer.ggml.model")
    tokens = meta.get("tokenizer.ggml.tokens")
    types = meta.get("tokenizer.ggml.token_type", [NORMAL] * len(tokens))
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if kind == "gpt2":
        pre = meta.get("tokenizer.ggml.pre", "default")
        if pre not in BYTE_LEVEL_PRE:
            raise DataError(f"unsupported byte-level pre-tokenizer {pre!r}", path=meta.path, field="tokenizer.ggml.pre")
        merges = [tuple(m.split(" ", 1)) for m in meta.get("tokenizer.ggml.merges")]
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                             if BYTE_LEVEL_PRE[pre] else byte_level)
        tok.decoder = decoders.ByteLevel()
    elif kind == "llama":
        scores = meta.get("tokenizer.ggml.scores")
        merges = spm_merges(tokens, scores, types)
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=specials.unk, byte_fallback=True,
                                   fuse_unk=True))
        prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
        steps = [normalizers.Prepend("▁")] if prefix else []
        tok.normalizer = normalizers.Sequence(steps + [normalizers.Replace(" ", "▁")])
        strip = [decoders.Strip(" ", 1, 0)] if prefix else []
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()] + strip)
    else:
        raise DataError(f"unsupported tokenizer model {kind!r}", path=meta.path, field="tokenizer.ggml.model")
    # Control tokens never come out of ordinary text; user-defined ones are matched whole.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == CONTROL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False)
                    for t, ty in zip(tokens, types) if ty == USER_DEFINED])
    if specials.add_bos:
        bos = (specials.bos, vocab[specials.bos])
        tok.post_processor = processors.TemplateProcessing(single=f"{bos[0]} $A", pair=f"{bos[0]} $A {bos[0]} $B",
                                                           special_tokens=[bos])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=specials.bos, eos_token=specials.eos, pad_token=specials.pad,
        unk_token=specials.unk, model_max_length=model_max_length,
        model_input_names=["input_ids", "attention_mask"],
    )


def spm_merges(tokens: list[str], scores: list[float], types: list[int]) -> list[tuple[str, str]]:
    """SentencePiece BPE as ranked merges: a piece made of two pieces merges at its score's rank
    (SentencePiece joins the adjacent pair whose union scores highest); ties go by token id."""
    ids = {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty == NORMAL}
    merges = []
    for piece in sorted(ids, key=lambda t: (-scores[ids[t]], ids[t])):
        splits = [(piece[:cut], piece[cut:]) for cut in range(1, len(piece))]
        merges += sorted(((a, b) for a, b in splits if a in ids and b in ids), key=lambda ab: (ids[ab[0]], ids[ab[1]]))
    return merges


def convert(gguf_path: Path, out_dir: Path, *, text_token: str | None = None) -> Path:
    """Write ``out_dir`` (already created, empty) as a ``from_pretrained`` folder for the GGUF's model."""
    from transformers import AutoModelForCausalLM, GenerationConfig

    from trainers.tiny import _portable_tokenizer_class

    meta = GGUFFields(gguf_path)
    specials = plain_text_specials(meta, text_token)
    arch = meta.get("general.architecture")
    context = int(meta.get(f"{arch}.context_length", 2048))
    tokenizer = build_tokenizer(meta, specials, context)

    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    config = loaded.config
    # transformers 5 marks a GGUF-loaded model as quantised (not serialisable); its weights are plain
    # fp32 tensors, so a fresh model of the same config takes them as is.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    ids = {name: tokenizer.convert_tokens_to_ids(getattr(specials, name)) for name in ("bos", "eos", "pad")}
    config.bos_token_id, config.eos_token_id, config.pad_token_id = ids["bos"], ids["eos"], ids["pad"]
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict({k: v.float() for k, v in loaded.state_dict().items()})
    del loaded
    model.generation_config = GenerationConfig(bos_token_id=ids["bos"], eos_token_id=ids["eos"],
                                               pad_token_id=ids["pad"])
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    _portable_tokenizer_class(out_dir)
    normal_modes(out_dir)
    return out_dir
