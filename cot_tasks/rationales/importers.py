"""Converters from published rationale files into our one format.

Every importer takes the split's examples (from ``load_split``) so it can join
rows to them -- by id where the source has ids, by normalised question text
where it has none -- and parse the teacher's answer against their choices.
Human explanations (CoS-E, OBQA ``fact1``) were written for the gold answer,
so their ``teacher_answer`` is the gold label.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from cot_tasks.errors import DataError
from cot_tasks.io import iter_jsonl
from cot_tasks.rationales.format import Rationale, normalise_question
from cot_tasks.rationales.parse import parse_answer, strip_answer_sentence
from cot_tasks.records import Example

FORMATS = ("dss", "cose", "eit", "fact1", "generic")


@dataclass
class Imported:
    """Converted rationales plus what did not convert, for the one-line report."""

    source: str
    rationales: list[Rationale] = field(default_factory=list)
    rows: int = 0  # rows read from the source
    unjoined: int = 0  # rows matching no example of the split
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        unparseable = sum(1 for r in self.rationales if r.teacher_answer is None)
        extra = "; " + "; ".join(self.notes) if self.notes else ""
        return (f"{self.source}: {self.rows} rows, {len(self.rationales)} joined, {self.unjoined} unjoined, "
                f"{unparseable} with no parseable teacher answer{extra}")


def require_joined(result: Imported, path: object) -> Imported:
    """An import that joins nothing is a wrong file, split or join column, never an empty output file."""
    if not result.rationales:
        raise DataError(f"no row joins an example ({result.rows} rows, 0 joined); check --dataset, --split, "
                        "--source and the join column", path=path)
    return result


def stem_keys(ex: Example) -> set[str]:
    """The question alone and with its options written inline (QuaRel's own file spells them so)."""
    inline = " ".join(f"({label}) {text}" for label, text in ex.choices)
    return {normalise_question(ex.question), normalise_question(f"{ex.question} {inline}")}


def dataset_of(examples: Sequence[Example]) -> str:
    if not examples:
        raise DataError("no examples to join rationales to")
    return examples[0].dataset


def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise DataError(f"broken JSON ({err.msg})", path=path, line=err.lineno) from None


def read_table(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, row)`` from a .csv, .jsonl or .json (array of objects) file."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=path)
    if path.suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                yield reader.line_num, row
    elif path.suffix == ".json":
        data = _load_json(path)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError("expected a JSON array of objects", path=path)
        yield from ((i + 1, row) for i, row in enumerate(data))
    else:
        yield from iter_jsonl(path)


# -- distilling step-by-step (PaLM-540B, CSQA) --------------------------------

_DSS_PREFIX = {"train": "train", "validation": "test"}
_DSS_ANSWER = "So the answer is"


def dss_cut(output: str) -> str:
    """PaLM keeps writing new "Q: ..." blocks after its answer; only the first answer is ours."""
    return output.split("Q:")[0].strip()


def dss_upstream_answer_text(output: str) -> str | None:
    """The answer text as the distilling step-by-step code reads it: after "(x)" following
    "So the answer is", trailing period dropped. Kept to check our parser against theirs."""
    parts = dss_cut(output).split(_DSS_ANSWER)
    if len(parts) < 2:
        return None
    pieces = re.split(r"\(.\)", parts[1])
    text = pieces[1].strip() if len(pieces) > 1 else ""
    return text[:-1] if text.endswith(".") else text


def import_dss(directory: str | Path, examples: Sequence[Example], split: str) -> Imported:
    """``cqa_{train,test}.json`` + ``llm/{train,test}_CoT_*.json``: output ``j`` of file ``i`` is row ``1000*i + j``."""
    directory = Path(directory)
    if dataset_of(examples) != "csqa":
        raise DataError("distilling step-by-step rationales are for csqa only", path=directory)
    if split not in _DSS_PREFIX:
        raise DataError(f"distilling step-by-step has no {split!r} split (it has: train, validation)",
                        path=directory)
    prefix = _DSS_PREFIX[split]
    rows = [obj for _, obj in iter_jsonl(directory / f"cqa_{prefix}.json")]
    outputs: list[str] = []
    for i in range(len(rows) // 1000 + 1):
        part = directory / "llm" / f"{prefix}_CoT_{i}.json"
        if part.is_file():
            data = _load_json(part)
            if not isinstance(data, list):
                raise DataError("expected a JSON array of strings", path=part)
            outputs += data
    if len(outputs) != len(rows):
        raise DataError(f"{len(outputs)} outputs in llm/{prefix}_CoT_*.json for {len(rows)} rows of "
                        f"cqa_{prefix}.json; files missing?", path=directory)
    by_id = {ex.id: ex for ex in examples}
    result = Imported(source=f"distilling step-by-step {directory}", rows=len(rows))
    upstream_gold = 0
    for row, output in zip(rows, outputs):
        ex = by_id.get(row.get("id"))
        if ex is None:
            result.unjoined += 1
            continue
        cut = dss_cut(output)
        upstream_gold += dss_upstream_answer_text(output) == row.get("answer")
        result.rationales.append(Rationale(
            id=ex.id, dataset="csqa", rationale=cut.split(_DSS_ANSWER)[0].strip(),
            teacher_answer=parse_answer(cut, ex.choices), teacher="PaLM-540B",
            source="distilling-step-by-step", prompt_version=None,
        ))
    result.notes.append(f"upstream text parser agrees with gold on {upstream_gold / max(len(rows), 1):.1%}")
    return result


# -- CoS-E human explanations (CSQA) ------------------------------------------

def import_cose(path: str | Path, examples: Sequence[Example]) -> Imported:
    """``{"id", "explanation": {"open-ended", "selected"}}``; we take the open-ended explanation."""
    path = Path(path)
    by_id = {ex.id: ex for ex in examples}
    result = Imported(source=f"CoS-E {path}")
    for lineno, obj in iter_jsonl(path):
        result.rows += 1
        text = (obj.get("explanation") or {}).get("open-ended") if isinstance(obj.get("explanation"), dict) else None
        if not isinstance(text, str):
            raise DataError("missing or not a string", path=path, line=lineno, field="explanation.open-ended")
        ex = by_id.get(obj.get("id"))
        if ex is None:
            result.unjoined += 1
            continue
        result.rationales.append(Rationale(ex.id, ex.dataset, text.strip(), ex.answer, "human (CoS-E v1.11)",
                                           "cos-e", None))
    return result


# -- EIT-NLP instruction/output files (and id'd teacher files, e.g. sominw) ---

_TEACHERS = {"chatgpt": "GPT-4o (EIT-NLP 'chatgpt')", "gemini": "Gemini-1.5-Flash", "llama": "LLaMA-3-70B",
             "mistral_7b": "mistralai/Mistral-7B-Instruct-v0.2", "mistral7b": "mistralai/Mistral-7B-Instruct-v0.2"}
_STEM = re.compile(r"^\s*(?:Q:|Question:)?\s*(.*?)\s*(?:Answer [Cc]hoices:|Choices:)", re.DOTALL)


def guess_teacher(path: Path) -> str:
    name = path.name.lower()
    return next((teacher for key, teacher in _TEACHERS.items() if key in name), "unknown")


def _question_key(text: str) -> str:
    """Stem plus option texts, normalised: the instruction and the example render to the same key."""
    return normalise_question(re.sub(r"^\s*(?:Q:|Question:)\s*", "", text))


def _example_key(ex: Example) -> str:
    return normalise_question(f"{ex.question} Answer choices: " + " ".join(f"{label}: {t}" for label, t in ex.choices))


def import_eit(path: str | Path, examples: Sequence[Example], teacher: str | None = None) -> Imported:
    """Teacher CoT files: EIT-NLP ``[{"instruction", "output"}]`` (joined by question text) or rows with
    an ``id`` and ``rationale``/``gold_rationale``/``output`` (joined by id), e.g. the sominw Mistral files."""
    path = Path(path)
    dataset = dataset_of(examples)
    teacher = teacher or guess_teacher(path)
    by_id = {ex.id: ex for ex in examples}
    # OBQA repeats a few questions verbatim under two ids: each repeat row takes the next unused one.
    by_key: dict[str, list[Example]] = {}
    by_stem: dict[str, list[Example]] = {}
    for ex in examples:
        by_key.setdefault(_example_key(ex), []).append(ex)
        by_stem.setdefault(normalise_question(ex.question), []).append(ex)
    result = Imported(source=f"{path.name}")
    seen: set[str] = set()
    for lineno, row in read_table(path):
        result.rows += 1
        text_field = next((f for f in ("output", "rationale", "gold_rationale") if f in row), None)
        if text_field is None or not isinstance(row[text_field], str):
            raise DataError("no rationale column (expected 'output', 'rationale' or 'gold_rationale'; "
                            f"have: {', '.join(row)})", path=path, line=lineno)
        if "id" in row:
            ex = by_id.get(str(row["id"]))
        else:
            instruction = row.get("instruction")
            if not isinstance(instruction, str):
                raise DataError("missing or not a string", path=path, line=lineno, field="instruction")
            hits = by_key.get(_question_key(instruction))
            if hits is None:  # fall back to the stem alone (the choices rendered differently)
                stem = _STEM.match(instruction)
                hits = by_stem.get(normalise_question(stem.group(1)), []) if stem else []
            ex = next((h for h in hits if h.id not in seen), None)
        if ex is None or ex.id in seen:
            result.unjoined += 1
            continue
        seen.add(ex.id)
        raw = row[text_field].strip()
        result.rationales.append(Rationale(
            id=ex.id, dataset=dataset, rationale=strip_answer_sentence(raw),
            teacher_answer=parse_answer(raw, ex.choices), teacher=str(row.get("teacher") or teacher),
            source=f"import:{path.name}", prompt_version=None,
        ))
    return result


# -- OBQA fact1 ---------------------------------------------------------------

def import_fact1(examples: Sequence[Example]) -> Imported:
    """OpenBookQA's gold science fact as a (human, very short) rationale."""
    result = Imported(source="OBQA fact1", rows=len(examples))
    for ex in examples:
        fact = ex.extras.get("fact1")
        if isinstance(fact, str) and fact.strip():
            result.rationales.append(Rationale(ex.id, ex.dataset, fact.strip(), ex.answer, "human (OBQA fact1)",
                                               "openbookqa-fact1", None))
        else:
            result.unjoined += 1
    if not result.rationales:
        raise DataError("no example carries 'fact1'; load OBQA from the Additional/*_complete.jsonl files "
                        "or the hub's 'additional' config")
    return result
