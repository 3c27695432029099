"""Few-shot chain-of-thought prompts for the teacher, one per dataset.

The exemplars are our own, written for this project. Every generated row
stores ``PROMPT_VERSION``; change the string whenever an exemplar or the layout
changes, so rationales from different prompts are never mixed in one file.
The layout ends each answer with "So the answer is (x) <option>.", which
``parse.parse_answer`` reads back.
"""

from __future__ import annotations

from dataclasses import dataclass

from cot_tasks.records import Example

PROMPT_VERSION = "cot-fewshot-v1"

INSTRUCTION = (
    "Answer each multiple-choice question. Think it through in one or two sentences, "
    'then finish with "So the answer is (x) <option>."'
)


@dataclass(frozen=True)
class Exemplar:
    question: str
    choices: tuple[str, ...]
    rationale: str
    answer: int  # index into choices


EXEMPLARS: dict[str, tuple[Exemplar, ...]] = {
    "csqa": (
        Exemplar("Where would you keep milk so that it stays cold?",
                 ("cupboard", "refrigerator", "oven", "mailbox", "garden"),
                 "Milk spoils when warm, so it has to be kept somewhere that cools food. "
                 "Of the choices, only a refrigerator keeps things cold.", 1),
        Exemplar("What do people usually do when they feel very tired at night?",
                 ("run a marathon", "cook dinner", "go to sleep", "paint the house", "call a plumber"),
                 "Tiredness at night is the body's signal that it needs rest, and people rest by sleeping.", 2),
        Exemplar("A musician needs what to play a song on the violin?",
                 ("a bow", "a hammer", "a drum", "a ticket", "a window"),
                 "A violin is a string instrument that is played by drawing a bow across its strings.", 0),
    ),
    "obqa": (
        Exemplar("Which of these would melt fastest on a hot summer afternoon?",
                 ("a rock", "an ice cube", "a steel spoon", "a brick"),
                 "Heat melts solids with a low melting point first; ice melts just above freezing, "
                 "far below the others.", 1),
        Exemplar("Plants turn sunlight into food through",
                 ("respiration", "evaporation", "photosynthesis", "condensation"),
                 "Photosynthesis is the process by which plants use the energy of sunlight to make sugar.", 2),
        Exemplar("A magnet will pick up",
                 ("a paper clip", "a wooden block", "a rubber band", "a glass marble"),
                 "Magnets attract iron and steel; a paper clip is made of steel.", 0),
    ),
    "quarel": (
        Exemplar("A ball rolls farther on a smooth floor than on a carpet. Which surface has more friction?",
                 ("smooth floor", "carpet"),
                 "More friction slows a rolling ball sooner, so the surface where it rolls a shorter "
                 "distance has more friction.", 1),
        Exemplar("Tom runs a mile in 6 minutes and Sam runs it in 9 minutes. Who is faster?",
                 ("Tom", "Sam"),
                 "Covering the same distance in less time means a higher speed.", 0),
    ),
}


def _letter(i: int) -> str:
    return "abcde"[i]


def render_question(question: str, choices: tuple[str, ...]) -> str:
    options = "\n".join(f"({_letter(i)}) {text}" for i, text in enumerate(choices))
    return f"Q: {question.strip()}\nAnswer choices:\n{options}\nA:"


def teacher_prompt(example: Example) -> str:
    """Instruction, the dataset's exemplars, then the question; the teacher continues after "A:"."""
    shots = [
        render_question(s.question, s.choices)
        + f" {s.rationale} So the answer is ({_letter(s.answer)}) {s.choices[s.answer]}."
        for s in EXEMPLARS[example.dataset]
    ]
    query = render_question(example.question, tuple(text for _, text in example.choices))
    return "\n\n".join([INSTRUCTION, *shots, query])


def cut_continuation(text: str) -> str:
    """The teacher's answer to our question only: it tends to carry on with new "Q:" blocks."""
    for stop in ("\nQ:", "\n\n"):
        text = text.split(stop)[0]
    return text.strip()


STOP_STRINGS = ("\nQ:", "\n\n")
