"""Interrupted commands: `train` stopped by SIGINT and `run` killed by SIGKILL, as real processes; each rerun
finishes, reuses what was done and (for train) ends with the weights of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_grid import grid_yaml, write_source

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness_plugins", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"finished before {path} appeared: {proc.communicate()}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"no {path} after {timeout} s")
        time.sleep(0.05)


def train_args(out: Path) -> list[str]:
    return ["train", "--dataset", "csqa", "--condition", "none", "--student", "tiny", "--epochs", "4",
            "--batch-size", "4", "--save-steps", "3", "--output", str(out)]


def test_train_stopped_by_sigint_resumes_to_the_uninterrupted_weights(tmp_path):
    import torch
    from safetensors.torch import load_file

    ref = cli(*train_args(tmp_path / "ref"))
    run = cli(*train_args(tmp_path / "run"))
    wait_for(tmp_path / "run" / ".train_state", run)
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130 and err.strip().splitlines()[-1] == "cot-distill: interrupted (rerun to resume)"
    assert not (tmp_path / "run" / "model.safetensors").exists()
    resumed = cli(*train_args(tmp_path / "run"), "--resume")
    assert resumed.wait(timeout=300) == 0 and ref.wait(timeout=300) == 0
    a = load_file(tmp_path / "ref" / "model.safetensors")
    b = load_file(tmp_path / "run" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_run_killed_by_sigkill_reruns_to_the_end_reusing_finished_cells(tmp_path):
    src, rat = write_source(tmp_path)
    config = grid_yaml(tmp_path, src, rat, conditions=["none", "post"])
    first = tmp_path / "runs_out" / "runs" / "csqa__none__tiny__seed0" / "run.json"
    grid = cli("run", str(config))
    wait_for(first, grid)
    os.killpg(grid.pid, signal.SIGKILL)
    grid.wait(timeout=60)
    stamp = first.stat().st_mtime_ns
    rerun = cli("run", str(config))
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "csqa__none__tiny__seed0  reused (finished before)" in out
    assert first.stat().st_mtime_ns == stamp
    assert (tmp_path / "runs_out" / "runs" / "csqa__post__tiny__seed0" / "run.json").is_file()
