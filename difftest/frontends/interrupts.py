"""Ctrl-C and SIGTERM during a search: what was found is written before exiting.

SIGTERM (cron, ``timeout``, CI cancellation) is turned into ``KeyboardInterrupt``
so both stop a run the same way. Writes run with both signals blocked, so a
signal never cuts a reproducer short; it is delivered right after the write.
On an interrupt, the finding is written unshrunk first, then shrunk with a
progress line, and the shrunk one is written beside it; another interrupt stops
the shrink and keeps the smallest result found so far.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from difftest.impls import is_plugin_spec, plugin_sha256
from difftest.impls.kernel.world import World
from difftest.repro import Repro, save_new
from difftest.runner import Result
from difftest.shrink import shrink

_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (then arrive as usual)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_repro(out: Path, impl_spec: str, r: Result, suffix: str = "") -> Path:
    f = r.first_failure(perf=True) or r.findings[0]
    spec = portable_spec(impl_spec)  # a plugin's absolute path: replays from any folder
    repro = Repro(spec, r.scenario, r.execution.schedule, f, plugin_sha256(spec))
    with signals_deferred():
        return save_new(out, repro, suffix)


def portable_spec(spec: str) -> str:
    """A plugin spec with the file's absolute path, so that it resolves from any folder."""
    if not is_plugin_spec(spec):
        return spec
    path, _, cls = spec.rpartition(":")
    return f"{Path(path).resolve()}:{cls}"


class ShrinkProgress:
    """Prints a line for each smaller reproducer found; keeps the smallest."""

    def __init__(self, first: Result) -> None:
        self.best = first
        self.start = time.monotonic()
        self._line(first, "start")

    def __call__(self, r: Result, stage: str) -> None:
        self.best = r
        self._line(r, stage)

    def _line(self, r: Result, stage: str) -> None:
        s = r.scenario
        print(
            f"  shrinking ({stage}): {len(s.thread_names)} threads, {s.n_ops} operations, "
            f"{r.execution.steps} steps, {time.monotonic() - self.start:.1f} s",
            file=sys.stderr,
            flush=True,
        )


@dataclass
class Saved:
    path: Path  # the reproducer to show: shrunk if shrinking got anywhere
    result: Result
    unshrunk: Path | None = None
    stopped: bool = False  # an interrupt cut the shrink short


def save_finding(
    impl: type[World],
    impl_spec: str,
    first: Result,
    out: Path,
    *,
    shrink_it: bool,
    interrupted: bool,
) -> Saved:
    """Write ``first`` (shrunk if asked); after an interrupt, unshrunk first."""
    if not shrink_it:
        return Saved(write_repro(out, impl_spec, first), first)
    unshrunk = None
    if interrupted:
        unshrunk = write_repro(out, impl_spec, first, "unshrunk")
        print(
            f"difftest: interrupted; unshrunk reproducer written: {unshrunk}; "
            "shrinking it now (interrupt again to stop)",
            file=sys.stderr,
            flush=True,
        )
    tracker: ShrinkProgress | None = None
    stopped = False
    try:
        tracker = ShrinkProgress(first)
        small = shrink(impl, first, progress=tracker)
    except KeyboardInterrupt:
        stopped = True
        small = tracker.best if tracker is not None else first
        if unshrunk is None:
            unshrunk = write_repro(out, impl_spec, first, "unshrunk")
        print(f"difftest: shrinking interrupted; unshrunk reproducer: {unshrunk}", file=sys.stderr)
        if small is first:
            return Saved(unshrunk, first, unshrunk, stopped)
    return Saved(write_repro(out, impl_spec, small), small, unshrunk, stopped)
