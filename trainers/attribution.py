"""Key tokens of a rationale (``cot-distill attribute``): examples in, one attribution record per example out.

For each training example with a rationale, prompt + " " + rationale + "\\nAnswer:" + gold label (the ``pre``
target layout; in the cloze formulation the label is the gold answer text, all its tokens) is tokenized in
one go (:func:`encode`), examples are sorted by length and batched, and the method named by
``AttributionConfig.method`` scores each rationale token (:mod:`trainers.attribution_method`, the interface;
:data:`METHODS`, the registry). Integrated gradients with the prompt's keys and values reused is the one
method (:mod:`trainers.attribution_ig`). The file is JSON lines, resumable; each record names its method,
settings and weights (sha256), and a file is resumed only by the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cot_tasks.conditions import ConditionContext, normalise
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
from trainers.attribution_ig import (  # noqa: F401 (where benchmarks and tests import them from)
    BASELINE_HELP,
    IntegratedGradients,
    attribute_batch,
    baseline_token_id,
    check_baseline,
    collate,
    completeness_error,
    label_logprob,
)
from trainers.attribution_method import AttributionMethod
from trainers.config import option, source_option, split_option

# The attribution methods by name (AttributionConfig.method): adding one is its module and a line here.
METHODS: dict[str, type[AttributionMethod]] = {IntegratedGradients.name: IntegratedGradients}


@dataclass(frozen=True)
class AttributionConfig:
    """One attribution run; its fields are ``cot-distill attribute``'s options (each default stated here)."""

    model: str = option(help="checkpoint to attribute with (normally the student trained with 'pre'; a teacher "
                             "works too)")
    dataset: str = option(help="which dataset")
    rationales: Path = option(help="rationale file (JSON lines)")
    out: Path = option(help="attribution file to write (JSON lines; resumes)")
    split: str = split_option()
    source: str = source_option()
    method: str = option(IntegratedGradients.name, f"how rationale tokens are scored: {', '.join(METHODS)}")
    steps: int = option(20, "integrated-gradients points on the path")
    baseline: str = option("pad", BASELINE_HELP)
    k: int = option(10, "top tokens recorded per example (for inspection)")
    batch_size: int = option(8, "examples scored together (integrated gradients: per captum call)")
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


def attribution_method(config: AttributionConfig) -> AttributionMethod:
    """The method ``config`` names, its settings read and checked (one-line DataErrors)."""
    if config.method not in METHODS:
        raise DataError(f"unknown attribution method {config.method!r} (one of {', '.join(METHODS)})")
    return METHODS[config.method].from_config(config)


def run_attribution(config: AttributionConfig, examples: Sequence[Example] | None = None,
                    model_and_tokenizer: tuple[Any, Any] | None = None) -> AttributionReport:
    """Attribute every example of the split that has a rationale and is not yet in ``config.out``."""
    import statistics

    from cot_tasks.rationales.format import read_rationales
    from trainers.model import load_causal_lm, pick_device, weights_sha256
    from trainers.students import resolve_student

    method = attribution_method(config)
    settings = method.settings()
    check_at_least(config, steps=2, batch_size=1, k=1, internal_batch_size=1, limit=1, max_length=2)
    if examples is None:
        from cot_tasks.data import load_split

        examples = load_split(config.dataset, config.split, config.source)
    examples = list(examples)[: config.limit]
    rationales = read_rationales(config.rationales, config.dataset)
    device = pick_device(config.device)
    if model_and_tokenizer is None:
        checkpoint = resolve_student(config.model)
        weights = weights_sha256(checkpoint)  # None for a hub name
        tokenizer, model = load_causal_lm(checkpoint, device, role="attribution",
                                          trust_remote_code=config.trust_remote_code)
    else:
        weights = None  # weights in memory: no file to name them by
        model, tokenizer = model_and_tokenizer
        model = model.to(device).eval()
    if not getattr(tokenizer, "is_fast", False):
        raise DataError("attribution needs a fast tokenizer (for token offsets)", path=config.model)
    fingerprint = tokenizer_fingerprint(tokenizer)
    repaired = repair_tail(config.out)
    done = read_attributions(config.out, fingerprint, method=method.name, settings=settings,
                             weights=weights) if Path(config.out).is_file() else {}

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
    for p in model.parameters():
        p.requires_grad_(False)  # gradients, where a method takes them, are w.r.t. the embeddings only
    try:
        score = method.scorer(model, tokenizer, device)
    except DataError as err:
        raise DataError(str(err), path=config.model) from None
    errors = []
    with stage_bar(len(todo), f"attribute {config.dataset} {config.split}", unit="ex") as bar:
        for i in range(0, len(todo), config.batch_size):
            batch = todo[i: i + config.batch_size]
            rows = []
            for it, res in zip(batch, score(batch), strict=True):
                if res.completeness_error is not None:
                    errors.append(res.completeness_error)
                error = None if res.completeness_error is None else round(res.completeness_error, 6)
                rows.append(attribution_record(
                    id=it.id, dataset=config.dataset, rationale=it.text, spans=it.spans,
                    token_ids=[it.input_ids[p] for p in it.rationale], scores=res.scores, k=config.k,
                    model=config.model, tokenizer_fingerprint=fingerprint, weights_sha256=weights, **res.values,
                    completeness_error=error, method=method.name, settings=settings))
            append_attributions(config.out, rows)
            bar.update(len(batch))
    return AttributionReport(
        out=Path(config.out), done_before=len(done), attributed=len(todo), skipped_long=skipped_long,
        missing_rationale=missing, median_completeness_error=statistics.median(errors) if errors else None,
        dropped_broken_line=repaired,
    )
