"""What the device alone changes: the same cell (settings, seed, data order) trained and scored on two devices.

CSQA seed 1's none, pre, post and shuffled_post were first trained and scored on a 2-core CPU with native
bf16 (kept in cpu-seed1/), then again on an H200 GPU with the rest of seeds 1 and 2 (grid-v2/). For each
such pair, from the committed lm-eval files only: both metrics on each device, and on how many eval docs
the two students give the same greedy output and commit to the same letter (the exact_match filter of the
condition). Written to device_effect.csv beside this script.

    python results/smollm2-cpu/device_effect.py
"""

from __future__ import annotations

from pathlib import Path

from named_option import write_table  # this folder's own script, beside this one

from cot_tasks.grid_files import read_run
from cot_tasks.lmeval_samples import iter_samples
from harness_plugins.lmeval.results import results_for_task, samples_path, split_key

HERE = Path(__file__).resolve().parent
FIELDS = ("cell", "docs", "acc_cpu", "acc_gpu", "exact_match_cpu", "exact_match_gpu", "same_output", "same_letter")


def outputs(run: Path) -> tuple[dict, dict[str, tuple[str, str]]]:
    """run.json and, per eval doc, (greedy output, committed letter) under the exact_match filter."""
    info = read_run(run)
    score = info.metrics["exact_match"]
    _, wanted = split_key(score.key)
    samples = samples_path(results_for_task(run / "eval", score.task), score.task)
    return info, {row["doc"]["id"]: (row["resps"][0][0], row["filtered_resps"][0])
                  for _, row in iter_samples(samples) if row["filter"] == wanted}


def pair_row(cpu: Path, gpu: Path) -> dict:
    (a, out_a), (b, out_b) = outputs(cpu), outputs(gpu)
    docs = sorted(out_a.keys() & out_b.keys())
    share = lambda i: f"{sum(out_a[d][i] == out_b[d][i] for d in docs) / len(docs):.3f}"  # noqa: E731
    value = lambda info, m: f"{info.metrics[m].value:.3f}"  # noqa: E731
    return {"cell": cpu.name, "docs": len(docs), "acc_cpu": value(a, "acc"), "acc_gpu": value(b, "acc"),
            "exact_match_cpu": value(a, "exact_match"), "exact_match_gpu": value(b, "exact_match"),
            "same_output": share(0), "same_letter": share(1)}


def main() -> None:
    rows = [pair_row(cpu, HERE / "grid-v2" / "runs" / cpu.name)
            for cpu in sorted((HERE / "cpu-seed1" / "runs").iterdir()) if (cpu / "run.json").exists()]
    write_table(HERE / "device_effect.csv", FIELDS, rows)


if __name__ == "__main__":
    main()
