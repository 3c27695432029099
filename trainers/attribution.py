"""Key tokens of a rationale by integrated gradients (``cot-distill attribute``).

For each training example we score F = log p(gold label | prompt + " " +
rationale + "\\nAnswer:") -- the ``pre`` target layout; in the cloze formulation the label is the
gold answer text, all its tokens -- and attribute F to
the input embeddings with captum's LayerIntegratedGradients. The baseline
replaces only the rationale tokens (by the pad or eos embedding), so prompt and
cue get zero attribution and the rationale scores sum to F(input) - F(baseline).

Speed comes from doing many examples per forward: examples are sorted by
length, right-padded with an attention mask, and each captum call runs
``batch_size`` examples x ``steps`` interpolation points (chunked by
``internal_batch_size``). The prompt, the same at every step, runs once and its
keys and values are reused (:mod:`trainers.prompt_cache`). Only the label
positions go through the LM head, so the vocabulary-sized logits never exist
for the whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cot_tasks.conditions import ConditionContext, normalise
from cot_tasks.data import DEFAULT_SOURCE
from cot_tasks.errors import DataError, check_at_least
from cot_tasks.io import repair_tail
from cot_tasks.progress import stage_bar
from cot_tasks.prompts import MCF, gold_label, render_prompt
from cot_tasks.rationales.keytokens import (
    append_attributions,
    attribution_record,
    read_attributions,
    tokenizer_fingerprint,
)
from cot_tasks.records import Example
from cot_tasks.targets import make_target
from trainers.config import option

BASELINE_HELP = ("what replaces the rationale tokens at the path's start: pad, eos, or token:TEXT, one student "
                 "token (token: the = ' the'). Where pad/eos is also the model's bos (SmolLM2: <|endoftext|>, a "
                 "likely attention sink) the path is near-singular and the integral does not converge; check the "
                 "completeness error")


def check_baseline(baseline: str) -> None:
    """A baseline name is pad, eos or token:TEXT with some text."""
    if baseline in ("pad", "eos") or (baseline.startswith("token:") and baseline[len("token:"):]):
        return
    raise DataError(f"unknown baseline {baseline!r} (pad, eos or token:TEXT, e.g. 'token: the')")


def baseline_token_id(tokenizer: Any, baseline: str) -> int:
    """The token id that replaces each rationale token at the path's start."""
    check_baseline(baseline)
    if baseline.startswith("token:"):
        text = baseline[len("token:"):]
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise DataError(f"baseline {baseline!r}: {text!r} is {len(ids)} tokens of this student, not one")
        return ids[0]
    from trainers.model import pad_id

    token_id = pad_id(tokenizer) if baseline == "pad" else tokenizer.eos_token_id
    if token_id is None:
        raise DataError(f"the tokenizer has no {baseline} token; use another baseline")
    return token_id


@dataclass(frozen=True)
class AttributionConfig:
    """One attribution run; its fields are ``cot-distill attribute``'s options (each default stated here)."""

    model: str = option(help="checkpoint to attribute with (normally the student trained with 'pre'; a teacher "
                             "works too)")
    dataset: str = option(help="which dataset")
    rationales: Path = option(help="rationale file (JSON lines)")
    out: Path = option(help="attribution file to write (JSON lines; resumes)")
    split: str = option("train", "the split whose questions are used")
    source: str = option(DEFAULT_SOURCE, "where the questions come from: hub, sample, or a directory of the "
                                         "original files")
    steps: int = option(20, "integrated-gradients points on the path")
    baseline: str = option("pad", BASELINE_HELP)
    k: int = option(10, "top tokens recorded per example (for inspection)")
    batch_size: int = option(8, "examples per captum call")
    # 64 bounds memory (SmolLM2, 8 examples x 32 steps at once: 17 GB) and is faster on a CPU than one large
    # forward (3.75 vs 5.78 s an example, measured).
    internal_batch_size: int | None = option(64, "rows (examples x steps) per forward: bounds memory "
                                                 "(0 or None: all at once)")
    device: str | None = option(None, "default: cuda when available")
    limit: int | None = option(None, "attribute only the first N examples")
    max_length: int = option(1024, "longer sequences are skipped and counted")
    formulation: str = option(MCF, "the label attributed: the gold letter (mcf) or the gold answer text, all its "
                                   "tokens (cf); as the model was trained")
    trust_remote_code: bool = option(False, "let transformers run code shipped with the model (as train "
                                            "--trust-remote-code)")


@dataclass(frozen=True)
class Encoded:
    """One example as token ids, with where its rationale and its gold label sit."""

    id: str
    input_ids: list[int]
    rationale: list[int]  # positions of rationale tokens
    label: list[int]  # positions of the gold label's tokens (the last tokens)
    text: str = ""  # the (normalised) rationale
    spans: tuple[tuple[int, int], ...] = ()  # each rationale token's characters in ``text``


@dataclass(frozen=True)
class AttributionReport:
    out: Path
    done_before: int
    attributed: int
    skipped_long: int
    missing_rationale: int
    median_completeness_error: float | None
    dropped_broken_line: bool

    def line(self) -> str:
        err = "" if self.median_completeness_error is None else (
            f"; median completeness error {self.median_completeness_error:.2%}")
        broken = " (dropped an unfinished last line from a killed run)" if self.dropped_broken_line else ""
        return (f"{self.out}: {self.done_before} already there, {self.attributed} attributed, "
                f"{self.skipped_long} too long, {self.missing_rationale} without a rationale{err}{broken}")


def encode(example: Example, rationale_text: str, tokenizer: Any, formulation: str = MCF) -> Encoded:
    """Tokenize prompt + ``pre`` target in one go (so merges match training) and map the rationale
    and label characters to token positions through the offsets."""
    prompt = render_prompt(example, formulation)
    target = make_target(example, rationale_text, "pre", ctx=ConditionContext(formulation=formulation))
    text = prompt + target.text
    # The body is " " + rationale; its leading space belongs to the first rationale token anyway.
    r_start = len(prompt) + len(target.head)
    r_end = r_start + len(target.body)
    l_start = len(text) - len(gold_label(example, formulation))
    enc = tokenizer(text, return_offsets_mapping=True)
    spans = enc["offset_mapping"]
    rationale = [i for i, (s, e) in enumerate(spans) if e > s and s < r_end and e > r_start]
    label = [i for i, (s, e) in enumerate(spans) if e > s and e > l_start]
    if not rationale or not label or label[-1] != len(spans) - 1 or set(rationale) & set(label):
        raise DataError(f"cannot locate rationale and label tokens of example {example.id!r}")
    # Offsets count characters, so a byte piece of a multi-byte character spans the whole character.
    r_text = r_start + 1  # after the body's leading space
    chars = [(min(max(spans[i][0], r_text), r_end) - r_text, max(min(spans[i][1], r_end), r_text) - r_text)
             for i in rationale]
    return Encoded(example.id, list(enc["input_ids"]), rationale, label, normalise(rationale_text), tuple(chars))


def label_logprob(model: Any):
    """F(input_ids, ...) -> log p(gold label tokens), one value per row.

    Runs the base model and applies the LM head only at the positions that
    predict the label, instead of materialising (rows x length x vocab) logits.
    """
    import torch

    from trainers.model import head_logits

    def forward(input_ids, attention_mask, label_pos, label_ids, label_mask):
        hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        rows = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
        logp = torch.log_softmax(head_logits(model, hidden[rows, label_pos - 1]).float(), dim=-1)
        picked = logp.gather(-1, label_ids[..., None]).squeeze(-1)
        return (picked * label_mask).sum(-1)

    return forward


def collate(items: Sequence[Encoded], pad_id: int, baseline_id: int, device: str):
    """Right-padded ids, attention mask, baseline ids (rationale -> baseline token) and label indices."""
    import torch

    from trainers.data import right_pad

    n, width = len(items), max(len(it.label) for it in items)
    ids, mask = right_pad([it.input_ids for it in items], pad_id)
    label_pos = torch.ones((n, width), dtype=torch.long)
    label_mask = torch.zeros((n, width))
    for row, it in enumerate(items):
        label_pos[row, : len(it.label)] = torch.tensor(it.label)
        label_mask[row, : len(it.label)] = 1
    base = ids.clone()
    for row, it in enumerate(items):
        base[row, it.rationale] = baseline_id
    label_ids = ids.gather(1, label_pos)
    extra = tuple(t.to(device) for t in (mask, label_pos, label_ids, label_mask))
    return ids.to(device), base.to(device), extra


def attribute_batch(model: Any, items: Sequence[Encoded], *, steps: int, pad_id: int, baseline_id: int,
                    device: str, internal_batch_size: int | None = None,
                    reuse_prompt: bool = True) -> list[dict[str, Any]]:
    """Scores per rationale token for several examples in one captum call, plus F(x), F(baseline).

    ``reuse_prompt``: run the prompt once and every step over the rationale, cue and label only
    (:mod:`trainers.prompt_cache`; not for sliding-window models, see ``prompt_cache.supported``); the
    prompt's attributions are zero either way (input equals baseline there), so the scores are the full
    sequence's up to float rounding.
    """
    import torch
    from captum.attr import LayerIntegratedGradients

    from trainers import prompt_cache

    if reuse_prompt and prompt_cache.supported(model):
        (prefix, prefix_mask), (ids, base), extra = prompt_cache.split(items, pad_id, baseline_id, device)
        extra = extra + prompt_cache.prefix_kv(model, prefix, prefix_mask)
        forward = prompt_cache.suffix_logprob(model)
        offsets = [it.rationale[0] for it in items]  # suffix column 0 is this input position
    else:
        ids, base, extra = collate(items, pad_id, baseline_id, device)
        forward = label_logprob(model)
        offsets = [0] * len(items)
    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    attributions = lig.attribute(ids, baselines=base, additional_forward_args=extra, n_steps=steps,
                                 internal_batch_size=internal_batch_size)
    with torch.no_grad():
        f_input, f_base = forward(ids, *extra), forward(base, *extra)
    per_token = attributions.sum(-1).detach().float().cpu()
    out = []
    for row, (it, offset) in enumerate(zip(items, offsets)):
        out.append({
            "scores": per_token[row, [p - offset for p in it.rationale]].tolist(),
            "total": float(per_token[row].sum()),  # all positions: the completeness check uses this
            "f_input": float(f_input[row]),
            "f_baseline": float(f_base[row]),
        })
    return out


def completeness_error(result: dict[str, Any]) -> float:
    """|sum of attributions - (F(x) - F(baseline))| / |F(x) - F(baseline)|."""
    gap = result["f_input"] - result["f_baseline"]
    return abs(result["total"] - gap) / max(abs(gap), 1e-8)


def run_attribution(config: AttributionConfig, examples: Sequence[Example] | None = None,
                    model_and_tokenizer: tuple[Any, Any] | None = None) -> AttributionReport:
    """Attribute every example of the split that has a rationale and is not yet in ``config.out``."""
    import statistics

    from cot_tasks.rationales.format import read_rationales
    from trainers.model import load_causal_lm, pad_id, pick_device
    from trainers.students import resolve_student

    check_baseline(config.baseline)
    check_at_least(config, steps=2, batch_size=1, k=1, internal_batch_size=1, limit=1, max_length=2)
    if examples is None:
        from cot_tasks.data import load_split

        examples = load_split(config.dataset, config.split, config.source)
    examples = list(examples)[: config.limit]
    rationales = read_rationales(config.rationales, config.dataset)
    device = pick_device(config.device)
    if model_and_tokenizer is None:
        tokenizer, model = load_causal_lm(resolve_student(config.model), device, role="attribution",
                                          trust_remote_code=config.trust_remote_code)
    else:
        model, tokenizer = model_and_tokenizer
        model = model.to(device).eval()
    if not getattr(tokenizer, "is_fast", False):
        raise DataError("attribution needs a fast tokenizer (for token offsets)", path=config.model)
    fingerprint = tokenizer_fingerprint(tokenizer)
    repaired = repair_tail(config.out)
    done = read_attributions(config.out, fingerprint) if Path(config.out).is_file() else {}

    todo, skipped_long, missing = [], 0, 0
    for ex in examples:
        if ex.id in done:
            continue
        r = rationales.get(ex.id)
        if r is None or not r.rationale.strip() or ex.answer is None:
            missing += 1
            continue
        enc = encode(ex, r.rationale, tokenizer, config.formulation)
        if len(enc.input_ids) > config.max_length:
            skipped_long += 1
            continue
        todo.append(enc)
    # Similar lengths share a batch, so little compute goes to padding.
    todo.sort(key=lambda it: len(it.input_ids))
    pad = pad_id(tokenizer)
    try:
        baseline_id = baseline_token_id(tokenizer, config.baseline)
    except DataError as err:
        raise DataError(str(err), path=config.model) from None
    errors = []
    for p in model.parameters():
        p.requires_grad_(False)  # gradients are needed w.r.t. the embeddings only
    with stage_bar(len(todo), f"attribute {config.dataset} {config.split}", unit="ex") as bar:
        for i in range(0, len(todo), config.batch_size):
            batch = todo[i: i + config.batch_size]
            results = attribute_batch(model, batch, steps=config.steps, pad_id=pad, baseline_id=baseline_id,
                                      device=device, internal_batch_size=config.internal_batch_size)
            rows = []
            for it, res in zip(batch, results):
                errors.append(completeness_error(res))
                rows.append(attribution_record(
                    id=it.id, dataset=config.dataset, rationale=it.text, spans=it.spans,
                    token_ids=[it.input_ids[p] for p in it.rationale], scores=res["scores"], k=config.k,
                    model=config.model, tokenizer_fingerprint=fingerprint,
                    f_input=res["f_input"], f_baseline=res["f_baseline"],
                    completeness_error=round(errors[-1], 6), steps=config.steps, baseline=config.baseline))
            append_attributions(config.out, rows)
            bar.update(len(batch))
    return AttributionReport(
        out=Path(config.out), done_before=len(done), attributed=len(todo), skipped_long=skipped_long,
        missing_rationale=missing, median_completeness_error=statistics.median(errors) if errors else None,
        dropped_broken_line=repaired,
    )
