"""Name the CPU of every committed cell whose run.json says only "cpu (x86_64, native bf16)".

Until 2026-12-08 a cell's training device named the architecture and whether bf16 was native, which an AMD
EPYC with AVX512-BF16 and an Intel Xeon with AMX share; the two train one seed differently from the first
step's loss (measured: CSQA CF pre seed 1, step-1 loss 2.745741 on the EPYC, 2.746136 on the Xeon). Training
and scoring run in one grid step on one machine (weights are never committed, so a cell resumed elsewhere
is trained again there), so the CPU that lm-eval's own results file records (``pretty_env_info``: lscpu's
model name and flags) is the CPU the cell trained on. This rewrites the label, through the one run.json
writer, in the form ``trainers.model.device_name`` now gives. Run from the repository root:

    python results/smollm2-cf/relabel_devices.py results/smollm2-cpu/grid-v2 results/smollm2-cf/grid-v3
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from cot_tasks.grid_files import read_run, write_run
from trainers.model import cpu_device_name

AMBIGUOUS = ("cpu (x86_64, native bf16)", "cpu (x86_64, no native bf16)")


def lscpu_device(env_info: str) -> str | None:
    """The device label of the CPU lm-eval's ``pretty_env_info`` describes; None where it names none."""
    fields = {}
    for line in env_info.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if not fields.get("Model name") or "Architecture" not in fields:
        return None
    flags = set(fields.get("Flags", "").split())
    return cpu_device_name(fields["Architecture"], fields["Model name"], amx="amx_tile" in flags,
                           avx512_bf16="avx512_bf16" in flags)


def relabel(cell: Path) -> str | None:
    """The cell's new label, written; None where it needs none or its lm-eval files do not agree on one."""
    record = read_run(cell)
    device = (record.training or {}).get("device")
    if device not in AMBIGUOUS:
        return None
    seen = {lscpu_device(json.loads(p.read_text()).get("pretty_env_info", ""))
            for p in sorted(cell.glob("eval/*/results_*.json"))}
    if len(seen) != 1 or None in seen:
        print(f"{cell}: lm-eval's files name {len(seen)} CPUs ({seen}); left as {device!r}")
        return None
    (label,) = seen
    write_run(cell, dataclasses.replace(record, training={**record.training, "device": label}))
    return label


if __name__ == "__main__":
    for grid in sys.argv[1:]:
        for run in sorted(Path(grid).glob("runs/*/run.json")):
            if (label := relabel(run.parent)) is not None:
                print(f"{run.parent.name}: {label}")
