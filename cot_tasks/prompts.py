"""The one prompt format per dataset and formulation, shared by the trainer and the lm-eval tasks.

Two formulations, named as OLMES names them:

- **MCF** (multiple-choice formulation, the default): question, lettered options, ``Answer:``; the
  label is the gold letter. The CSQA format is character-for-character lm-eval's built-in
  ``commonsense_qa`` prompt, so a label-only student scores the same under ``cot_csqa`` and the
  built-in task. OBQA and QuaRel use the same shape with their own letters.
- **CF** (cloze formulation): no options in the prompt; the label is the gold answer **text**, and
  each option's text is scored as a continuation. OBQA's context is the bare question stem, exactly
  lm-eval's built-in ``openbookqa`` (same context, same continuations); CSQA and QuaRel use
  ``Question: <q>\\nAnswer:``, the shape of lm-eval's ``arc_easy`` and of OLMES's CF prompts (lm-eval
  has no cloze task for either).
"""

from __future__ import annotations

from cot_tasks.errors import DataError
from cot_tasks.records import Example

ANSWER_CUE = "Answer:"
# lm-eval's default target delimiter: the label follows the cue after one space.
TARGET_DELIMITER = " "

MCF, CF = "mcf", "cf"
FORMULATIONS = (MCF, CF)
# Datasets whose CF context is the bare question, as lm-eval's built-in task for them has it.
BARE_CF_CONTEXT = ("obqa",)


def check_formulation(formulation: str) -> str:
    if formulation not in FORMULATIONS:
        raise DataError(f"unknown formulation {formulation!r} (known: {', '.join(FORMULATIONS)})")
    return formulation


def gold_label(example: Example, formulation: str = MCF) -> str:
    """What the student is trained to answer and scored on: the gold letter (MCF) or its text (CF)."""
    if example.answer is None:
        raise DataError(f"example {example.id!r} has no gold answer")
    return example.answer if check_formulation(formulation) == MCF else example.answer_text


def choice_labels(example: Example, formulation: str = MCF) -> list[str]:
    """The continuations lm-eval scores: the letters (MCF) or the option texts (CF), in option order."""
    return list(example.labels) if check_formulation(formulation) == MCF else [t for _, t in example.choices]


def render_prompt(example: Example, formulation: str = MCF) -> str:
    """The context a target follows; the target starts with TARGET_DELIMITER.

    All three datasets share one shape per formulation (QuaRel's inline options are split off by its
    loader; OBQA's CF context is its bare stem), so one function serves them; a dataset that needs
    another format gets its own branch here, nowhere else.
    """
    if check_formulation(formulation) == CF:
        if example.dataset in BARE_CF_CONTEXT:
            return example.question
        return f"Question: {example.question.strip()}\n{ANSWER_CUE}"
    lines = [f"Question: {example.question.strip()}"]
    lines += [f"{label}. {text}" for label, text in example.choices]
    lines.append(ANSWER_CUE)
    return "\n".join(lines)


def commit_context(example: Example, generation: str, formulation: str = MCF) -> str:
    """The point where a reasoning-first student commits: prompt, its own rationale, the answer cue.

    The rationale is the generation before its last answer cue (all of it when it
    never wrote one), so the context has the layout of a ``pre`` target
    (``" <rationale>\\nAnswer: B"``, or ``"... Answer: <text>"`` in CF) up to the label.
    """
    rationale = generation.rpartition(ANSWER_CUE)[0] if ANSWER_CUE in generation else generation
    return f"{render_prompt(example, formulation)}{rationale.rstrip()}\n{ANSWER_CUE}"
