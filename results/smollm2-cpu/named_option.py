"""Which option a student's own rationale points to, against the letter it commits to and the gold one.

For every finished CoT cell of a grid, from its committed gen-task samples (lm-eval's own output): the
greedy outputs whose rationale names exactly one option's text (word-bounded, case-folded), how often that
option is the letter the student commits to (the exact_match filter of its condition) and how often it is
the gold answer (chance: 1 / number of options). Written to named_option.csv beside this script.

    python results/smollm2-cpu/named_option.py [results/smollm2-cpu/grid-v2]
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

from cot_tasks.grid_files import read_run
from cot_tasks.lmeval_samples import iter_samples
from harness_plugins.lmeval.results import results_for_task, samples_path, split_key

HERE = Path(__file__).resolve().parent
FIELDS = ("cell", "docs", "exact_match", "one_option_named", "named_is_committed", "named_is_gold")


def named_options(text: str, doc: dict) -> list[str]:
    low = text.lower()
    return [label for label, option in zip(doc["labels"], doc["texts"])
            if re.search(rf"\b{re.escape(option.lower())}\b", low)]


def cell_row(run: Path) -> dict | None:
    """Counts for one finished cell, from the samples file its run.json says scored exact_match."""
    info = read_run(run)
    if info.condition == "none":
        return None
    score = info.metrics["exact_match"]
    _, wanted = split_key(score.key)
    samples = samples_path(results_for_task(run / "eval", score.task), score.task)
    docs = one = committed = gold = correct = 0
    for _, row in iter_samples(samples):
        if row["filter"] != wanted:
            continue
        docs += 1
        doc, letter = row["doc"], row["filtered_resps"][0]
        correct += letter == doc["answer"]
        named = named_options(row["resps"][0][0], doc)
        if len(named) == 1:
            one += 1
            committed += named[0] == letter
            gold += named[0] == doc["answer"]
    share = (lambda k: f"{k / one:.3f}") if one else (lambda k: "")
    return {"cell": run.name, "docs": docs, "exact_match": f"{correct / docs:.3f}", "one_option_named": one,
            "named_is_committed": share(committed), "named_is_gold": share(gold)}


def write_table(path: Path, fields: tuple[str, ...], rows: list[dict]) -> None:
    """The rows as a CSV file and, tab-separated, on stdout (device_effect.py writes its table so too)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)
    for r in rows:
        print(*(r[f] for f in fields), sep="\t")


def main(grid: Path) -> None:
    rows = [r for run in sorted((grid / "runs").iterdir()) if (run / "run.json").exists()
            for r in [cell_row(run)] if r is not None]
    write_table(HERE / "named_option.csv", FIELDS, rows)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "grid-v2")
