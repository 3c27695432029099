"""``cot-distill run --executor ray``: the grid's plan (harness_plugins.grid.plan) walked as Ray tasks.

Every step that has work left is one task with the grid's ``resources`` (``num_cpus``,
``num_gpus``), started after the tasks of the steps it needs (their ObjectRefs are its
arguments): a pre student, then its attribution file, then the key-token cells; every
other cell runs as soon as a node has room. A task runs ``cell.run_step``, the same
function the sequential executor calls, under a claim on its step
(harness_plugins.grid.claim), so two workers never write one folder.

Before any step starts, each a one-line error: Ray not installed, an address that does
not answer, resources no node has, a run folder some node does not share with the
driver. A worker or node lost mid-step makes Ray retry the task (``max_retries``); the
retry takes over its own claim and the trainer resumes from its ``.train_state``; a
finished cell is never redone. Ctrl-C cancels the outstanding tasks; a rerun continues.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from pathlib import Path

from cot_tasks.errors import DataError
from cot_tasks.grid_files import RunRecord
from harness_plugins.grid.cell import finished
from harness_plugins.grid.claim import Owner, claimed
from harness_plugins.grid.config import CellResources, GridConfig
from harness_plugins.grid.plan import Plan, Step
from harness_plugins.grid.run import finish, prepare
from harness_plugins.grid.steps import needed, run_step

MAX_RETRIES = 3


def import_ray():
    try:
        import ray
    except ImportError:
        raise DataError("--executor ray needs Ray, which is not installed: pip install 'cot-distill[ray]'",
                        field="--executor") from None
    return ray


def check_address(address: str | None) -> None:
    """A host:port (or ray://host:port) that takes no TCP connection fails here at once: ray.init would retry
    for minutes."""
    if address in (None, "", "auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise DataError(f"expected auto, local, HOST:PORT or ray://HOST:PORT, got {address!r}", field="--address")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise DataError(f"no Ray cluster answers at {address} ({err.strerror or err})", field="--address") from None


def connect(ray, address: str | None) -> None:
    """Join the cluster at ``address`` (``auto``: the one ``ray start`` made on this machine), or start a local
    one; an already connected driver (a test's ``ray.init``) is kept."""
    if ray.is_initialized():
        return
    check_address(address)
    try:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot join the Ray cluster at {address or 'a new local one'} ({message})",
                        field="--address") from None


def alive_nodes(ray) -> list[dict]:
    return [n for n in ray.nodes() if n.get("Alive")]


def check_resources(ray, resources: CellResources) -> None:
    """A step no node can hold would wait forever (Ray only warns that it is infeasible)."""
    have = [(n["Resources"].get("CPU", 0), n["Resources"].get("GPU", 0)) for n in alive_nodes(ray)]
    if not any(cpus >= resources.num_cpus and gpus >= resources.num_gpus for cpus, gpus in have):
        nodes = ", ".join(f"{c:g} CPU/{g:g} GPU" for c, g in have) or "none alive"
        raise DataError(f"no node of the cluster has {resources.num_cpus:g} CPUs and {resources.num_gpus:g} GPUs "
                        f"for one step (nodes: {nodes})", field="resources")


def _write_token(path: str, text: str, cwd: str) -> str:
    """Run on one node: write the driver's token where the driver will look (relative paths as the driver sees
    them); the node's host name, for the error message."""
    if os.path.isdir(cwd):
        os.chdir(cwd)
    Path(path).write_text(text, encoding="utf-8")
    return socket.gethostname()


def check_shared(ray, out: Path) -> None:
    """A task on every node writes a token into the run folder; the driver must read each one back."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    writer = ray.remote(_write_token)
    tokens: list[tuple[Path, str, object]] = []
    try:
        for node in alive_nodes(ray):
            token, text = out / f".shared-check-{uuid.uuid4().hex}", uuid.uuid4().hex
            strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            ref = writer.options(num_cpus=0, max_retries=0, scheduling_strategy=strategy).remote(
                str(token), text, os.getcwd())
            tokens.append((token, text, ref))
        for token, text, ref in tokens:
            try:
                host = ray.get(ref)
            except Exception as err:  # noqa: BLE001 - the node's own reason, in one line
                cause = getattr(err, "cause", err)
                raise DataError(f"a task could not write into the run folder ({type(cause).__name__}: {cause}); "
                                "put the output on storage every node mounts", path=out) from None
            seen = token.read_text(encoding="utf-8") if token.is_file() else None
            if seen != text:
                raise DataError(f"not shared: a task on {host} wrote {token.name} there and this driver does not "
                                "see it; put the output on storage every node mounts at the same path", path=out)
    finally:
        for token, _, _ in tokens:
            token.unlink(missing_ok=True)


def _run_step(the_plan: Plan, step: Step, chance: dict[str, float], verbose: bool, cwd: str,
              *_needs) -> RunRecord | None:
    """One step in a Ray worker, under its claim (``_needs``: the rows of the steps it waited for, unused)."""
    import ray

    if os.path.isdir(cwd):
        os.chdir(cwd)  # relative paths of the grid mean what they meant to the driver
    with claimed(the_plan.claim_file(step), Owner.me(ray.get_runtime_context().get_task_id())):
        return run_step(the_plan, step, chance, verbose=verbose)


def run_grid_ray(grid: GridConfig, *, address: str | None = None, verbose: bool = False,
                 max_retries: int = MAX_RETRIES, progress_every: float = 30.0) -> list[RunRecord]:
    """Train + evaluate every cell on a Ray cluster; results.csv and the table as ``grid.run_grid`` writes them."""
    ray = import_ray()
    connect(ray, address)
    check_resources(ray, grid.resources)
    the_plan, chance = prepare(grid)
    check_shared(ray, the_plan.out)
    started = time.perf_counter()
    remote = ray.remote(_run_step).options(num_cpus=grid.resources.num_cpus, num_gpus=grid.resources.num_gpus,
                                          max_retries=max_retries)
    plan_ref = ray.put(the_plan)
    rows: dict[str, RunRecord] = {}
    refs: dict[str, object] = {}
    for step in the_plan.steps:
        if not needed(the_plan, step):
            if step.kind == "cell":
                rows[step.cell.name] = finished(the_plan, step.cell)
            continue
        needs = [refs[n] for n in step.needs if n in refs]
        refs[step.id] = remote.remote(plan_ref, step, chance, verbose, os.getcwd(), *needs)
    total = sum(s.kind == "cell" for s in the_plan.steps)
    print(f"{len(rows)} of {total} cells finished before; {len(refs)} steps to run on "
          f"{len(alive_nodes(ray))} node(s)", flush=True)
    failed = walk(ray, the_plan, refs, rows, started, progress_every)
    if failed:
        for step_id, err in failed.items():
            print(f"failed: {step_id}: {one_line(err)}", file=sys.stderr)
        raise first_cause(next(iter(failed.values())))
    return finish(the_plan, rows, started)


def walk(ray, the_plan: Plan, refs: dict[str, object], rows: dict[str, RunRecord], started: float,
         progress_every: float) -> dict[str, BaseException]:
    """Collect every task's result as it ends, with a progress line; Ctrl-C cancels what is left."""
    steps = {s.id: s for s in the_plan.steps}
    pending = {ref: step_id for step_id, ref in refs.items()}
    failed: dict[str, BaseException] = {}
    done = 0
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=progress_every)
            event = "still working"
            for ref in ready:
                step_id = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - reported per step; independent cells go on
                    failed[step_id] = err
                    event = f"failed {step_id}"
                    continue
                done += 1
                event = f"done {step_id}"
                if row is not None:
                    rows[steps[step_id].cell.name] = row
            claims = the_plan.out / "claims"
            running = sum(1 for _ in claims.glob("*.json")) if claims.is_dir() else 0
            print(f"[{time.perf_counter() - started:.0f}s] steps: {done} done, {running} running, {len(failed)} "
                  f"failed, {len(pending)} to go; {event}", flush=True)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        print(f"cancelled {len(pending)} outstanding steps; a rerun continues from the finished ones",
              file=sys.stderr, flush=True)
        raise
    return failed


def first_cause(err: BaseException) -> BaseException:
    """The exception a step raised, not Ray's wrapper (a DataError stays a one-line error)."""
    cause = getattr(err, "cause", None)
    return cause if isinstance(cause, BaseException) else err


def one_line(err: BaseException) -> str:
    cause = first_cause(err)
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"
