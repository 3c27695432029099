"""One progress bar per stage on a terminal; one line per stage everywhere else.

A tqdm bar redraws itself with carriage returns, which is what a terminal wants and what a log file
(a grid under ``nohup``, CI) does not: there it leaves thousands of frames. So where stderr is not a
terminal the stage prints a single line when it ends (what it did, how long it took, its last
figures), and nothing while it runs.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator


class StageLine:
    """The stand-in for a tqdm bar off a terminal: ``update``, ``set_postfix``, ``close`` and ``with``."""

    def __init__(self, total: int | None, desc: str, *, initial: int = 0, disable: bool = False,
                 unit: str = "it") -> None:
        self.total, self.desc, self.n, self.unit = total, desc, initial, unit
        self.disable, self.postfix, self.started, self.closed = disable, "", time.perf_counter(), False

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self.closed or self.disable:
            self.closed = True
            return
        self.closed = True
        done = f"{self.n}/{self.total}" if self.total is not None else str(self.n)
        tail = f" ({self.postfix})" if self.postfix else ""
        print(f"{self.desc}: {done} {self.unit} in {time.perf_counter() - self.started:.0f}s{tail}",
              file=sys.stderr, flush=True)

    def __enter__(self) -> "StageLine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stage_bar(total: int | None, desc: str, *, initial: int = 0, disable: bool = False, unit: str = "it"):
    """A tqdm bar where stderr is a terminal, else a :class:`StageLine`."""
    if not sys.stderr.isatty():
        return StageLine(total, desc, initial=initial, disable=disable, unit=unit)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, initial=initial, disable=disable, unit=unit, dynamic_ncols=True)


def stage_iter(items: Iterable, desc: str, *, total: int | None = None, disable: bool = False) -> Iterator:
    """``items``, with a bar (or, off a terminal, one line at the end) counting them."""
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    with stage_bar(total, desc, disable=disable) as bar:
        for item in items:
            yield item
            bar.update(1)
