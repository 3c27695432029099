"""One writer per step folder: an atomic claim file with its owner's identity and a heartbeat.

A worker claims a step before it trains or attributes, by creating
``RUN_DIR/claims/<step>.json`` with ``os.link`` from a complete temp file (atomic
and exclusive on local disks and on NFS alike; ``O_EXCL`` is not on old NFS).
While it works, a thread refreshes the file's mtime (the heartbeat); it removes
the file when the step ends, whether the step succeeded or raised.

A claim whose owner is gone is taken over, never waited on forever. Gone means:

* the same Ray task id: Ray retries a task only after its worker died, so a retry
  finds the claim of its own earlier attempt (the usual case: a lost worker or
  node; the trainer's ``.train_state`` then resumes the training);
* the same host and a process id that no longer exists (a killed worker, a
  driver's Ctrl-C with ``ray.cancel(force=True)``, then a rerun);
* a heartbeat older than ``stale_after`` seconds (a lost node, seen from any
  other node; set it well above clock skew between the nodes and the file server).

Any other claim belongs to a live writer: the caller waits for it to end (then
finds the step done and reuses it). Taking over renames the stale file away and
checks that what it moved is the claim it judged stale; a fresh claim moved by
mistake (a third writer claimed in between) is linked back.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from cot_tasks.io import write_temp


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    task: str = ""  # the Ray task id (the same in every retry of one task); "" outside Ray

    @classmethod
    def me(cls, task: str = "") -> "Owner":
        return cls(socket.gethostname(), os.getpid(), task)

    def text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"


def read_owner(path: Path) -> tuple[Owner, str, float] | None:
    """The claim's owner, its raw text and its heartbeat age in seconds; None if there is no readable claim."""
    try:
        raw = path.read_text(encoding="utf-8")
        age = time.time() - path.stat().st_mtime
        data = json.loads(raw)
        return Owner(str(data["host"]), int(data["pid"]), str(data.get("task", ""))), raw, age
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        # Unreadable by us, never half-written by us (linked from a complete file): age alone decides.
        return Owner("", -1, ""), raw, age


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def is_stale(holder: Owner, age: float, me: Owner, stale_after: float) -> bool:
    if holder.task and holder.task == me.task:
        return True
    if holder.host == me.host and holder.pid != me.pid and _process_gone(holder.pid):
        return True
    return age > stale_after


def try_claim(path: Path, me: Owner) -> bool:
    tmp = write_temp(path, me.text())
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _take_over(path: Path, raw: str) -> None:
    moved = path.with_name(f".{path.name}.stale-{uuid.uuid4().hex}")
    try:
        os.rename(path, moved)
    except FileNotFoundError:
        return  # another writer took it over first
    try:
        if moved.read_text(encoding="utf-8") != raw:
            os.link(moved, path)  # a fresh claim, not the stale one: give it back
    except FileExistsError:
        pass
    finally:
        moved.unlink(missing_ok=True)


def acquire(path: Path, me: Owner, *, stale_after: float, poll: float) -> None:
    """Block until ``path`` names ``me``: create it, take over a stale claim, or wait for a live one to end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while not try_claim(path, me):
        found = read_owner(path)
        if found is None:
            continue
        holder, raw, age = found
        if is_stale(holder, age, me, stale_after):
            _take_over(path, raw)
        else:
            time.sleep(poll)


def release(path: Path, me: Owner) -> None:
    found = read_owner(path)
    if found is not None and found[0] == me:
        path.unlink(missing_ok=True)


@contextmanager
def claimed(path: str | os.PathLike, me: Owner, *, heartbeat: float = 10.0, stale_after: float = 120.0,
            poll: float = 2.0) -> Iterator[None]:
    path = Path(path)
    acquire(path, me, stale_after=stale_after, poll=poll)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat):
            try:
                os.utime(path)
            except FileNotFoundError:
                return

    thread = threading.Thread(target=beat, name=f"claim-heartbeat {path.name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release(path, me)
