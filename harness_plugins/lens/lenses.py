"""``cot-distill lens``: does a student know the answer before its last layer?

At the answer position (the last prompt token, right after ``Answer:``) every
layer's residual stream is decoded with the logit lens (:class:`LogitLens`: final
norm + unembedding) or, optionally, a tuned lens (:class:`TunedLens`: the
``tuned-lens`` package's affine translator per layer, trained here on the task's
training prompts, before the same unembedding). As in tuned-lens, a lens is an
object with ``transform_hidden(h, layer)`` and ``lens(h, layer) -> logits``.
Decoding is restricted to the label letters' first tokens (:class:`LabelUnembed`);
we report per-layer accuracy and the gold label's mean rank (1 = top).

Layer 0 is the embedding output, layer L the last block's output; decoding layer
L with the logit lens reproduces the model's own logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cot_tasks.errors import DataError, check_at_least
from cot_tasks.progress import stage_iter
from cot_tasks.prompts import render_prompt
from cot_tasks.records import Example
from harness_plugins.lens.config import TUNED_LIMIT, LensOptions
from harness_plugins.lens.files import to_csv, to_png
from trainers.config import read_run_record
from trainers.model import (
    check_model_path,
    final_norm,
    label_token_ids,
    load_causal_lm,
    pad_id,
    pick_device,
    residual_streams,
)
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


# --------------------------------------------------------------------------- checkpoints


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


class LabelUnembed:
    """Final norm + unembedding restricted to some token ids: how both lenses turn a stream into logits."""

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


class LogitLens:
    """The logit lens, shaped as tuned-lens's ``LogitLens(unembed)``: every layer's stream goes to the
    unembedding as it is."""

    def __init__(self, unembed: LabelUnembed):
        self.unembed = unembed

    def transform_hidden(self, hidden, layer: int):
        return hidden

    def __call__(self, hidden, layer: int):
        return self.unembed(self.transform_hidden(hidden, layer))


class TunedLens(LogitLens):
    """A trained ``tuned_lens.nn.TunedLens``'s translator for the layer, then the same unembedding. The last
    layer has no translator (its stream is what the model decodes), so there it is the logit lens."""

    def __init__(self, unembed: LabelUnembed, translators):
        super().__init__(unembed)
        self.translators = translators

    def transform_hidden(self, hidden, layer: int):
        if layer >= len(self.translators.layer_translators):
            return hidden
        # The translators train in fp32 (see train_tuned_lens), whatever the model's dtype.
        return self.translators.transform_hidden(hidden.float(), layer).to(hidden.dtype)


def _tuned_lens_module():
    """The package's TunedLens (our :class:`TunedLens` wraps a trained one), its config and Unembed."""
    try:
        from tuned_lens.nn import TunedLens as PackageTunedLens
        from tuned_lens.nn import TunedLensConfig
        from tuned_lens.nn.unembed import Unembed
    except ImportError:
        raise DataError(TUNED_MISSING) from None
    return PackageTunedLens, TunedLensConfig, Unembed


def train_tuned_lens(model, tokenizer, prompts: Sequence[str], *, epochs: int = 3, lr: float = 1e-3,
                     batch_size: int = 8, seed: int = 0):
    """Fit a ``tuned_lens.nn.TunedLens`` on ``prompts``: each translator minimises
    KL(final-layer distribution || its layer's decoded distribution) over all prompt tokens."""
    import copy

    import torch

    PackageTunedLens, TunedLensConfig, Unembed = _tuned_lens_module()

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
    lens = PackageTunedLens(_Unembed(model), config).to(device).float()
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

    examples = [ex for ex in examples if ex.answer is not None]
    if not examples:
        raise DataError("no examples with a gold label to score")
    labels = examples[0].labels
    if any(ex.labels != labels for ex in examples):
        raise DataError("examples have different label sets; score one dataset at a time")
    checkpoint = Path(resolve_student(checkpoint))
    if not checkpoint.is_dir():
        raise DataError("checkpoint folder not found", path=checkpoint)
    device = pick_device(device)
    tokenizer, model = load_causal_lm(str(checkpoint), device, role="checkpoint")
    unembed = LabelUnembed(model, label_token_ids(tokenizer, labels))
    gold = torch.tensor([labels.index(ex.answer) for ex in examples], device=device)
    lenses = {"logit": LogitLens(unembed)}
    if tuned_prompts is not None:
        lenses["tuned"] = TunedLens(unembed, train_tuned_lens(model, tokenizer, tuned_prompts, epochs=tuned_epochs))

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
                    scores = lens(h, layer).float()
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


def run_lens(checkpoints: Sequence[str | Path], dataset: str, *, source: str = LensOptions.source,
             split: str | None = LensOptions.split, limit: int | None = LensOptions.limit, out_dir: str | Path,
             tuned: bool = LensOptions.tuned, tuned_limit: int | None = LensOptions.tuned_limit,
             batch_size: int = LensOptions.batch_size, device: str | None = LensOptions.device) -> LensResult:
    """Score every checkpoint, then write ``lens_<dataset>.csv`` and ``.png`` into ``out_dir`` atomically."""
    from cot_tasks.data import EVAL_SPLIT, load_split
    from cot_tasks.io import write_files_atomic

    check_at_least(dict(limit=limit, tuned_limit=tuned_limit, batch_size=batch_size), limit=1, tuned_limit=1,
                   batch_size=1)
    if tuned_limit is not None and not tuned:
        raise DataError("--tuned-limit sizes the tuned lens's training: add --tuned, or leave it out")
    tuned_limit = TUNED_LIMIT if tuned_limit is None else tuned_limit
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
