"""``cot-distill lens``: does a student know the answer before its last layer?

At the answer position (the last prompt token, right after ``Answer:``) every
layer's residual stream is decoded with the logit lens (final norm + unembedding)
or, optionally, a tuned lens (the ``tuned-lens`` package; one affine translator per
layer, trained here on the task's training prompts). Decoding is restricted to
the label letters' first tokens; we report per-layer accuracy and the gold
label's mean rank (1 = top).

Layer 0 is the embedding output, layer L the last block's output; decoding layer
L with the logit lens reproduces the model's own logits.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from cot_tasks.data import DEFAULT_SOURCE
from cot_tasks.errors import DataError, check_at_least
from cot_tasks.progress import stage_iter
from cot_tasks.prompts import ANSWER_CUE, TARGET_DELIMITER, render_prompt
from cot_tasks.records import Example
from harness_plugins.lens_files import to_csv, to_png
from trainers.config import read_run_record
from trainers.model import check_model_path, final_norm, pad_id
from trainers.students import resolve_student

TUNED_MISSING = ("--tuned needs the optional tuned-lens package: pip install 'tuned-lens' "
                 "(tested with tuned-lens 0.2.0, torch 2.13, transformers 5.23)")


@dataclass(frozen=True)
class LayerScore:
    checkpoint: str
    condition: str
    lens: str  # "logit" or "tuned"
    layer: int
    n_layers: int
    accuracy: float
    mean_rank: float
    docs: int


# --------------------------------------------------------------------------- model plumbing


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
        raise DataError(f"the final norm of {type(model).__name__} was not called during the forward pass")
    return list(out.hidden_states[:-1]) + [seen[-1]], out.logits


def label_token_ids(tokenizer, labels: Sequence[str]) -> list[int]:
    """First token of each label as it follows the answer cue (what the label-first task scores)."""
    cue = tokenizer(ANSWER_CUE, add_special_tokens=False)["input_ids"]
    ids = []
    for label in labels:
        full = tokenizer(ANSWER_CUE + TARGET_DELIMITER + label, add_special_tokens=False)["input_ids"]
        if full[: len(cue)] != cue or len(full) <= len(cue):
            raise DataError(f"tokenizer splits {ANSWER_CUE!r} differently before label {label!r}")
        ids.append(full[len(cue)])
    if len(set(ids)) != len(ids):
        raise DataError(f"labels {', '.join(labels)} share a first token in this tokenizer")
    return ids


def checkpoint_condition(checkpoint: str | Path) -> str:
    """The CoT condition from the checkpoint's ``cot_distill.json``, else the folder name."""
    path = Path(checkpoint)
    data = read_run_record(path)
    if data is not None:
        for holder in (data, data.get("config", {}), data.get("train", {})):
            if isinstance(holder, dict) and isinstance(holder.get("condition"), str):
                return holder["condition"]
    return path.name


# --------------------------------------------------------------------------- the lenses


class _Decoder:
    """Final norm + unembedding restricted to some token ids (the logit lens)."""

    def __init__(self, model, token_ids: Sequence[int]):
        import torch

        head = model.get_output_embeddings()
        if head is None or not hasattr(head, "weight"):
            raise DataError(f"{type(model).__name__} has no linear output embedding to decode with")
        index = torch.tensor(list(token_ids), device=head.weight.device)
        self.norm = final_norm(model)
        self.weight = head.weight[index]
        self.bias = head.bias[index] if getattr(head, "bias", None) is not None else None

    def __call__(self, hidden):
        normed = self.norm(hidden).to(self.weight.dtype)
        logits = normed @ self.weight.T
        return logits + self.bias if self.bias is not None else logits


def _tuned_lens_module():
    try:
        from tuned_lens.nn import TunedLens, TunedLensConfig
        from tuned_lens.nn.unembed import Unembed
    except ImportError:
        raise DataError(TUNED_MISSING) from None
    return TunedLens, TunedLensConfig, Unembed


def train_tuned_lens(model, tokenizer, prompts: Sequence[str], *, epochs: int = 3, lr: float = 1e-3,
                     batch_size: int = 8, seed: int = 0):
    """Fit a ``tuned_lens.nn.TunedLens`` on ``prompts``: each translator minimises
    KL(final-layer distribution || its layer's decoded distribution) over all prompt tokens."""
    import copy

    import torch

    TunedLens, TunedLensConfig, Unembed = _tuned_lens_module()

    class _Unembed(Unembed):
        # tuned-lens finds the final norm by model class (no Gemma/Phi); reuse our lookup instead.
        def __init__(self, model):
            torch.nn.Module.__init__(self)
            self.final_norm = copy.deepcopy(final_norm(model))
            self.unembedding = copy.deepcopy(model.get_output_embeddings())
            self.requires_grad_(False)

    n_layers = model.config.num_hidden_layers
    config = TunedLensConfig(base_model_name_or_path=str(model.config.name_or_path),
                             d_model=model.config.hidden_size, num_hidden_layers=n_layers)
    device = next(model.parameters()).device
    lens = TunedLens(_Unembed(model), config).to(device).float()
    opt = torch.optim.Adam(lens.layer_translators.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in stage_iter(range(epochs), "tuned lens"):
        for idx in torch.randperm(len(prompts), generator=gen).split(batch_size):
            ids, mask, _ = _encode(tokenizer, [prompts[i] for i in idx], device)
            with torch.no_grad():
                streams, logits = residual_streams(model, ids, mask)
                target = torch.log_softmax(logits.float(), -1)
            keep = mask.bool()
            opt.zero_grad()
            # Translators are independent: one backward per layer keeps one vocab-sized graph alive.
            for layer in range(n_layers):
                pred = torch.log_softmax(lens(streams[layer].float(), layer), -1)
                kl = (target.exp() * (target - pred)).sum(-1)
                kl[keep].mean().backward()
            opt.step()
    lens.eval()
    return lens


def _encode(tokenizer, prompts: Sequence[str], device):
    """Right-padded batch and the index of each prompt's last real token (causal: pads never leak back)."""
    from trainers.data import right_pad

    ids, mask = right_pad([tokenizer(p)["input_ids"] for p in prompts], pad_id(tokenizer))
    return ids.to(device), mask.to(device), (mask.sum(1) - 1).to(device)


# --------------------------------------------------------------------------- the analysis


def lens_scores(checkpoint: str | Path, examples: Sequence[Example], *, tuned_prompts: Sequence[str] | None = None,
                batch_size: int = 16, device: str | None = None, condition: str | None = None,
                tuned_epochs: int = 3) -> list[LayerScore]:
    """Per-layer accuracy and gold mean rank at the answer position, for one checkpoint.

    ``tuned_prompts``: training prompts for a tuned lens (None: logit lens only).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    examples = [ex for ex in examples if ex.answer is not None]
    if not examples:
        raise DataError("no examples with a gold label to score")
    labels = examples[0].labels
    if any(ex.labels != labels for ex in examples):
        raise DataError("examples have different label sets; score one dataset at a time")
    checkpoint = Path(resolve_student(checkpoint))
    if not checkpoint.is_dir():
        raise DataError("checkpoint folder not found", path=checkpoint)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint).to(device).eval()
    label_ids = label_token_ids(tokenizer, labels)
    decoder = _Decoder(model, label_ids)
    gold = torch.tensor([labels.index(ex.answer) for ex in examples], device=device)
    lenses = {"logit": None}
    if tuned_prompts is not None:
        lenses["tuned"] = train_tuned_lens(model, tokenizer, tuned_prompts, epochs=tuned_epochs)

    n_layers = model.config.num_hidden_layers
    correct = {name: torch.zeros(n_layers + 1, device=device) for name in lenses}
    rank_sum = {name: torch.zeros(n_layers + 1, device=device) for name in lenses}
    prompts = [render_prompt(ex) for ex in examples]
    with torch.no_grad():
        for start in stage_iter(range(0, len(prompts), batch_size), checkpoint.name):
            ids, mask, last = _encode(tokenizer, prompts[start : start + batch_size], device)
            streams, _ = residual_streams(model, ids, mask)
            rows = torch.arange(ids.shape[0], device=device)
            g = gold[start : start + batch_size]
            for layer, stream in enumerate(streams):
                h = stream[rows, last]
                for name, lens in lenses.items():
                    if lens is not None and layer < n_layers:
                        h_l = lens.transform_hidden(h.float(), layer).to(h.dtype)
                    else:  # the tuned lens is the logit lens at the last layer
                        h_l = h
                    scores = decoder(h_l).float()
                    gold_score = scores[rows, g].unsqueeze(1)
                    rank = 1 + (scores > gold_score).sum(1)  # ties count in the gold label's favour
                    correct[name][layer] += (rank == 1).sum()
                    rank_sum[name][layer] += rank.sum()
    name = str(checkpoint)
    condition = condition or checkpoint_condition(checkpoint)
    n = len(examples)
    return [LayerScore(name, condition, lens_name, layer, n_layers, float(correct[lens_name][layer] / n),
                       float(rank_sum[lens_name][layer] / n), n)
            for lens_name in lenses for layer in range(n_layers + 1)]


@dataclass(frozen=True)
class LensResult:
    scores: list[LayerScore]
    paths: list[Path]


def run_lens(checkpoints: Sequence[str | Path], dataset: str, *, source: str = DEFAULT_SOURCE, split: str | None = None,
             limit: int | None = None, out_dir: str | Path, tuned: bool = False,
             tuned_limit: int | None = 512, batch_size: int = 16, device: str | None = None) -> LensResult:
    """Score every checkpoint, then write ``lens_<dataset>.csv`` and ``.png`` into ``out_dir`` atomically."""
    from cot_tasks.data import EVAL_SPLIT, load_split
    from cot_tasks.io import write_files_atomic

    check_at_least(dict(limit=limit, tuned_limit=tuned_limit, batch_size=batch_size), limit=1, tuned_limit=1,
                   batch_size=1)
    if tuned:
        _tuned_lens_module()  # fail before any model is loaded
    for ckpt in checkpoints:
        check_model_path(resolve_student(str(ckpt)), "checkpoint")
    split = split or EVAL_SPLIT[dataset]
    examples = load_split(dataset, split, source=source)[:limit]
    tuned_prompts = None
    if tuned:
        tuned_prompts = [render_prompt(ex) for ex in load_split(dataset, "train", source=source)[:tuned_limit]]
    scores: list[LayerScore] = []
    for ckpt in checkpoints:
        scores += lens_scores(ckpt, examples, tuned_prompts=tuned_prompts, batch_size=batch_size, device=device)
    out = Path(out_dir)
    files = {out / f"lens_{dataset}.csv": to_csv(scores),
             out / f"lens_{dataset}.png": to_png(scores, title=f"{dataset} ({split}, {len(examples)} docs)")}
    return LensResult(scores, write_files_atomic(files))
