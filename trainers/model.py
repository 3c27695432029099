"""One home for model surgery: loading a causal LM (device, dtype, pad, trust_remote_code, one-line errors),
where its final norm and head sit, how the head turns hidden states into the model's own logits, its
residual streams and the label letters' token ids. The trainer, attribution, the teacher and the lens all
load through here."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch import nn

from cot_tasks.errors import ModelError
from cot_tasks.prompts import ANSWER_CUE, TARGET_DELIMITER

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


@contextmanager
def _capture_input(module) -> Iterator[list]:
    """Record what ``module`` is called with: the last block's output, before the final norm."""
    seen: list = []
    handle = module.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    try:
        yield seen
    finally:
        handle.remove()


def residual_streams(model, input_ids, attention_mask) -> tuple[list, object]:
    """Pre-norm residual stream after the embedding and after every block, plus the model's logits.

    ``output_hidden_states`` gives the embedding and block outputs, but its last
    entry is already normed in transformers 5; the hook gives the un-normed one.
    """
    with _capture_input(final_norm(model)) as seen:
        out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    if not seen:
        raise ModelError(f"the final norm of {type(model).__name__} was not called during the forward pass")
    return list(out.hidden_states[:-1]) + [seen[-1]], out.logits


def label_token_ids(tokenizer, labels: Sequence[str]) -> list[int]:
    """First token of each label as it follows the answer cue (what the label-first task scores)."""
    cue = tokenizer(ANSWER_CUE, add_special_tokens=False)["input_ids"]
    ids = []
    for label in labels:
        full = tokenizer(ANSWER_CUE + TARGET_DELIMITER + label, add_special_tokens=False)["input_ids"]
        if full[: len(cue)] != cue or len(full) <= len(cue):
            raise ModelError(f"tokenizer splits {ANSWER_CUE!r} differently before label {label!r}")
        ids.append(full[len(cue)])
    if len(set(ids)) != len(ids):
        raise ModelError(f"labels {', '.join(labels)} share a first token in this tokenizer")
    return ids


def bf16_is_fast(device: torch.device | str) -> bool:
    """Whether bf16 matmuls run natively here: a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX.
    Elsewhere torch emulates bf16 on the CPU, several times slower than fp32 (measured on an AVX2-only
    EPYC: a 2048^2 bf16 matmul at 0.3 GFLOP/s against 46 in fp32), so bf16 there is no speed-up."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    return any(cpu_bf16_units())


def cpu_bf16_units() -> tuple[bool, bool]:
    """(AMX, AVX512-BF16) on this CPU. torch.cpu's probes are underscored but the only ones torch has
    (get_cpu_capability() says AVX512 for CPUs without the BF16 extension); a torch without them gets the safe
    answer."""
    return tuple(getattr(torch.cpu, name, lambda: False)() for name in
                 ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))


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
    (other kernels, other rounding: an AMD EPYC with AVX512-BF16 and an Intel Xeon with AMX give other losses
    from the first step), so a grid that spans machines reports which cell ran where."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        import platform

        amx, avx512_bf16 = cpu_bf16_units()
        return cpu_device_name(platform.machine(), cpu_model_name(), amx=amx, avx512_bf16=avx512_bf16)
    return device.type


def cpu_device_name(machine: str, model: str, *, amx: bool, avx512_bf16: bool) -> str:
    """``cpu (x86_64, AMD EPYC, AVX512-BF16)``: the architecture, the CPU's model name and the unit that does
    its bf16 matmuls (AMX, AVX512-BF16, or none: emulated)."""
    unit = "AMX" if amx else "AVX512-BF16" if avx512_bf16 else "no native bf16"
    return f"cpu ({machine}, {model}, {unit})"


def cpu_model_name(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name as Linux reports it (``lscpu``'s "Model name"), else what Python's platform says."""
    import platform

    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


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


@contextmanager
def _one_line(name: str, role: str, what: str) -> Iterator[None]:
    try:
        yield
    except Exception as err:  # offline, unknown id, not a causal LM, code it may not run: the user's to fix
        raise ModelError(f"cannot load {role} {what} ({_first_line(err)})", path=name) from None


def load_tokenizer(name: str, role: str = "model", trust_remote_code: bool = False):
    """The tokenizer saved with ``name``, unchanged: the trainer saves it beside the student as it came."""
    from transformers import AutoTokenizer

    check_model_path(name, role)
    with _one_line(name, role, "tokenizer"):
        return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)


def load_model_type(name: str, role: str = "model", trust_remote_code: bool = False) -> str:
    """The config's ``model_type``, without loading weights (the trainer encodes before it loads the model)."""
    from transformers import AutoConfig

    check_model_path(name, role)
    with _one_line(name, role, "config"):
        return AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code).model_type


def load_model(name: str, role: str = "model", dtype=None, trust_remote_code: bool = False):
    """The causal LM as ``from_pretrained`` builds it, on the CPU (accelerate places the trainer's)."""
    from transformers import AutoModelForCausalLM

    check_model_path(name, role)
    with _one_line(name, role, "model"):
        return AutoModelForCausalLM.from_pretrained(name, trust_remote_code=trust_remote_code, **dtype_kwargs(dtype))


def load_causal_lm(name: str, device: str, dtype=None, role: str = "teacher", trust_remote_code: bool = False):
    """Tokenizer and model (on ``device``, eval mode) from a hub id or local path; anything unloadable is a
    one-line ModelError naming ``name`` and ``role``. A tokenizer without a pad gets its EOS as pad: the id
    :func:`pad_id` gives the trainer, and what ``padding=True`` needs."""
    tokenizer = load_tokenizer(name, role, trust_remote_code)
    model = load_model(name, role, dtype, trust_remote_code)
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
