#!/usr/bin/env bash
# Gemma-3-270M on CSQA: the grid (none, post; one seed), then the untrained student, both metrics.
# From the repository root, after `cot-distill students fetch gemma3-270m` and the CSQA rationale import of
# results/smollm2-cpu/README.md. Both steps resume: finished cells and finished eval folders are reused.
set -euo pipefail
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
cot-distill run trainers/configs/gemma3_cpu.yaml
if ! ls results/gemma3-cpu/zero-shot/*/results_*.json >/dev/null 2>&1; then
  cot-distill eval --model hf --model_args "pretrained=$(cot-distill students path gemma3-270m),dtype=float32" \
      --tasks cot_csqa,cot_csqa_gen --metadata '{"source": "../shared/data"}' \
      --gen_kwargs max_gen_toks=96 --batch_size 32 --output_path results/gemma3-cpu/zero-shot --log_samples
fi
cot-distill report results/gemma3-cpu/grid --out results/gemma3-cpu
# and in one report with the SmolLM2 grid (each student's conditions compared within that student only):
cot-distill report results/smollm2-cpu/grid-v2 results/gemma3-cpu/grid --out results/smollm2-cpu
