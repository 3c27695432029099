"""How long ``cot-distill --help`` and ``cot-distill tasks`` take to answer, against a bare interpreter start
(the peer: what no Python command line can beat) and against ``import torch`` (what they used to pay).

    python benchmarks/cli_startup.py [--repeats 5]

Prints the median wall time of each command over the repeats and its ratio to the bare start. The target
(issue 23): both answer in under 0.5 s, i.e. without importing torch, transformers or lm-eval
(tests/test_cli.py checks the imports; this script measures the time).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass (peer)": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "cot-distill --help": [sys.executable, "-m", "harness_plugins", "--help"],
    "cot-distill tasks": [sys.executable, "-m", "harness_plugins", "tasks"],
    "cot-distill run --help": [sys.executable, "-m", "harness_plugins", "run", "--help"],
}


def median_seconds(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = {name: median_seconds(cmd, args.repeats) for name, cmd in COMMANDS.items()}
    peer = results["python -c pass (peer)"]
    width = max(map(len, results))
    print(f"{'command'.ljust(width)}  median s  x peer")
    for name, seconds in results.items():
        print(f"{name.ljust(width)}  {seconds:8.3f}  {seconds / peer:6.1f}")


if __name__ == "__main__":
    main()
