#!/usr/bin/env bash
# Choosing the learning rate of the smollm2-cpu grid without its eval sets (issue 9).
# Each setting trains `none` on the grid's training questions (the first 1,000 CSQA training questions,
# the 780 whose PaLM rationale is kept) and is scored by lm-eval on a held-out slice of the TRAINING split
# (`--metadata heldout=4000`: training questions 4000-4499, which no grid cell trains on).
# LIMIT and EPOCHS (environment) change the training questions and passes; each argument is a learning rate.
# Only training checkpoints go to /tmp; lm-eval's results land here. Run from the repository root.
set -euo pipefail
out=results/smollm2-cpu/pilot
limit=${LIMIT:-1000} epochs=${EPOCHS:-3}
for lr in "$@"; do
  name=none_lr${lr}$([[ $limit == 1000 && $epochs == 3 ]] || echo "_q${limit}_e${epochs}")
  ckpt=/tmp/cot-distill-pilot/$name
  cot-distill train --dataset csqa --condition none --student smollm2-135m --source ../shared/data \
    --rationales results/smollm2-cpu/rationales/csqa_palm540b.jsonl --output "$ckpt" --limit "$limit" \
    --epochs "$epochs" --lr "$lr" --batch-size 16 --max-length 320 --mixed-precision bf16 --save-steps 0 --seed 0
  cp "$ckpt/cot_distill.json" "$out/$name.train.json"
  cot-distill eval --model hf --model_args "pretrained=$ckpt,dtype=bfloat16" --tasks cot_csqa \
    --metadata '{"source": "../shared/data", "heldout": 4000}' --limit 500 --batch_size 32 \
    --output_path "$out/$name" --log_samples
done
