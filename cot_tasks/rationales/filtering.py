"""Keeping rationales whose teacher reached the gold answer (``--keep correct``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from cot_tasks.errors import DataError
from cot_tasks.rationales.format import Rationale
from cot_tasks.records import Example

KEEP = ("correct", "all")


@dataclass(frozen=True)
class FilterReport:
    split: str
    keep: str
    kept: int
    wrong: int  # teacher answered, but not the gold label
    unparseable: int  # teacher answer null (no, hedged or several answers)
    missing: int  # examples with no rationale at all
    unmatched: int  # rationales whose id is not in the split

    def line(self) -> str:
        return (f"{self.split}: kept {self.kept} (--keep {self.keep}); dropped {self.wrong} wrong answer, "
                f"{self.unparseable} unparseable; {self.missing} examples without a rationale; "
                f"{self.unmatched} rationales not in the split")


def filter_rationales(examples: Sequence[Example], rationales: Mapping[str, Rationale],
                      keep: str = "correct") -> tuple[list[Rationale], FilterReport]:
    """The rationales to train on, in example order, with counts of what was dropped and why.

    With ``keep="all"`` wrong and unparseable rationales are kept but still counted.
    """
    if keep not in KEEP:
        raise DataError(f"unknown --keep {keep!r} (known: {', '.join(KEEP)})")
    kept, wrong, unparseable, missing = [], 0, 0, 0
    for ex in examples:
        r = rationales.get(ex.id)
        if r is None:
            missing += 1
            continue
        if r.teacher_answer is None:
            unparseable += 1
        elif ex.answer is not None and r.teacher_answer != ex.answer:
            wrong += 1
        # An example without gold (CSQA test) cannot be checked: keep only with --keep all.
        ok = r.teacher_answer is not None and r.teacher_answer == ex.answer
        if keep == "all" or ok:
            kept.append(r)
    ids = {ex.id for ex in examples}
    split = examples[0].split if examples else "?"
    report = FilterReport(split=split, keep=keep, kept=len(kept), wrong=wrong, unparseable=unparseable,
                          missing=missing, unmatched=sum(1 for rid in rationales if rid not in ids))
    return kept, report
