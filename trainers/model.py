"""One home for model surgery: loading a causal LM, its device and pad id, where its final norm and head
sit and how the head turns hidden states into the model's own logits. The trainer, attribution, the
teacher and the lens all go through here."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from cot_tasks.errors import ModelError

# Causal LMs whose logits are exactly lm_head(base_model(...) hidden states), so the head can
# run on target positions alone. Anything else takes the full forward (same loss, more work).
HEAD_ON_HIDDEN = {"gpt2", "gpt_neox", "gptj", "llama", "mistral", "qwen2", "phi", "gemma", "gemma2", "gemma3_text",
                  "opt"}


def head_logits(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The model's own logits for some final hidden states (an ``HEAD_ON_HIDDEN`` model): LM head,
    then Gemma-2's logit soft-capping where the config has it, so scores match a full forward."""
    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits




# Where causal LMs keep their final norm, relative to ``model.base_model``
# (GPT-2/GPT-J/Bloom: ln_f; Llama/Gemma/Mistral/Qwen: norm; Phi: final_layernorm; OPT: decoder.final_layer_norm).
FINAL_NORM_PATHS = ("ln_f", "norm", "final_layernorm", "final_layer_norm", "decoder.final_layer_norm", "ln_final")


def final_norm(model):
    """The norm applied before the unembedding, found by a small lookup on ``base_model``."""
    base = getattr(model, "base_model", model)
    for path in FINAL_NORM_PATHS:
        module = base
        for part in path.split("."):
            module = getattr(module, part, None)
        if module is not None:
            return module
    raise ModelError(f"cannot find the final norm of {type(model).__name__} "
                    f"(looked for {', '.join(FINAL_NORM_PATHS)} on its base model)")



def bf16_is_fast(device: torch.device | str) -> bool:
    """Whether bf16 matmuls run natively here: a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX.
    Elsewhere torch emulates bf16 on the CPU, several times slower than fp32 (measured on an AVX2-only
    EPYC: a 2048^2 bf16 matmul at 0.3 GFLOP/s against 46 in fp32), so bf16 there is no speed-up."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    # torch.cpu's probes are underscored but the only ones torch has (get_cpu_capability() says AVX512
    # for CPUs without the BF16 extension); a torch without them gets the safe answer.
    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(probe is not None and probe() for probe in probes)


def resolve_mixed_precision(value: str, device: torch.device | str) -> str:
    """accelerate's mixed-precision name for ``TrainConfig.mixed_precision``: ``auto`` is bf16 where
    :func:`bf16_is_fast` on ``device``, else no; explicit values pass through."""
    if value != "auto":
        return value
    return "bf16" if bf16_is_fast(device) else "no"


def pick_device(requested: str | None) -> str:
    """The device asked for, else cuda when there is one."""
    return requested or ("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device | str) -> str:
    """The hardware a run trained on, for its record: the same seed trains differently on another device
    (other kernels, other rounding), so a grid that spans machines reports which cell ran where."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        import platform

        bf16 = "native bf16" if bf16_is_fast(device) else "no native bf16"
        return f"cpu ({platform.machine()}, {bf16})"
    return device.type


def pad_id(tokenizer) -> int:
    """The id right-padding uses: the tokenizer's pad, else its EOS (GPT-2 and Llama have no pad)."""
    pid = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pid is None:
        raise ModelError(f"tokenizer {type(tokenizer).__name__} has neither a pad nor an EOS token")
    return pid


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def dtype_kwargs(dtype) -> dict:
    """``dtype=`` since transformers 4.56, ``torch_dtype=`` before; we support both."""
    import transformers
    from packaging.version import Version

    if dtype is None:
        return {}
    return {"dtype": dtype} if Version(transformers.__version__) >= Version("4.56") else {"torch_dtype": dtype}


def check_model_path(name: str, role: str = "model") -> None:
    """A name that is a local folder must hold a checkpoint: a missing or non-model folder is one line here,
    not a chain of tracebacks about repo ids from transformers or lm-eval. Hub ids pass through."""
    path = Path(name).expanduser()
    looks_local = path.exists() or name.startswith((".", os.path.sep, "~"))
    if not looks_local:
        return
    if not path.is_dir():
        raise ModelError(f"{role} folder not found (the path does not exist)", path=name)
    if not (path / "config.json").is_file():
        raise ModelError(f"{role} folder holds no config.json (not a save_pretrained checkpoint)", path=name)


def load_causal_lm(name: str, device: str, dtype=None, role: str = "teacher"):
    """Tokenizer and model from a hub id or local path; anything unloadable is a one-line ModelError."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_path(name, role)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, **dtype_kwargs(dtype))
    except Exception as err:  # offline, unknown id, not a causal LM: the user's to fix
        raise ModelError(f"cannot load {role} model ({_first_line(err)})", path=name) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model.to(device).eval()




def weights_sha256(checkpoint: str | Path) -> str | None:
    """One sha256 over a saved model's safetensors files (sorted by name): which exact weights a number came
    from, comparable across machines. None for a hub name or a folder without safetensors."""
    from trainers.data import file_sha256

    files = sorted(Path(checkpoint).glob("*.safetensors")) if Path(checkpoint).is_dir() else []
    if not files:
        return None
    if len(files) == 1:
        return file_sha256(files[0])
    import hashlib

    return hashlib.sha256("".join(f"{f.name}:{file_sha256(f)}\n" for f in files).encode()).hexdigest()
