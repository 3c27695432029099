"""The trainer under `accelerate launch` on several processes, and mixed precision, on CPU.

Two processes with grad_accum=1 see, at each optimizer step, the same two
micro-batches as one process with grad_accum=2, so the weights must agree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cot_tasks.sample import rationale_path

COMMON = ["--dataset", "csqa", "--condition", "post", "--rationales", str(rationale_path("csqa")),
          "--epochs", "2", "--batch-size", "4"]


@pytest.fixture(scope="module")
def student_without_dropout(tiny_checkpoint, tmp_path_factory) -> Path:
    # Dropout draws from each process's own RNG stream; without it the runs are comparable.
    path = tmp_path_factory.mktemp("nodrop") / "student"
    shutil.copytree(tiny_checkpoint, path)
    config = json.loads((path / "config.json").read_text())
    config.update(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    (path / "config.json").write_text(json.dumps(config))
    return path


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


def test_accelerate_launch_two_processes_matches_one_process_with_accumulation(student_without_dropout, tmp_path):
    from harness_plugins.cli import main

    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.exists():
        pytest.skip("accelerate CLI not installed beside this python")
    # No GPU visible: accelerate <= 1.15 runs a CPU group's barrier on cuda:<rank> when a GPU is present,
    # "invalid device ordinal" on a one-GPU machine (seen on an H200 with accelerate 1.15; 1.16 fixed it).
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "CUDA_VISIBLE_DEVICES": ""}
    # --multi_gpu selects torch.distributed's launcher; ACCELERATE_USE_CPU turns it into gloo on CPU.
    launched = subprocess.run(
        [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
         "-m", "harness_plugins", "train", *COMMON, "--student", str(student_without_dropout),
         "--output", str(tmp_path / "two"), "--grad-accum", "1"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert main(["train", *COMMON, "--student", str(student_without_dropout), "--output", str(tmp_path / "one"),
                 "--grad-accum", "2"]) == 0

    two, one = (json.loads((tmp_path / d / "cot_distill.json").read_text()) for d in ("two", "one"))
    assert two["steps"] == one["steps"] == 10
    a, b = _weights(tmp_path / "two"), _weights(tmp_path / "one")
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5


def test_bf16_mixed_precision_trains_and_saves_a_loadable_fp32_checkpoint(tiny_checkpoint, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    # accelerate keeps one precision per process, so this run gets a process of its own.
    run = subprocess.run([sys.executable, "-m", "harness_plugins", "train", *COMMON, "--student", str(tiny_checkpoint),
                          "--output", str(tmp_path / "bf16"), "--mixed-precision", "bf16"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads((tmp_path / "bf16" / "cot_distill.json").read_text())
    assert record["config"]["mixed_precision"] == "bf16"
    assert record["final_loss"] == record["final_loss"]  # not NaN
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "bf16")
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())
    before = AutoModelForCausalLM.from_pretrained(tiny_checkpoint).state_dict()
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
