#!/usr/bin/env bash
# Commit what a grid (default: the smollm2-cpu one) has finished, every few minutes, while `cot-distill run` works on the
# rest: a cell once its run.json exists, an attribution file once its .done.json does, and the grid's own
# grid.json/results.csv. An attribution file still being made is committed every PARTIAL_EVERY rounds: its rows
# name the weights that made them, so the next machine, whose pre student is trained again bit-equal, resumes
# it instead of redoing hours of attribution. Weights, claims and rationales are git-ignored. Run from the
# repository root.
set -uo pipefail
grid=${1:-results/smollm2-cpu/grid-v2}
round=0
while sleep "${EVERY:-300}"; do
  round=$((round + 1))
  paths=()
  for run in "$grid"/runs/*/run.json; do [[ -e $run ]] && paths+=("$(dirname "$run")"); done
  for rows in "$grid"/attributions/*.jsonl; do
    [[ -e $rows ]] || continue
    if [[ -e ${rows%.jsonl}.done.json ]]; then paths+=("$rows" "${rows%.jsonl}.done.json")
    elif ((round % ${PARTIAL_EVERY:-6} == 0)); then paths+=("$rows"); fi
  done
  for f in "$grid"/grid.json "$grid"/results.csv; do [[ -e $f ]] && paths+=("$f"); done
  ((${#paths[@]})) || continue
  git add -- "${paths[@]}" 2>/dev/null || continue
  git diff --cached --quiet -- "$grid" || git commit -q -m "$grid: finished cells" -- "$grid"
done
