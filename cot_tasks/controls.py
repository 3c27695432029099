"""What the control conditions need beyond plain text.

* The gold answer's surface forms (``answer_masked_post``): case, regular
  plural/singular (-s, -es, -ies and back), possessives, hyphen/space/joined
  variants of a multi-word answer and each of its content words. A small rule
  set, no NLP dependency: irregular forms (knife/knives, mouse/mice) are not
  covered, and ``answer_leaks`` counts what such gaps leave behind.
* Word order (``shuffled_post``/``shuffled_pre``): the rationale's words, or with ``@tokens`` its student
  tokens, in a seeded random order.
* Lengths in the student's tokens (``filler_post``, ``masked_post:P``): a body
  is measured as it is encoded in a target, after the label.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Any, Sequence

STOPWORDS = frozenset("""
a an the of to in on at for with by from into onto up down out off over under about and or but nor not no
so as than then if be is are was were been being am have has had do does did get gets got go goes going it
its this that these those some any your you my his her their our
""".split())

# Tokens are counted after this anchor: the label a *_post body follows, and it absorbs the
# prefix space some tokenizers (Llama's legacy normaliser) add at the start of every input.
_ANCHOR = "A."


def _singulars(word: str) -> set[str]:
    out = set()
    if word.endswith("ies") and len(word) > 4:
        out.add(word[:-3] + "y")
    if re.search(r"(s|x|z|ch|sh|o)es$", word):
        out.add(word[:-2])
    if word.endswith("s") and not re.search(r"(ss|us|is)$", word) and len(word) > 3:
        out.add(word[:-1])
    return out


def _plural(word: str) -> set[str]:
    if re.search(r"[^aeiou]y$", word):
        return {word[:-1] + "ies"}
    if re.search(r"(s|x|z|ch|sh)$", word):
        return {word + "es"}
    return {word + "s", word + "es"} if word.endswith("o") else {word + "s"}


def word_forms(word: str) -> list[str]:
    """Lowercase surface forms of one word, longest first (so the regex prefers the whole word)."""
    word = word.lower()
    bases = {word} | _singulars(word)
    forms = bases.union(*(_plural(b) for b in bases))
    return sorted(forms, key=lambda f: (-len(f), f))


def answer_words(answer: str) -> tuple[list[str], list[str]]:
    """(all words, content words) of an answer; an all-stopword answer's words are its content."""
    words = re.findall(r"[^\W_]+", answer.lower())
    return words, [w for w in words if w not in STOPWORDS] or words


@lru_cache(maxsize=4096)  # a run asks for the same answer's pattern once per target and per count
def answer_pattern(answer: str) -> re.Pattern | None:
    """Every surface form of the answer as one case-insensitive, whole-word regex (None: empty answer)."""
    words, content = answer_words(answer)
    if not words:
        return None

    def alt(forms):
        return "(?:" + "|".join(re.escape(f) for f in forms) + ")"

    # The phrase first: 'ice cream' goes as one piece, not as 'ice', ' ', 'cream'.
    phrase = r"[\s\-]*".join([re.escape(w) for w in words[:-1]] + [alt(word_forms(words[-1]))])
    # Possessive 's, or a bare apostrophe after a plural's s.
    body = "|".join([phrase] + [alt(word_forms(w)) for w in content])
    return re.compile(r"(?<![^\W_])(?:" + body + r")(?:['’]s|(?<=s)['’])?(?![^\W_])", re.IGNORECASE)


def remove_answer(text: str, answer: str) -> str:
    pattern = answer_pattern(answer)
    return " ".join((pattern.sub(" ", text) if pattern else text).split())


def answer_leaks(text: str, answer: str) -> bool:
    """Whether ``text`` still holds a surface form of the answer or of one of its content words."""
    pattern = answer_pattern(answer)
    return bool(pattern and pattern.search(text))


def count_leaks(texts: Sequence[str], answers: Sequence[str]) -> int:
    return sum(answer_leaks(text, answer) for text, answer in zip(texts, answers))


# -- lengths in student tokens -------------------------------------------------

def shuffled_body(rationale: str, rng: random.Random, tokenizer: Any = None) -> str:
    """The rationale's whitespace words (its student tokens, given ``tokenizer``) permuted by ``rng``, as the
    body after the label: a leading space, whitespace collapsed."""
    if tokenizer is None:
        units = rationale.split()
        rng.shuffle(units)
        return " " + " ".join(units)
    units = list(tokenizer(" " + rationale, add_special_tokens=False)["input_ids"])
    rng.shuffle(units)
    return " " + " ".join(tokenizer.decode(units).split())


def body_lengths(tokenizer: Any, bodies: Sequence[str]) -> list[int]:
    """Student tokens each body takes in a target, after the label."""
    base = len(tokenizer(_ANCHOR, add_special_tokens=False)["input_ids"])
    encoded = tokenizer([_ANCHOR + b for b in bodies], add_special_tokens=False)["input_ids"]
    return [len(ids) - base for ids in encoded]


def _unit_length(tokenizer: Any, unit: str) -> float:
    """Tokens per ``' ' + unit``, averaged over a run (a vocabulary may spell it as two tokens)."""
    return max(body_lengths(tokenizer, [f" {unit}" * 8])[0] / 8, 1e-9)


def filler_body(tokenizer: Any, rationale: str, unit: str) -> str:
    """As many ``' ' + unit`` as make the rationale's length in student tokens (+-1)."""
    n = body_lengths(tokenizer, [" " + rationale])[0]
    m = round(n / _unit_length(tokenizer, unit))
    # A vocabulary may merge runs of the unit: a few measured steps settle it.
    for _ in range(4):
        length = body_lengths(tokenizer, [f" {unit}" * m])[0]
        if abs(length - n) <= 1:
            break
        m = max(0, m + (1 if length < n else -1))
    return f" {unit}" * m


def masked_body(tokenizer: Any, rationale: str, fraction: float, rng: random.Random, unit: str) -> str:
    """Whole words, drawn at random until they hold ``round(fraction * n)`` of the rationale's n student
    tokens, each replaced by masks taking as many student tokens as the word did.

    Masking whole words keeps every mask a word of its own (no mask glued to a word piece), so the
    other words keep their tokens and the target keeps the rationale's length (+-1).
    """
    words = rationale.split()
    counts = body_lengths(tokenizer, [" " + w for w in words])
    want = round(fraction * sum(counts))
    order = list(range(len(words)))
    rng.shuffle(order)
    chosen, masked = set(), 0
    for i in order:
        if masked >= want:
            break
        chosen.add(i)
        masked += counts[i]
    per, drift, out = _unit_length(tokenizer, unit), 0.0, []
    for i, word in enumerate(words):
        if i not in chosen:
            out.append(word)
            continue
        # Carry the rounding error to the next masked word, so it never adds up past one token. Where
        # the student spells a mask as two tokens (tiny vocabularies), a one-token word may thus get
        # no mask of its own: its neighbour's covers it.
        m = round((counts[i] - drift) / per)
        drift += m * per - counts[i]
        if m:
            out.append(" ".join([unit] * m))
    return " " + " ".join(out) if out else ""


def mean_length_ratio(tokenizer: Any, rationales: Sequence[str], bodies: Sequence[str]) -> float:
    """Mean of (body / ``' ' + rationale``) lengths in student tokens."""
    rationale = body_lengths(tokenizer, [" " + text for text in rationales])
    control = body_lengths(tokenizer, bodies)
    return sum(c / max(r, 1) for c, r in zip(control, rationale)) / max(len(rationale), 1)
