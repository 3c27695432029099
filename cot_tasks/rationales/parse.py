"""Reading a teacher's committed answer out of its free text.

One parser for every source (our generator, PaLM, GPT-4o, Mistral): it looks
for answer statements ("So the answer is (b) ...", "The answer is B",
"Answer: C", a leading "B." / "B because"), maps letters or option text to the
dataset's label, and returns None when the text commits to nothing, hedges
("either (a) ... or (e) ...") or states two different answers. A null answer is
counted as unparseable downstream, never guessed.
"""

from __future__ import annotations

import re
from typing import Sequence

# "answer is" / "answer:" introduce a statement; the statement runs to the end of its sentence.
_STATEMENT = re.compile(r"answer\s+(?:is|would\s+be|must\s+be)\b\s*:?|\banswer\s*:", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|\n")
# Leading label without a statement, as Mistral often answers: "B.", "B:", "(B)", "B because".
_LEADING = re.compile(r"^\s*\(?([A-E])(?:[.:)]|\s+because\b)")


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


# The label opening a statement: "(b)", "B", "option B" -- bare letters must be capitals so the article
# "a" never counts.
_FIRST = re.compile(r"\s*(?:(?:option|choice)\s+)?[\"'*]*(?:\(([A-Ea-e])\)|([A-E])(?![A-Za-z']))")
_OR_LETTER = re.compile(r"\bor\s+(?:option\s+|choice\s+)?(?:\(([A-Ea-e])\)|([A-E])(?![A-Za-z']))")


def _hedges(segment: str, choices: Sequence[tuple[str, str]], lettered: bool) -> bool:
    """"either (a) x or (e) y", "A or B", "math problem or gravity": an "or" naming a second option.

    After a letter only a nearby "or <letter>" counts, so "A because it is not x or y" still answers A.
    """
    if re.match(r"\s*(?:either|between)\b", segment, re.IGNORECASE):
        return True
    if lettered:
        return bool(_OR_LETTER.search(segment[:60]))
    seg = _norm(segment)
    return bool(_OR_LETTER.search(segment)) or any(
        _norm(text) and re.search(rf"\bor (?:the )?{re.escape(_norm(text))}\b", seg) for _, text in choices
    )


def _statement_answer(segment: str, choices: Sequence[tuple[str, str]]) -> str | None | bool:
    """The label one statement commits to; None if it names none; False if it hedges between options."""
    first = _FIRST.match(segment)
    if _hedges(segment, choices, lettered=first is not None):
        return False
    if first:
        letter = (first.group(1) or first.group(2)).upper()
        return letter if letter in {label for label, _ in choices} else None
    # No letter: the option text opening the statement ("So the answer is math problem.").
    seg = _norm(segment)
    hits = [(len(_norm(text)), label) for label, text in choices if _norm(text) and seg.startswith(_norm(text))]
    return max(hits)[1] if hits else None


def parse_answer(text: str, choices: Sequence[tuple[str, str]]) -> str | None:
    """The label ``text`` commits to, or None (missing, hedged, or several different answers)."""
    found: set[str] = set()
    for match in _STATEMENT.finditer(text):
        rest = text[match.end():]
        end = _SENTENCE_END.search(rest)
        answer = _statement_answer(rest[: end.start() if end else len(rest)], choices)
        if answer is False:
            return None
        if answer:
            found.add(answer)
    if not found:
        lead = _LEADING.match(text)
        if lead and lead.group(1) in {label for label, _ in choices}:
            found.add(lead.group(1))
    return found.pop() if len(found) == 1 else None


# A closing answer sentence: starts a sentence, short (a letter and option text), ends the text.
# "The answer is A because <long reason>" is a rationale in itself and is left alone.
_TRAILING_ANSWER = re.compile(
    r"(?:^|(?<=[.!?\n]))\s*(?:So,?\s+|Therefore,?\s+|Thus,?\s+|Hence,?\s+)?(?:the\s+)?(?:correct\s+)?"
    r"answer\s+is\b(?![^\n]*\b(?:because|since)\b)[^\n.!?]{0,60}[.!]?\s*$",
    re.IGNORECASE,
)


def strip_answer_sentence(text: str) -> str:
    """The rationale without its closing answer statement, so targets never state the label twice."""
    return _TRAILING_ANSWER.sub("", text.strip()).strip()
