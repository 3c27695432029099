"""The canonical example record every stage passes around."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class DatasetFacts:
    """What every stage needs to know about a dataset, said once."""

    name: str
    display: str  # as papers and the Hub name it
    short: str  # in tables and messages
    labels: tuple[str, ...]  # label letters, in order: a record's choices use exactly these
    hub_id: str
    hub_config: str | None  # OBQA's "additional" config keeps fact1
    eval_split: str  # where it is scored (CSQA's official test has no gold labels)
    folder: str  # the usual name of its release folder, so one data folder can hold all three


FACTS: dict[str, DatasetFacts] = {f.name: f for f in (
    DatasetFacts("csqa", "CommonsenseQA", "CSQA", ("A", "B", "C", "D", "E"), "tau/commonsense_qa", None, "validation",
                 "commonsenseqa"),
    DatasetFacts("obqa", "OpenBookQA", "OBQA", ("A", "B", "C", "D"), "allenai/openbookqa", "additional", "test",
                 "openbookqa"),
    DatasetFacts("quarel", "QuaRel", "QuaRel", ("A", "B"), "community-datasets/quarel", None, "test",
                 "quarel"),
)}
DATASETS = tuple(FACTS)
LABELS = {name: f.labels for name, f in FACTS.items()}


@dataclass(frozen=True)
class Example:
    """One multiple-choice question.

    ``answer`` is the gold label letter, or None where the split has no gold
    (CSQA's official test file). ``extras`` holds dataset-specific fields kept
    from the source (OBQA ``fact1``, CSQA ``question_concept``, QuaRel
    ``world_literals``, ...).
    """

    id: str
    dataset: str
    split: str
    question: str
    choices: tuple[tuple[str, str], ...]
    answer: str | None
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for label, _ in self.choices)

    @property
    def answer_text(self) -> str | None:
        return dict(self.choices).get(self.answer) if self.answer is not None else None

    def to_row(self) -> dict[str, Any]:
        """Flat row for a ``datasets.Dataset`` (the lm-eval doc)."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "split": self.split,
            "question": self.question,
            "labels": list(self.labels),
            "texts": [text for _, text in self.choices],
            "answer": self.answer,
            "extras": json.dumps(dict(self.extras), sort_keys=True),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Example":
        return cls(
            id=row["id"],
            dataset=row["dataset"],
            split=row["split"],
            question=row["question"],
            choices=tuple(zip(row["labels"], row["texts"])),
            answer=row["answer"],
            extras=json.loads(row["extras"]) if row.get("extras") else {},
        )


@dataclass(frozen=True)
class Target:
    """A training target, ``head + body + tail``: ``body`` is the (possibly transformed) rationale, the only part
    the trainer may cut (``cot_tasks.conditions`` makes them)."""

    head: str
    body: str = ""
    tail: str = ""

    @property
    def text(self) -> str:
        return self.head + self.body + self.tail

    def __str__(self) -> str:
        return self.text
