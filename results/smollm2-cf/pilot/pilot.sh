#!/usr/bin/env bash
# Choosing the learning rate of the cloze (CF) grid, trainers/configs/smollm2_cf.yaml, without its eval sets
# (issue 21). Each setting trains `none` in CF on the grid's training questions (the first 800 CSQA training
# questions, the ~620 whose PaLM rationale is kept) and is scored by lm-eval's cot_csqa_cf on a held-out slice
# of the TRAINING split (`--metadata heldout=4000`: training questions 4000 on, the first 500 of them that
# CF can score; no grid cell trains on them). Each argument is a learning rate. Only training checkpoints
# go to /tmp; lm-eval's results land here. Run from the repository root.
set -euo pipefail
out=results/smollm2-cf/pilot
limit=${LIMIT:-800} epochs=${EPOCHS:-3}
for lr in "$@"; do
  name=none_lr${lr}$([[ $limit == 800 && $epochs == 3 ]] || echo "_q${limit}_e${epochs}")
  ckpt=/tmp/cot-distill-cf-pilot/$name
  cot-distill train --dataset csqa --formulation cf --condition none --student smollm2-135m --source ../shared/data \
    --rationales results/smollm2-cpu/rationales/csqa_palm540b.jsonl --output "$ckpt" --limit "$limit" \
    --epochs "$epochs" --lr "$lr" --batch-size 16 --max-length 320 --mixed-precision bf16 --save-steps 0 --seed 0
  cp "$ckpt/cot_distill.json" "$out/$name.train.json"
  cot-distill eval --model hf --model_args "pretrained=$ckpt,dtype=bfloat16" --tasks cot_csqa_cf \
    --metadata '{"source": "../shared/data", "heldout": 4000}' --limit 500 --batch_size 32 \
    --output_path "$out/$name" --log_samples
done
