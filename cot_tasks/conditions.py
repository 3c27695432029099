"""CoT conditions: how a gold label and a teacher rationale become a training target.

Every condition is one pure function ``(example, rationale, rng, ctx, arg) -> Target``
in the ``CONDITIONS`` registry. The target is the text that follows
``render_prompt(example)``; it starts with ``TARGET_DELIMITER`` (a space).

================================  ==============================================
``none``                          ``" A"``
``pre``                           ``" <rationale>\\nAnswer: A"`` (scored by ``cot_<ds>_gen``)
``post``                          ``" A. <rationale>"``
``shuffled_post`` / ``shuffled_pre``  the rationale's words in a seeded random order
``masked_post:P``                 a fraction P of the rationale's words -> ``MASK``
``filler_post``                   one ``FILLER`` per rationale word (length control)
``other_post``                    another training example's rationale (content control)
``answer_masked_post``            the gold answer's text removed from the rationale
``keytokens_post:K``              the K top integrated-gradients tokens, in rationale order
``random_post:K``                 K random rationale tokens, in rationale order (control)
================================  ==============================================

Suffix ``@tokens`` (``shuffled_post@tokens``, ``masked_post:0.3@tokens``,
``filler_post@tokens``) works on the student tokenizer's tokens instead of
whitespace words; it needs ``ctx.tokenizer``.

Policy for examples without a rationale: they are dropped from the training set
for EVERY condition (``none`` included, so all conditions train on the same
questions) and counted in :class:`TargetReport`; if none join, it is an error.

A ``Target`` keeps the rationale apart (``head + body + tail``) so that the
trainer can cut an over-long rationale without ever touching the label.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from cot_tasks.errors import DataError
from cot_tasks.names import gen_task, label_task
from cot_tasks.prompts import ANSWER_CUE, TARGET_DELIMITER
from cot_tasks.records import Example

# One GPT-2 token each after a space; plain text so any tokenizer can spell them.
MASK = "_"
FILLER = "."
TOKEN_LEVEL_SUFFIX = "@tokens"


@dataclass(frozen=True)
class Target:
    """``head + body + tail``: ``body`` is the (possibly transformed) rationale, the only cuttable part."""

    head: str
    body: str = ""
    tail: str = ""

    @property
    def text(self) -> str:
        return self.head + self.body + self.tail

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ConditionContext:
    """What some conditions need beyond one example.

    ``pool``: ``{id: normalised rationale}`` of the training set (``other_post``).
    ``tokenizer``: the student tokenizer (``@tokens`` variants).
    ``extras``: room for stage outputs later conditions need (e.g. attribution scores).
    """

    pool: Mapping[str, str] = field(default_factory=dict)
    tokenizer: Any = None
    token_level: bool = False
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Condition:
    """A parsed condition spec: ``name[:arg][@tokens]``."""

    name: str
    arg: float | int | None = None
    token_level: bool = False

    @property
    def spec(self) -> str:
        arg = "" if self.arg is None else f":{self.arg:g}" if isinstance(self.arg, float) else f":{self.arg}"
        return f"{self.name}{arg}{TOKEN_LEVEL_SUFFIX if self.token_level else ''}"

    @property
    def slug(self) -> str:
        """Filesystem-safe spelling (run folder names)."""
        return self.spec.replace(":", "-").replace("@", "+")


def normalise(text: str) -> str:
    """Collapse all whitespace (newlines included) to single spaces, so targets never hold blank lines."""
    return " ".join(text.split())


# -- helpers ----------------------------------------------------------------

def _units(text: str, ctx: ConditionContext) -> list:
    """The rationale as a list of units: whitespace words, or student token ids with ``@tokens``."""
    if ctx.token_level:
        if ctx.tokenizer is None:
            raise DataError(f"condition '{TOKEN_LEVEL_SUFFIX}' variants need the student tokenizer")
        return list(ctx.tokenizer(" " + text, add_special_tokens=False)["input_ids"])
    return text.split()


def _join(units: list, ctx: ConditionContext) -> str:
    """Back to text, starting with a space (the delimiter before the rationale)."""
    if ctx.token_level:
        return " " + normalise(ctx.tokenizer.decode(units))
    return " " + " ".join(units)


def _unit_for(word: str, ctx: ConditionContext):
    """``MASK``/``FILLER`` as one unit: a word, or the student token spelling ``' ' + word``."""
    if not ctx.token_level:
        return word
    ids = ctx.tokenizer(" " + word, add_special_tokens=False)["input_ids"]
    return ids[-1]


def _post(example: Example, body: str) -> Target:
    # Label first: the first target token is the label, so the label-first task scores it.
    return Target(head=f"{TARGET_DELIMITER}{example.answer}.", body=body)


def _pre(example: Example, body: str) -> Target:
    return Target(head="", body=body, tail=f"\n{ANSWER_CUE} {example.answer}")


# -- the conditions ---------------------------------------------------------

def cond_none(example, rationale, rng, ctx, arg) -> Target:
    return Target(head=f"{TARGET_DELIMITER}{example.answer}")


def cond_pre(example, rationale, rng, ctx, arg) -> Target:
    return _pre(example, " " + rationale)


def cond_post(example, rationale, rng, ctx, arg) -> Target:
    return _post(example, " " + rationale)


def _shuffled(rationale, rng, ctx) -> str:
    units = _units(rationale, ctx)
    rng.shuffle(units)
    return _join(units, ctx)


def cond_shuffled_post(example, rationale, rng, ctx, arg) -> Target:
    return _post(example, _shuffled(rationale, rng, ctx))


def cond_shuffled_pre(example, rationale, rng, ctx, arg) -> Target:
    return _pre(example, _shuffled(rationale, rng, ctx))


def cond_masked_post(example, rationale, rng, ctx, arg) -> Target:
    units = _units(rationale, ctx)
    # Exactly round(P * n) positions, chosen without replacement: the fraction is what the user asked.
    chosen = set(rng.sample(range(len(units)), round(arg * len(units))))
    mask = _unit_for(MASK, ctx)
    return _post(example, _join([mask if i in chosen else u for i, u in enumerate(units)], ctx))


def cond_filler_post(example, rationale, rng, ctx, arg) -> Target:
    units = _units(rationale, ctx)
    return _post(example, _join([_unit_for(FILLER, ctx)] * len(units), ctx))


def cond_other_post(example, rationale, rng, ctx, arg) -> Target:
    others = sorted(i for i in ctx.pool if i != example.id)
    if not others:
        raise DataError("condition 'other_post' needs at least two examples with rationales")
    return _post(example, " " + ctx.pool[rng.choice(others)])


def cond_answer_masked_post(example, rationale, rng, ctx, arg) -> Target:
    answer = example.answer_text or ""
    if answer.strip():
        # Whole-word match so 'bank' does not eat into 'embankment'.
        pattern = r"(?<!\w)" + re.escape(answer.strip()) + r"(?!\w)"
        rationale = normalise(re.sub(pattern, " ", rationale, flags=re.IGNORECASE))
    return _post(example, " " + rationale if rationale else "")


# -- key tokens (third finding): need ctx.extras["attributions"] from `cot-distill attribute` --

def _attribution_row(example, ctx):
    rows = ctx.extras.get("attributions")
    if rows is None:
        raise DataError("conditions keytokens_post/random_post need an attribution file "
                        "(cot-distill attribute; --attributions)")
    if example.id not in rows:
        raise DataError(f"no attribution for example {example.id!r}; rerun cot-distill attribute on this split")
    return rows[example.id]


def cond_keytokens_post(example, rationale, rng, ctx, arg) -> Target:
    from cot_tasks.rationales.keytokens import key_tokens

    text = key_tokens(_attribution_row(example, ctx), arg)
    return _post(example, " " + text if text else "")


def cond_random_post(example, rationale, rng, ctx, arg) -> Target:
    from cot_tasks.rationales.keytokens import random_tokens

    text = random_tokens(_attribution_row(example, ctx), arg, rng)
    return _post(example, " " + text if text else "")


def _count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise DataError(f"keytokens_post:K / random_post:K need a whole number K >= 1, got {value!r}")
    return int(value)


def _fraction(value: str) -> float:
    try:
        p = float(value)
    except ValueError:
        p = float("nan")
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise DataError(f"masked_post:P needs a fraction P in [0, 1], got {value!r}")
    return p


@dataclass(frozen=True)
class ConditionSpec:
    fn: Callable[..., Target]
    # Parses the text after ':'; None means the condition takes no argument.
    parse_arg: Callable[[str], Any] | None = None
    # Which lm-eval task scores students trained on it: "label" (cot_<ds>) or "gen" (cot_<ds>_gen).
    scored_by: str = "label"
    # Whether '@tokens' means anything for it.
    token_level_ok: bool = False
    # Whether it reads ctx.extras["attributions"] (the trainer's --attributions file).
    needs_attributions: bool = False


CONDITIONS: dict[str, ConditionSpec] = {
    "none": ConditionSpec(cond_none),
    "pre": ConditionSpec(cond_pre, scored_by="gen"),
    "post": ConditionSpec(cond_post),
    "shuffled_post": ConditionSpec(cond_shuffled_post, token_level_ok=True),
    "shuffled_pre": ConditionSpec(cond_shuffled_pre, scored_by="gen", token_level_ok=True),
    "masked_post": ConditionSpec(cond_masked_post, parse_arg=_fraction, token_level_ok=True),
    "filler_post": ConditionSpec(cond_filler_post, token_level_ok=True),
    "other_post": ConditionSpec(cond_other_post),
    "answer_masked_post": ConditionSpec(cond_answer_masked_post),
    "keytokens_post": ConditionSpec(cond_keytokens_post, parse_arg=_count, needs_attributions=True),
    "random_post": ConditionSpec(cond_random_post, parse_arg=_count, needs_attributions=True),
}


def known_conditions() -> str:
    return ", ".join(name + (":ARG" if spec.parse_arg else "") for name, spec in CONDITIONS.items())


def parse_condition(spec: str | Condition) -> Condition:
    """``"masked_post:0.3@tokens"`` -> ``Condition("masked_post", 0.3, True)``; bad spec -> DataError."""
    if isinstance(spec, Condition):
        return spec
    text = spec.strip()
    token_level = text.endswith(TOKEN_LEVEL_SUFFIX)
    if token_level:
        text = text[: -len(TOKEN_LEVEL_SUFFIX)]
    name, sep, raw_arg = text.partition(":")
    if name not in CONDITIONS:
        raise DataError(f"unknown condition {spec!r} (known: {known_conditions()})")
    entry = CONDITIONS[name]
    if entry.parse_arg is None and sep:
        raise DataError(f"condition {name!r} takes no argument, got {spec!r}")
    if entry.parse_arg is not None and not sep:
        raise DataError(f"condition {name!r} needs an argument ({name}:ARG), got {spec!r}")
    if token_level and not entry.token_level_ok:
        raise DataError(f"condition {name!r} has no {TOKEN_LEVEL_SUFFIX} variant")
    return Condition(name, entry.parse_arg(raw_arg) if entry.parse_arg else None, token_level)


def task_for(condition: str | Condition, dataset: str) -> str:
    """The lm-eval task that scores a student trained on ``condition``: the one place this is decided."""
    cond = parse_condition(condition)
    return gen_task(dataset) if CONDITIONS[cond.name].scored_by == "gen" else label_task(dataset)


def label_first(condition: str | Condition) -> bool:
    """Whether the target starts with ``" <label>"``: the conditions the label-first task scores."""
    return CONDITIONS[parse_condition(condition).name].scored_by == "label"


def needs_attributions(condition: str | Condition) -> bool:
    return CONDITIONS[parse_condition(condition).name].needs_attributions


def example_rng(seed: int, condition: Condition, example_id: str) -> random.Random:
    """Per-example RNG: a target does not depend on which other examples are in the set."""
    # str seeds hash with SHA-512 inside random.seed, so this is stable across runs and platforms.
    return random.Random(f"{seed}|{condition.spec}|{example_id}")


def make_target(example: Example, rationale: str, condition: str | Condition, *,
                seed: int = 0, ctx: ConditionContext | None = None) -> Target:
    """One training target; ``rationale`` is normalised here."""
    cond = parse_condition(condition)
    if example.answer is None:
        raise DataError(f"example {example.id!r} has no gold answer; cannot build a training target")
    ctx = ctx or ConditionContext()
    if ctx.token_level != cond.token_level:
        ctx = ConditionContext(ctx.pool, ctx.tokenizer, cond.token_level, ctx.extras)
    rng = example_rng(seed, cond, example.id)
    return CONDITIONS[cond.name].fn(example, normalise(rationale), rng, ctx, cond.arg)


@dataclass
class TargetReport:
    total: int = 0
    joined: int = 0
    missing_ids: list[str] = field(default_factory=list)

    @property
    def unjoined(self) -> int:
        return len(self.missing_ids)

    def line(self) -> str:
        return f"{self.joined}/{self.total} examples have a rationale ({self.unjoined} dropped)"


def build_targets(examples: Sequence[Example], rationales: Mapping[str, str] | None,
                  condition: str | Condition, *, seed: int = 0, tokenizer: Any = None,
                  source: str = "rationales", extras: Mapping[str, Any] | None = None,
                  ) -> tuple[list[tuple[Example, Target]], TargetReport]:
    """Targets for a training set, dropping (and counting) examples without a rationale.

    ``rationales`` maps id -> rationale text; None is allowed only for ``none``
    (then every example is kept). ``source`` names the rationale file in errors.
    """
    cond = parse_condition(condition)
    report = TargetReport(total=len(examples))
    if rationales is None:
        if cond.name != "none":
            raise DataError(f"condition {cond.spec!r} needs a rationale file")
        report.joined = len(examples)
        return [(ex, make_target(ex, "", cond, seed=seed)) for ex in examples], report
    kept = []
    for ex in examples:
        text = rationales.get(ex.id)
        if text is None or not normalise(text):
            report.missing_ids.append(ex.id)
        else:
            kept.append((ex, normalise(text)))
    report.joined = len(kept)
    if not kept:
        raise DataError(f"no example ids join the rationale ids (0 of {len(examples)} joined, "
                        f"{len(rationales)} rationales)", path=source)
    ctx = ConditionContext(pool={ex.id: text for ex, text in kept}, tokenizer=tokenizer, extras=extras or {})
    return [(ex, make_target(ex, text, cond, seed=seed, ctx=ctx)) for ex, text in kept], report
