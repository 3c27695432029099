"""The one prompt format per dataset, shared by the trainer and the lm-eval tasks.

The CSQA format is character-for-character lm-eval's built-in ``commonsense_qa``
prompt, so a label-only student scores the same under ``cot_csqa`` and the
built-in task. OBQA and QuaRel use the same shape with their own letters.
"""

from __future__ import annotations

from cot_tasks.records import Example

ANSWER_CUE = "Answer:"
# lm-eval's default target delimiter: the label follows the cue after one space.
TARGET_DELIMITER = " "


def render_prompt(example: Example) -> str:
    """Question, lettered choices and the answer cue; the target starts with TARGET_DELIMITER.

    All three datasets share this shape (QuaRel's inline options are split off by
    its loader), so one function serves them; a dataset that needs another
    format gets its own branch here, nowhere else.
    """
    lines = [f"Question: {example.question.strip()}"]
    lines += [f"{label}. {text}" for label, text in example.choices]
    lines.append(ANSWER_CUE)
    return "\n".join(lines)



def commit_context(example: Example, generation: str) -> str:
    """The point where a reasoning-first student commits: prompt, its own rationale, the answer cue.

    The rationale is the generation before its last answer cue (all of it when it
    never wrote one), so the context has the layout of a ``pre`` target
    (``" <rationale>\\nAnswer: B"``) up to the label.
    """
    rationale = generation.rpartition(ANSWER_CUE)[0] if ANSWER_CUE in generation else generation
    return f"{render_prompt(example)}{rationale.rstrip()}\n{ANSWER_CUE}"
