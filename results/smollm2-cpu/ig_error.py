"""Where integrated gradients misses its completeness check, from the committed attribution files.

For each file under grid-v2/attributions/ (one per dataset and seed, each seed's own `pre` student, 'token:
the' baseline, 32 steps): the examples split into quarters by the gap F(x) - F(baseline) that the scores
should add up to, F = log p(gold label | prompt + rationale + "Answer:"), and per quarter the median
completeness error (relative) and the median absolute miss in nats. A relative error is
large where the gap is near zero; an absolute miss that grows with the gap points at the path integral
itself. Written to ig_error.csv beside this script.

    python results/smollm2-cpu/ig_error.py
"""

from __future__ import annotations

import statistics
from pathlib import Path

from named_option import write_table  # this folder's own script, beside this one

from cot_tasks.rationales.keytokens import read_attributions

HERE = Path(__file__).resolve().parent
FIELDS = ("file", "quarter", "examples", "gap_low", "gap_high", "median_error", "median_miss_nats")


def file_rows(path: Path) -> list[dict]:
    rows = sorted((r.gap, r.completeness_error) for r in read_attributions(path).values()
                  if r.gap is not None and r.completeness_error is not None)
    n = len(rows)
    out = []
    for q, part in [("all", rows)] + [(str(i + 1), rows[i * n // 4: (i + 1) * n // 4]) for i in range(4)]:
        out.append({"file": path.stem, "quarter": q, "examples": len(part),
                    "gap_low": f"{part[0][0]:.2f}", "gap_high": f"{part[-1][0]:.2f}",
                    "median_error": f"{statistics.median(e for _, e in part):.3f}",
                    "median_miss_nats": f"{statistics.median(e * abs(g) for g, e in part):.3f}"})
    return out


def main() -> None:
    files = sorted((HERE / "grid-v2" / "attributions").glob("*.jsonl"))
    write_table(HERE / "ig_error.csv", FIELDS, [row for f in files for row in file_rows(f)])


if __name__ == "__main__":
    main()
