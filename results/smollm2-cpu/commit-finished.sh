#!/usr/bin/env bash
# Commit what a grid (default: the smollm2-cpu one) has finished, every few minutes, while `cot-distill run` works on the
# rest: a cell once its run.json exists, an attribution file once its .done.json does, and the grid's own
# grid.json/results.csv. Weights, claims and rationales are git-ignored. Run from the repository root.
set -uo pipefail
grid=${1:-results/smollm2-cpu/grid-v2}
while sleep "${EVERY:-300}"; do
  paths=()
  for run in "$grid"/runs/*/run.json; do [[ -e $run ]] && paths+=("$(dirname "$run")"); done
  for done in "$grid"/attributions/*.done.json; do
    [[ -e $done ]] && paths+=("$done" "${done%.done.json}.jsonl")
  done
  for f in "$grid"/grid.json "$grid"/results.csv; do [[ -e $f ]] && paths+=("$f"); done
  ((${#paths[@]})) || continue
  git add -- "${paths[@]}" 2>/dev/null || continue
  git diff --cached --quiet -- "$grid" || git commit -q -m "$grid: finished cells" -- "$grid"
done
