"""CoT conditions: how a gold label and a teacher rationale become a training target, and what each is set
against.

Every condition is one pure function ``(example, rationale, rng, ctx, arg) -> Target`` in the
``CONDITIONS`` registry, beside its comparison semantics (``baselines_for``, ``to_match``, ``control_of``:
what aggregate, claims and the figures read). The target is the text that follows ``render_prompt(example)``
and starts with ``TARGET_DELIMITER`` (a space): ``none`` is ``" A"``, ``pre`` ``" <rationale>\nAnswer: A"``,
``post`` ``" A. <rationale>"``, and in the cloze formulation (``ctx.formulation == "cf"``) the answer text
stands wherever the letter does. docs/conditions.md has every condition's target. A spec is
``name[:arg][@tokens]``: ``@tokens`` permutes the student tokenizer's tokens instead of whitespace words.

A condition is label-first (the label is the first target token) or reasoning-first (``pre``,
``shuffled_pre``): ``cot_tasks.names.tasks_for`` says which task and key score it. A ``Target`` keeps the
rationale apart (``head + body + tail``) so the trainer can cut an over-long rationale, never the label.
Targets for a whole training set (and examples without a rationale) are ``cot_tasks.targets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping

from cot_tasks import controls
from cot_tasks.errors import DataError
from cot_tasks.prompts import ANSWER_CUE, MCF, TARGET_DELIMITER, gold_label
from cot_tasks.records import Example, Target  # noqa: F401  (Target: where conditions' users import it)

# One GPT-2 token each after a space; plain text so any tokenizer can spell them (a vocabulary
# that spells one as two tokens gets half as many: lengths are matched in tokens).
MASK = "_"
FILLER = "."
TOKEN_LEVEL_SUFFIX = "@tokens"


@dataclass(frozen=True)
class ConditionContext:
    """What some conditions need beyond one example.

    ``pool``: ``{id: normalised rationale}`` of the training set (``other_post``); ``tokenizer``: the student's
    (``@tokens`` variants, length-matched controls); ``extras``: stage outputs later conditions need (attribution
    scores); ``formulation``: the label is the gold letter (``mcf``) or the gold answer text (``cf``).
    """

    pool: Mapping[str, str] = field(default_factory=dict)  # keytokens/random_post read extras["attributions"]
    tokenizer: Any = None
    token_level: bool = False
    extras: Mapping[str, Any] = field(default_factory=dict)
    formulation: str = MCF


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


def _student_tokenizer(name: str, ctx: ConditionContext):
    if ctx.tokenizer is None:
        raise DataError(f"condition '{name}' matches the rationale's length in student tokens "
                        "and needs the student tokenizer")
    return ctx.tokenizer


def _post(example: Example, body: str, ctx: ConditionContext) -> Target:
    # Label first: the target opens with the label, so the label-first task scores it.
    label = gold_label(example, ctx.formulation)
    if ctx.formulation == MCF:
        return Target(head=f"{TARGET_DELIMITER}{label}.", body=body)
    # CF: a line break, not ". ", ends the answer text: byte-level BPEs merge punctuation runs ("(loose)." ->
    # ")."), so the target would not open with the tokens lm-eval scores for the text; whitespace never merges.
    return Target(head=f"{TARGET_DELIMITER}{label}" + ("\n" if body else ""), body=body.lstrip(" "))


def _pre(example: Example, body: str, ctx: ConditionContext) -> Target:
    return Target(head="", body=body, tail=f"\n{ANSWER_CUE} {gold_label(example, ctx.formulation)}")


def cond_none(example, rationale, rng, ctx, arg) -> Target:
    return Target(head=f"{TARGET_DELIMITER}{gold_label(example, ctx.formulation)}")


def cond_pre(example, rationale, rng, ctx, arg) -> Target:
    return _pre(example, " " + rationale, ctx)


def cond_post(example, rationale, rng, ctx, arg) -> Target:
    return _post(example, " " + rationale, ctx)


def _shuffled(rationale, rng, ctx) -> str:
    if ctx.token_level and ctx.tokenizer is None:
        raise DataError(f"condition '{TOKEN_LEVEL_SUFFIX}' variants need the student tokenizer")
    return controls.shuffled_body(rationale, rng, ctx.tokenizer if ctx.token_level else None)


def cond_shuffled_post(example, rationale, rng, ctx, arg) -> Target:
    return _post(example, _shuffled(rationale, rng, ctx), ctx)


def cond_shuffled_pre(example, rationale, rng, ctx, arg) -> Target:
    return _pre(example, _shuffled(rationale, rng, ctx), ctx)


def cond_masked_post(example, rationale, rng, ctx, arg) -> Target:
    tokenizer = _student_tokenizer("masked_post", ctx)
    return _post(example, controls.masked_body(tokenizer, rationale, arg, rng, MASK), ctx)


def cond_filler_post(example, rationale, rng, ctx, arg) -> Target:
    return _post(example, controls.filler_body(_student_tokenizer("filler_post", ctx), rationale, FILLER), ctx)


def cond_other_post(example, rationale, rng, ctx, arg) -> Target:
    others = sorted(i for i in ctx.pool if i != example.id)
    if not others:
        raise DataError("condition 'other_post' needs at least two examples with rationales")
    return _post(example, " " + ctx.pool[rng.choice(others)], ctx)


def cond_answer_masked_post(example, rationale, rng, ctx, arg) -> Target:
    rationale = controls.remove_answer(rationale, example.answer_text or "")
    return _post(example, " " + rationale if rationale else "", ctx)


def cond_keytokens_post(example, rationale, rng, ctx, arg) -> Target:
    from cot_tasks.rationales.keytokens import attribution_of, key_tokens

    text = key_tokens(attribution_of(ctx.extras.get("attributions"), example.id), rationale, arg)
    return _post(example, " " + text if text else "", ctx)


def cond_random_post(example, rationale, rng, ctx, arg) -> Target:
    from cot_tasks.rationales.keytokens import attribution_of, random_tokens

    text = random_tokens(attribution_of(ctx.extras.get("attributions"), example.id), rationale, arg, rng)
    return _post(example, " " + text if text else "", ctx)


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


LABEL_FIRST = "label-first"
REASONING_FIRST = "reasoning-first"


@dataclass(frozen=True)
class ConditionSpec:
    fn: Callable[..., Target]
    # Parses the text after ':'; None means the condition takes no argument.
    parse_arg: Callable[[str], Any] | None = None
    # Where a student trained on it commits to a label: LABEL_FIRST or REASONING_FIRST.
    kind: str = LABEL_FIRST
    # Whether '@tokens' means anything for it.
    token_level_ok: bool = False
    # Whether it reads ctx.extras["attributions"] (the trainer's --attributions file).
    needs_attributions: bool = False
    # Whether its targets depend on the attribution scores, not only on the file's tokenization (random_post).
    uses_scores: bool = False
    # What each run measures on its targets: "length" (against the rationale's, in student tokens), "answer"
    # (how many targets still hold the gold answer).
    measures: tuple[str, ...] = ()
    # Whether it reads a rationale at all (`none` trains on every example, with or without one).
    reads_rationale: bool = True
    # Its comparisons (aggregate, claims, figures read them). Every condition but `none` is set against `none`
    # (what its target adds to the label); `compared_with` names further baselines, `{arg}` standing for its own
    # argument; `to_match` the baselines it is to equal within the claims' margin rather than to beat.
    compared_with: tuple[str, ...] = ()
    to_match: tuple[str, ...] = ()
    # The condition it is the control for (a template like compared_with's), drawn beside it.
    control_of: str | None = None


# In the order conditions appear everywhere (tables, figures); a comparison's words are the claims'.
CONDITIONS: dict[str, ConditionSpec] = {
    "none": ConditionSpec(cond_none, reads_rationale=False),
    "pre": ConditionSpec(cond_pre, kind=REASONING_FIRST),
    "post": ConditionSpec(cond_post, compared_with=("pre",)),  # claim 1: the CoT after the label trains better
    "shuffled_post": ConditionSpec(cond_shuffled_post, token_level_ok=True),  # claim 2: coherence not needed
    "shuffled_pre": ConditionSpec(cond_shuffled_pre, kind=REASONING_FIRST, token_level_ok=True),
    "filler_post": ConditionSpec(cond_filler_post, measures=("length",)),
    "masked_post": ConditionSpec(cond_masked_post, parse_arg=_fraction, measures=("length",)),
    "other_post": ConditionSpec(cond_other_post),
    "answer_masked_post": ConditionSpec(cond_answer_masked_post, measures=("answer",)),
    # claim 3: K key tokens do what the full CoT does, and more than K random ones
    "keytokens_post": ConditionSpec(cond_keytokens_post, parse_arg=_count, needs_attributions=True,
                                    uses_scores=True, compared_with=("post", "random_post:{arg}"),
                                    to_match=("post",)),
    "random_post": ConditionSpec(cond_random_post, parse_arg=_count, needs_attributions=True,
                                 control_of="keytokens_post:{arg}"),
}


def known_conditions() -> str:
    return ", ".join(name + (":ARG" if spec.parse_arg else "") for name, spec in CONDITIONS.items())


@lru_cache(maxsize=None)  # a pure function of its argument; every stage asks it about the same few specs
def parse_condition(spec: str | Condition) -> Condition:
    """``"shuffled_post@tokens"`` -> ``Condition("shuffled_post", None, True)``; bad spec -> DataError."""
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


def condition_kind(condition: str | Condition) -> str:
    """``LABEL_FIRST`` or ``REASONING_FIRST``."""
    return CONDITIONS[parse_condition(condition).name].kind


def label_first(condition: str | Condition) -> bool:
    """Whether the target starts with ``" <label>"``: the conditions the label-first task scores."""
    return condition_kind(condition) == LABEL_FIRST


def reads_rationale(condition: str | Condition) -> bool:
    return CONDITIONS[parse_condition(condition).name].reads_rationale


def needs_attributions(condition: str | Condition) -> bool:
    return CONDITIONS[parse_condition(condition).name].needs_attributions


def uses_attribution_scores(condition: str | Condition) -> bool:
    return CONDITIONS[parse_condition(condition).name].uses_scores


def condition_order(condition: str) -> tuple:
    """Sort key: the registry's order, then the spec as text."""
    return (list(CONDITIONS).index(parse_condition(condition).name), condition)


def _own(template: str, cond: Condition) -> str:
    """A registry template (``random_post:{arg}``) with ``cond``'s own argument, as its spec spells it."""
    return template.format(arg=cond.spec[len(cond.name) + 1:].removesuffix(TOKEN_LEVEL_SUFFIX))


def baselines_for(condition: str) -> list[str]:
    """The conditions ``condition`` is set against: ``none`` (unless it is ``none``), then its own."""
    cond = parse_condition(condition)
    return ([] if cond.name == "none" else ["none"]) + [_own(t, cond) for t in CONDITIONS[cond.name].compared_with]


def to_match(condition: str, baseline: str) -> bool:
    """Whether the question is "equal within the margin" (key tokens against the full CoT), not "better"."""
    cond = parse_condition(condition)
    return baseline in [_own(t, cond) for t in CONDITIONS[cond.name].to_match]


def control_of(condition: str) -> str | None:
    """The condition ``condition`` is the control for (``random_post:5`` -> ``keytokens_post:5``), or None."""
    cond = parse_condition(condition)
    template = CONDITIONS[cond.name].control_of
    return None if template is None else _own(template, cond)
