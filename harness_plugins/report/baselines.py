"""Published accuracy numbers shipped with the package (``baselines.csv``).

One row per published number, values in percent as printed in the source.
Every row must name its source: a row without a citation is an error, not a
silent reference point.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from cot_tasks.errors import DataError
from cot_tasks.records import DATASETS

DEFAULT_PATH = Path(__file__).with_name("baselines.csv")
REQUIRED = ("dataset", "split", "model", "method", "metric", "value", "citation")
METRICS = ("acc", "acc_norm")


@dataclass(frozen=True)
class Baseline:
    dataset: str
    split: str  # validation | test | unstated
    model: str
    method: str
    metric: str
    value: float  # percent
    citation: str
    params: str = ""
    shots: str = ""
    confidence: str = ""


def load_baselines(path: str | Path | None = None) -> list[Baseline]:
    path = Path(path) if path is not None else DEFAULT_PATH
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"missing column(s) {', '.join(missing)}", path=path, line=1)
        rows = []
        for lineno, row in enumerate(reader, 2):
            rows.append(_parse(row, path, lineno))
    return rows


def _parse(row: dict, path: Path, line: int) -> Baseline:
    def need(name: str) -> str:
        value = (row.get(name) or "").strip()
        if not value:
            raise DataError("empty (every published number needs one)", path=path, line=line, field=name)
        return value

    dataset, metric = need("dataset"), need("metric")
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})", path=path, line=line,
                        field="dataset")
    if metric not in METRICS:
        raise DataError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})", path=path, line=line,
                        field="metric")
    try:
        value = float(need("value"))
    except ValueError:
        raise DataError(f"not a number: {row['value']!r}", path=path, line=line, field="value") from None
    if not (0.0 <= value <= 100.0) or math.isnan(value):
        raise DataError(f"{value} is not a percentage", path=path, line=line, field="value")
    return Baseline(dataset=dataset, split=need("split"), model=need("model"), method=need("method"),
                    metric=metric, value=value, citation=need("citation"),
                    params=(row.get("params") or "").strip(), shots=(row.get("shots") or "").strip(),
                    confidence=(row.get("confidence") or "").strip())
