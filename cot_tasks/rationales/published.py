"""One entry point for every rationale format we import, with which options each format reads, so an option
a format would ignore is an error rather than a silent no-op (``cot-distill rationales import`` is this)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Sequence

from cot_tasks.errors import DataError
from cot_tasks.rationales import generic, importers
from cot_tasks.rationales.filtering import filter_rationales
from cot_tasks.rationales.format import write_rationales
from cot_tasks.records import Example

FORMATS = importers.FORMATS

# The options each format reads beyond its input path (dss, cose and fact1 name their own teacher: PaLM-540B,
# the CoS-E annotators, OBQA's fact authors).
READS = {"dss": (), "cose": (), "eit": ("teacher",), "fact1": (),
         "generic": ("teacher", "id_column", "rationale_column", "question_column", "answer_column")}


@dataclass(frozen=True)
class ImportOptions:
    """What the user asked for; None is "not given", so a format can tell an option it ignores from a default."""

    teacher: str | None = None
    id_column: str | None = None  # generic: default "id" ("" joins by question)
    rationale_column: str | None = None  # generic: default "rationale"
    question_column: str | None = None
    answer_column: str | None = None


def check_options(fmt: str, path: Path | None, options: ImportOptions) -> None:
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "fact1" and path is not None:
        raise DataError(f"--format fact1 reads OBQA's own fact1 field, not a file: leave out {path}")
    if fmt != "fact1" and path is None:
        raise DataError(f"--format {fmt} needs an input path")
    for f in fields(options):
        if getattr(options, f.name) is not None and f.name not in READS[fmt]:
            flag = "--" + f.name.replace("_", "-")
            readers = [name for name, reads in READS.items() if f.name in reads]
            raise DataError(f"--format {fmt} does not read {flag} (only --format {' or '.join(readers)} does): "
                            f"leave it out")


def import_any(fmt: str, path: str | Path | None, examples: Sequence[Example], split: str,
               options: ImportOptions = ImportOptions()) -> importers.Imported:
    """Rationales of ``examples`` from a file in format ``fmt``; joins nothing is an error, never an empty file."""
    path = Path(path) if path is not None else None
    check_options(fmt, path, options)
    if fmt == "dss":
        result = importers.import_dss(path, examples, split)
    elif fmt == "cose":
        result = importers.import_cose(path, examples)
    elif fmt == "eit":
        result = importers.import_eit(path, examples, teacher=options.teacher)
    elif fmt == "fact1":
        result = importers.import_fact1(examples)
    else:
        id_column = "id" if options.id_column is None else options.id_column or None
        columns = generic.Columns(rationale=options.rationale_column or "rationale", id=id_column,
                                  question=options.question_column, answer=options.answer_column)
        result = generic.import_generic(path, examples, columns, teacher=options.teacher or "unknown")
    return importers.require_joined(result, path or fmt)


def import_rationales(fmt: str, path: str | Path | None, examples: Sequence[Example], split: str, out: str | Path,
                      keep: str = "correct", options: ImportOptions = ImportOptions()) -> list[str]:
    """Import, filter by ``keep`` and write ``out``; returns the two report lines (what joined, what was kept)."""
    result = import_any(fmt, path, examples, split, options)
    kept, report = filter_rationales(examples, {r.id: r for r in result.rationales}, keep)
    write_rationales(kept, out)
    return [result.line(), report.line()]
