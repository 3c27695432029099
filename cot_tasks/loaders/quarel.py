"""QuaRel (Tafjord et al. 2019): two options written inline in the question text.

Rows look like ``{"id", "question": "... (A) snow (B) ice", "answer_index": 1,
"logical_forms", "logical_form_pretty", "world_literals"}`` in both the original
``quarel-v1-*.jsonl`` files and ``community-datasets/quarel``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cot_tasks.loaders.rows import Where, get, make_example
from cot_tasks.records import Example

DATASET = "quarel"
FILES = {
    "train": ("quarel-v1-train.jsonl",),
    "validation": ("quarel-v1-dev.jsonl",),
    "test": ("quarel-v1-test.jsonl",),
}
EXTRAS = ("world_literals", "logical_forms", "logical_form_pretty")

# A final "." is sentence punctuation, except after an abbreviation such as "D.C." or "U.S.".
_ABBREVIATION = re.compile(r"(?:\b[A-Za-z]\.){2,}$")
_JOINER = re.compile(r"(?:\s*[,;]|\s+or)\s*$")
# One sentence-closing period (not an ellipsis, not an abbreviation's) ends option A in some rows.
_FINAL_PERIOD = re.compile(r"(?<!\.)\.$")


def split_options(text: str) -> tuple[str, str, str]:
    """``(stem, option_a, option_b)`` from ``"stem (A) x (B) y"``; ValueError if the shape is wrong.

    The markers are taken from the right (the last "(B)" and the last "(A)" before
    it), so a stem that itself mentions "(A)" and option texts with their own
    parentheses still split right. Punctuation closing the sentence after option B
    ("... (B) more?") and a joiner before "(B)" ("x, (B)", "x or (B)") are dropped.
    """
    b = text.rfind("(B)")
    a = text.rfind("(A)", 0, b) if b >= 0 else -1
    if a < 0:
        raise ValueError("no inline options of the form '... (A) x (B) y'")
    stem = text[:a].strip()
    option_a = _JOINER.sub("", text[a + 3:b]).strip()
    if not _ABBREVIATION.search(option_a):
        option_a = _FINAL_PERIOD.sub("", option_a).rstrip()
    option_b = _JOINER.sub("", text[b + 3:]).strip()
    while option_b[-1:] in ("?", "!") or (option_b.endswith(".") and not _ABBREVIATION.search(option_b)):
        option_b = option_b[:-1].rstrip()
    for name, value in (("question text before (A)", stem), ("option A", option_a), ("option B", option_b)):
        if not value:
            raise ValueError(f"empty {name}")
    return stem, option_a, option_b


def _example(row: Mapping[str, Any], where: Where, split: str) -> Example:
    raw = get(row, "question", where)
    try:
        stem, option_a, option_b = split_options(raw)
    except ValueError as err:
        raise where.error(f"{err}: {raw[-60:]!r}", field="question") from None
    index = get(row, "answer_index", where, int)
    if index not in (0, 1):
        raise where.error(f"expected 0 or 1, got {index}", field="answer_index")
    return make_example(
        DATASET, split, where,
        id=get(row, "id", where),
        question=stem,
        choices=[("A", option_a), ("B", option_b)],
        answer="AB"[index],
        extras={name: row[name] for name in EXTRAS if name in row},
        choices_field="question",
        answer_field="answer_index",
    )


# The original files and the hub rows share one schema.
from_file = from_hub = _example
