"""`cot-distill run --executor ray`: the plan as Ray tasks, same results as the sequential executor, faults,
and bad input as one-line errors before any cell starts. Ray tests use a local 2-CPU cluster on loopback and
skip where Ray is not installed (the `oldest` env)."""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from test_grid import grid_yaml

from cot_tasks.errors import DataError
from harness_plugins.cli import main
from harness_plugins.grid import ray_executor
from harness_plugins.grid.config import CellResources, GridConfig, load_grid_config
from harness_plugins.grid.plan import plan
from harness_plugins.grid.run import run_grid

CONDITIONS = ["none", "keytokens_post:3"]  # one free cell; one behind a pre student and its attribution file


def small_grid(tmp_path: Path, name: str, **over) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    # save_steps 1: a checkpoint after every optimizer step, so a killed worker has something to resume.
    train = {"epochs": 2, "batch_size": 8, "lr": 0.002, "max_length": 256, "save_steps": 1,
             "tiny": {"vocab_size": 400, "n_layer": 1, "n_head": 2, "n_embd": 32}}
    over = {"conditions": CONDITIONS, "rationales": {"csqa": "sample"}, "attribution": {"steps": 4}, "train": train,
            "eval": {"batch_size": 16, "limit": 6, "gen_kwargs": "max_gen_toks=8"}, **over}
    return grid_yaml(folder, "sample", "sample", **over)


def test_grid_resources_key_is_checked():
    assert GridConfig.from_dict({"resources": {"num_gpus": 1, "num_cpus": 4}}).resources == CellResources(4, 1)
    assert GridConfig.from_dict({}).resources == CellResources(1, 0)
    with pytest.raises(DataError, match="at least 0") as err:
        GridConfig.from_dict({"resources": {"num_gpus": -1}})
    assert err.value.field == "resources.num_gpus"
    with pytest.raises(DataError, match=r"unknown key\(s\) gpus"):
        GridConfig.from_dict({"resources": {"gpus": 1}})


def test_without_ray_or_with_a_dead_address_nothing_starts(tmp_path, monkeypatch, capsys):
    config = small_grid(tmp_path, "a")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    assert main(["run", str(config), "--executor", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs Ray" in err and "cot-distill[ray]" in err and err.count("\n") == 0
    assert main(["run", str(config), "--address", "auto"]) == 2
    assert "needs --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "a" / "runs_out").exists()
    with pytest.raises(DataError, match="no Ray cluster answers at 127.0.0.1:1"):
        ray_executor.check_address("127.0.0.1:1")  # refused at once, where ray.init retries for minutes
    with pytest.raises(DataError, match="HOST:PORT"):
        ray_executor.check_address("nowhere")


class FakeRay:
    """Records what the executor submits; the first wait is a Ctrl-C."""

    def __init__(self):
        self.submitted: list[tuple[object, tuple]] = []
        self.cancelled: list[object] = []

    def is_initialized(self):
        return True

    def nodes(self):
        return [{"Alive": True, "NodeID": "n", "Resources": {"CPU": 2.0}}]

    def put(self, value):
        return value

    def remote(self, fn):
        fake = self

        class Task:
            def options(self, **kwargs):
                self.kwargs = kwargs
                return self

            def remote(self, *args):
                ref = object()
                fake.submitted.append((ref, args, self.kwargs))
                return ref

        return Task()

    def wait(self, refs, **kwargs):
        raise KeyboardInterrupt

    def cancel(self, ref, force=False):
        assert force
        self.cancelled.append(ref)


def test_dependencies_are_object_refs_and_ctrl_c_cancels_what_is_left(tmp_path, monkeypatch):
    fake = FakeRay()
    monkeypatch.setattr(ray_executor, "import_ray", lambda: fake)
    monkeypatch.setattr(ray_executor, "check_shared", lambda ray, out: None)
    grid = load_grid_config(small_grid(tmp_path, "a", resources={"num_cpus": 2, "num_gpus": 0}))
    with pytest.raises(KeyboardInterrupt):
        ray_executor.run_grid_ray(grid)
    by_step = {args[1].id: (ref, args, kwargs) for ref, args, kwargs in fake.submitted}
    assert list(by_step) == [s.id for s in plan(grid).steps]  # pre, attribute, then the cells
    key_cell = by_step["cell:csqa__keytokens_post-3__tiny__seed0"]
    attribute = by_step["attribute:csqa__pre__tiny__seed0"]
    pre = by_step["pre:csqa__pre__tiny__seed0"]
    # A key-token cell is handed its attribution step's ref (Ray starts it only once that step ended), which
    # is handed the pre student's; the free cell waits for nothing.
    assert key_cell[1][5:] == (attribute[0],) and attribute[1][5:] == (pre[0],) and pre[1][5:] == ()
    assert by_step["cell:csqa__none__tiny__seed0"][1][5:] == ()
    assert {k["num_cpus"] for _, _, k in fake.submitted} == {2} and all(k["max_retries"] for _, _, k in fake.submitted)
    assert sorted(map(id, fake.cancelled)) == sorted(id(ref) for ref, _, _ in fake.submitted)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield ray
    ray.shutdown()


def test_bad_cluster_input_is_one_line_before_any_cell(ray_cluster, tmp_path, monkeypatch, capsys):
    config = small_grid(tmp_path, "a", resources={"num_gpus": 1})
    assert main(["run", str(config), "--executor", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no node of the cluster has 1 CPUs and 1 GPUs" in err and err.count("\n") == 0
    assert not (tmp_path / "a" / "runs_out").exists()

    elsewhere = tmp_path / "node-local"
    elsewhere.mkdir()

    def local_disk(path, text, cwd):  # a node whose "run folder" is its own disk
        Path(elsewhere, Path(path).name).write_text(text)
        return "node-b"

    monkeypatch.setattr(ray_executor, "_write_token", local_disk)
    assert main(["run", str(small_grid(tmp_path, "b")), "--executor", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not shared: a task on node-b wrote" in err and err.count("\n") == 0
    assert not (tmp_path / "b" / "runs_out" / "runs").exists() and len(list(elsewhere.iterdir())) == 1


def stop_mid_training(run_dir: Path, claims: Path, done: threading.Event) -> dict:
    """Wait for the worker that claims ``run_dir``'s cell; freeze it between checks until its first training
    checkpoint is on disk, then kill it (SIGKILL, as a lost node would)."""
    claim = claims / f"cell__{run_dir.name}.json"
    while not claim.exists():
        assert not done.is_set(), "the grid ended before the cell was claimed"
        time.sleep(0.01)
    from harness_plugins.grid.claim import read_owner

    owner = read_owner(claim)[0]
    state = run_dir / "checkpoint" / ".train_state"
    while True:
        os.kill(owner.pid, signal.SIGSTOP)
        if state.is_dir() and any(state.iterdir()):
            break
        os.kill(owner.pid, signal.SIGCONT)
        time.sleep(0.005)
    finished_before = (run_dir / "checkpoint" / "model.safetensors").exists()
    os.kill(owner.pid, signal.SIGKILL)
    return {"task": owner.task, "finished_before": finished_before}


def test_ray_grid_with_a_worker_killed_mid_training_equals_the_sequential_run(ray_cluster, tmp_path, capsys):
    seq = load_grid_config(small_grid(tmp_path, "seq"))
    run_grid(seq)
    par = load_grid_config(small_grid(tmp_path, "ray"))
    out = Path(par.output)
    victim = out / "runs" / "csqa__none__tiny__seed0"
    done, result, killed = threading.Event(), {}, {}

    def drive():
        try:
            result["rows"] = ray_executor.run_grid_ray(par, progress_every=1.0)
        except BaseException as err:  # noqa: BLE001 - shown by the assertion below
            result["error"] = err
        finally:
            done.set()

    thread = threading.Thread(target=drive)
    thread.start()
    try:
        killed.update(stop_mid_training(victim, out / "claims", done))
    finally:
        thread.join()
    assert "error" not in result, result.get("error")
    assert killed["finished_before"] is False  # killed mid-training, not after
    printed = capsys.readouterr().out
    assert "steps: 4 done, 0 running, 0 failed, 0 to go" in printed

    def table(run_out: Path) -> str:
        return (run_out / "results.csv").read_text().replace(str(run_out.resolve()), "RUN")

    assert table(out) == table(Path(seq.output))
    # The report reads the same lm-eval files: byte for byte the same tables.
    from harness_plugins.report.build import build_report

    reports = [build_report(run_out, tmp_path / f"report-{name}", n_resamples=200)
               for name, run_out in (("seq", Path(seq.output)), ("ray", out))]
    for name in ("report.md", "report.csv"):
        assert (tmp_path / "report-seq" / name).read_bytes() == (tmp_path / "report-ray" / name).read_bytes()
    assert reports[0].markdown == reports[1].markdown
    assert len(list(csv.DictReader((out / "results.csv").open()))) == 4
    assert not list((out / "claims").glob("*.json"))  # every claim released, the killed one taken over
    # The key-token cell trained on the finished attribution file (it started after the attribution step).
    from trainers.data import file_sha256

    record = json.loads((out / "runs" / "csqa__keytokens_post-3__tiny__seed0" / "checkpoint" / "cot_distill.json")
                        .read_text())
    assert record["identity"]["attributions_sha256"] == file_sha256(out / "attributions" / "csqa__tiny__seed0.jsonl")

    # A rerun redoes nothing: no step is submitted, run.json files untouched.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("run.json")}
    ray_executor.run_grid_ray(par)
    assert "2 of 2 cells finished before; 0 steps to run" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("run.json")} == stamps
