#!/usr/bin/env bash
# The GPU checks for a lent device machine, as one script: the test suite with CUDA present, the trainer in
# bf16 on the GPU (plain and under `accelerate launch`), several processes, the grid end to end on the GPU
# (train, attribution, lm-eval scoring in bf16), and our trainer vs transformers' Trainer on a
# SmolLM2-135M-shaped model (random weights: the same compute as the real student, nothing to ship).
#
# Carried beside the tree (git-ignored): .whl/ (wheels the device image lacks: lm_eval, datasets, evaluate, captum,
# dill, multiprocess, fsspec, pytablewriter and its deps with pytz, sqlitedict, word2number, rouge_score, pytest-timeout)
# and .devdata/ (data/commonsenseqa, data/distilling_step_by_step/cqa, smollm2-shape/ = SmolLM2's
# config and tokenizer). Output: $OUT/device_check.log and the small result files. To prepare, here:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 ... -d .whl NAME==VERSION   (device README)
#   mkdir -p .devdata/data/distilling_step_by_step .devdata/smollm2-shape
#   cp -r ../shared/data/commonsenseqa .devdata/data/
#   cp -r ../shared/data/distilling_step_by_step/cqa .devdata/data/distilling_step_by_step/
#   d=$(cot-distill students path smollm2-135m); cp $d/*.json .devdata/smollm2-shape/; rm .devdata/smollm2-shape/student.json
# The committed results/ are over the 64 MiB a call may send: for the call only, `git rm -r -q --cached
# results; echo /results/ >> .git/info/exclude`, then `git reset -q -- results` and drop that line.
# Each call re-syncs the checkout there: what an earlier call wrote under it may be gone (seen: run.json
# files under results/), while /tmp stays as long as the machine is warm; so the script works in /tmp.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=${OUT:-/tmp/device-check}; mkdir -p "$out"; work=/tmp/cd-work; rm -rf "$work"; mkdir -p "$work"
step() { echo; echo "=== $1  ($(date +%T))"; }
{
step "environment"
[[ -n ${SKIP_INSTALL:-} ]] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD:/tmp/site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'EOF'
import torch, transformers, accelerate, pyarrow, datasets, lm_eval, captum
print("torch", torch.__version__, "transformers", transformers.__version__, "accelerate", accelerate.__version__,
      "pyarrow", pyarrow.__version__, "datasets", datasets.__version__, "captum", captum.__version__)
print("cuda", torch.cuda.is_available(), "bf16", torch.cuda.is_bf16_supported())
EOF
cli() { python3 -m harness_plugins "$@"; }
rat=cot_tasks/sample/csqa/rationales.jsonl

step "bf16 training on the GPU, one process; lm-eval scores the checkpoint on cuda in bf16"
cli train --dataset csqa --condition post --student tiny --rationales "$rat" --output "$work/post" --epochs 2 --batch-size 8 \
    --mixed-precision bf16 --save-steps 0 && python3 -c "
import json; r = json.load(open('$work/post/cot_distill.json')); print({k: r.get(k) for k in ('mixed_precision', 'steps', 'final_loss')})"
cli eval --model hf --model_args "pretrained=$work/post,dtype=bfloat16" --device cuda --tasks cot_csqa \
    --batch_size 32 --output_path "$work/post-eval" 2>&1 | tail -8

step "accelerate launch: one GPU process in bf16"
python3 -m accelerate.commands.launch --num_processes 1 --mixed_precision bf16 -m harness_plugins train --dataset csqa \
    --condition post --student tiny --rationales "$rat" --output "$work/launch1" --epochs 1 --batch-size 8 --mixed-precision bf16 \
    --save-steps 0 2>&1 | tail -3; ls "$work/launch1" | tr '\n' ' '; echo

step "the bundled grid on the GPU: bf16 training, attribution, lm-eval in bf16 on cuda"
sed -e "s#^output: .*#output: $work/grid#" -e 's/device: cpu/device: cuda/' trainers/configs/default.yaml \
    > "$work/grid.yaml"
python3 - "$work/grid.yaml" <<'EOF'
import sys, yaml
path = sys.argv[1]; data = yaml.safe_load(open(path))
data["train"]["mixed_precision"] = "bf16"; data["eval"]["dtype"] = "bfloat16"
yaml.safe_dump(data, open(path, "w"))
EOF
timeout 200 python3 -m harness_plugins run "$work/grid.yaml" 2>&1 | tail -25; echo "grid rc=${PIPESTATUS[0]}"
cp "$work/grid/results.csv" "$out/grid_results.csv" 2>/dev/null

step "the test suite with CUDA present (8 workers)"
timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 tests 2>&1 | tail -25

step "throughput: our trainer vs transformers' Trainer, SmolLM2-135M shape, bf16 on the GPU"
python3 - <<'EOF'
import torch
from transformers import AutoConfig, AutoModelForCausalLM
path = ".devdata/smollm2-shape"
torch.manual_seed(0)
AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path)).save_pretrained("/tmp/smollm2-shape")
EOF
cp .devdata/smollm2-shape/tok* /tmp/smollm2-shape/
for bs in 16; do
  timeout 200 python3 benchmarks/train_throughput.py --student /tmp/smollm2-shape --data .devdata/data \
      --steps 40 --batch-size $bs --mixed-precision bf16 --rounds 2 2>&1 | tail -8
done

step "accelerate launch: two processes on the one GPU (expected to fail); two CPU processes (gloo, no GPU visible)"
timeout 45 python3 -m accelerate.commands.launch --multi_gpu --num_processes 2 -m harness_plugins train --dataset csqa \
    --condition post --student tiny --rationales "$rat" --output "$work/launch2gpu" --epochs 1 --batch-size 8 --save-steps 0 2>&1 \
    | grep -v '^\s*$' | tail -4; echo "two processes on one GPU: rc=${PIPESTATUS[0]}"
CUDA_VISIBLE_DEVICES= ACCELERATE_USE_CPU=1 timeout 90 python3 -m accelerate.commands.launch --multi_gpu --num_processes 2 -m harness_plugins train \
    --dataset csqa --condition post --student tiny --rationales "$rat" --output "$work/launch2cpu" --epochs 1 --batch-size 8 \
    --save-steps 0 2>&1 | tail -3; echo "two CPU processes: rc=${PIPESTATUS[0]}"
} 2>&1 | tee "$out/device_check.log"
