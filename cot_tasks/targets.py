"""From examples and rationales to training targets: the trainer's one entry to the conditions.

Policy for examples without a rationale: they are dropped from the training set
for EVERY condition (``none`` included, so all conditions train on the same
questions) and counted in :class:`TargetReport`; if none join, it is an error.
Each example draws its randomness from its own seeded RNG, so a target does not
depend on which other examples are in the set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from cot_tasks import controls
from cot_tasks.conditions import CONDITIONS, Condition, ConditionContext, normalise, parse_condition, reads_rationale
from cot_tasks.errors import DataError
from cot_tasks.prompts import MCF
from cot_tasks.records import Example, Target


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
        ctx = replace(ctx, token_level=cond.token_level)
    rng = example_rng(seed, cond, example.id)
    return CONDITIONS[cond.name].fn(example, normalise(rationale), rng, ctx, cond.arg)


@dataclass
class TargetReport:
    """Join counts, and what a control does measured on the run's targets.

    ``length_ratio``: mean of (target body / rationale) length in student tokens, for the
    length-matched controls and the ``@tokens`` shuffles. ``answer_found`` / ``answer_leaks``:
    for ``answer_masked_post``, rationales holding a surface form of the answer (or of one of
    its content words) before removal, and targets still holding one after it.
    """

    total: int = 0
    joined: int = 0
    missing_ids: list[str] = field(default_factory=list)
    length_ratio: float | None = None
    answer_found: int | None = None
    answer_leaks: int | None = None

    @property
    def unjoined(self) -> int:
        return len(self.missing_ids)

    def measurements(self) -> dict[str, float | int]:
        """The control measurements that apply to this run (for the run record)."""
        names = ("length_ratio", "answer_found", "answer_leaks")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def line(self) -> str:
        text = f"{self.joined}/{self.total} examples have a rationale ({self.unjoined} dropped)"
        if self.length_ratio is not None:
            text += f"; control/rationale length {self.length_ratio:.3f} (student tokens, mean)"
        if self.answer_leaks is not None:
            text += (f"; answer in {self.answer_found} rationales, still in {self.answer_leaks} targets "
                     "after removal")
        return text


def _measure(report: TargetReport, cond: Condition, kept, targets: Sequence[Target], tokenizer: Any) -> None:
    if "length" in CONDITIONS[cond.name].measures or cond.token_level:
        if tokenizer is None:
            raise DataError(f"condition {cond.spec!r} needs the student tokenizer to measure its length")
        report.length_ratio = controls.mean_length_ratio(tokenizer, [text for _, text in kept],
                                                         [t.body for t in targets])
    if "answer" in CONDITIONS[cond.name].measures:
        answers = [ex.answer_text or "" for ex, _ in kept]
        report.answer_found = controls.count_leaks([text for _, text in kept], answers)
        report.answer_leaks = controls.count_leaks([t.body for t in targets], answers)


def build_targets(examples: Sequence[Example], rationales: Mapping[str, str] | None,
                  condition: str | Condition, *, seed: int = 0, tokenizer: Any = None,
                  source: str = "rationales", extras: Mapping[str, Any] | None = None,
                  formulation: str = MCF) -> tuple[list[tuple[Example, Target]], TargetReport]:
    """Targets for a training set, dropping (and counting) examples without a rationale.

    ``rationales`` maps id -> rationale text; None is allowed only for a condition that reads none
    (then every example is kept). ``source`` names the rationale file in errors.
    ``formulation``: the label is the gold letter (``mcf``) or the gold answer text (``cf``).
    """
    cond = parse_condition(condition)
    report = TargetReport(total=len(examples))
    if rationales is None:
        if reads_rationale(cond):
            raise DataError(f"condition {cond.spec!r} needs a rationale file")
        report.joined = len(examples)
        ctx = ConditionContext(formulation=formulation)
        return [(ex, make_target(ex, "", cond, seed=seed, ctx=ctx)) for ex in examples], report
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
    ctx = ConditionContext(pool={ex.id: text for ex, text in kept}, tokenizer=tokenizer, extras=extras or {},
                           formulation=formulation)
    targets = [make_target(ex, text, cond, seed=seed, ctx=ctx) for ex, text in kept]
    _measure(report, cond, kept, targets, tokenizer)
    return [(ex, target) for (ex, _), target in zip(kept, targets)], report
