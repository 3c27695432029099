"""One writer per step folder (harness_plugins.grid.claim): exclusive, released, taken over only from the gone."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from harness_plugins.grid.claim import Owner, acquire, claimed, is_stale, read_owner, try_claim


def test_a_claim_is_exclusive_and_released_after_the_step(tmp_path):
    path = tmp_path / "claims" / "cell.json"
    me, other = Owner("node-a", os.getpid(), "task-1"), Owner("node-b", 4242, "task-2")
    with claimed(path, me):
        assert read_owner(path)[0] == me
        assert not try_claim(path, other)  # a live claim of another task on another host
        assert not is_stale(me, 0.0, other, stale_after=60)
        assert read_owner(path)[0] == me
    assert not path.exists()
    try:
        with claimed(path, me):
            raise RuntimeError("the step failed")
    except RuntimeError:
        pass
    assert not path.exists()  # released on failure too


def test_claims_of_the_gone_are_taken_over(tmp_path):
    path = tmp_path / "cell.json"
    me = Owner.me("task-7")
    # A retry of the same Ray task: its earlier attempt's worker died.
    assert try_claim(path, Owner("node-b", 999999, "task-7"))
    acquire(path, me, stale_after=3600, poll=0.01)
    assert read_owner(path)[0] == me
    path.unlink()
    # A process of this host that is gone (a killed worker).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert try_claim(path, Owner(me.host, dead.pid, "task-old"))
    acquire(path, me, stale_after=3600, poll=0.01)
    assert read_owner(path)[0] == me
    path.unlink()
    # Another host whose heartbeat stopped long ago.
    assert try_claim(path, Owner("node-lost", 1, "task-old"))
    os.utime(path, (1_000_000, 1_000_000))
    acquire(path, me, stale_after=3600, poll=0.01)
    assert read_owner(path)[0] == me


def test_a_live_claim_is_waited_for_not_taken(tmp_path):
    path = tmp_path / "cell.json"
    holder = Owner("node-b", 1, "task-live")
    assert try_claim(path, holder)
    me = Owner.me("task-me")
    got = threading.Event()

    def waiter():
        acquire(path, me, stale_after=3600, poll=0.01)
        got.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not got.wait(0.3)  # still the holder's
    assert read_owner(path)[0] == holder
    path.unlink()  # the holder ends its step
    thread.join()
    assert got.is_set() and read_owner(path)[0] == me
