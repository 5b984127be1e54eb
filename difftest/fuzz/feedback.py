"""Concurrency feedback: what libFuzzer should count as new besides new lines.

The model is small, so line coverage saturates within seconds and stops telling
the fuzzer which inputs are interesting. What matters for a race is which
abstract states the VM went through and in which order conflicting steps of
different threads ran. ``Feedback`` turns both into feature ids in
``range(size)``; the Atheris target maps each id to a libFuzzer counter of its
own, so an input that reaches a new state or a new ordered pair of conflicting
steps is kept in the corpus like one that covers a new edge.

Feature ids come from CRC-32 of a fixed text, never from Python's ``hash``,
so every process of a fork-mode run numbers the same feature the same way.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence

from difftest.engine.points import Kfunc, Point
from difftest.impls.kernel.world import World
from difftest.runner import Result
from difftest.schedulers.base import Scheduler

Sink = Callable[[int], None]
DEFAULT_SIZE = 1 << 13


def _fid(text: str, size: int) -> int:
    return zlib.crc32(text.encode()) % size


def abstract_state(w: World) -> tuple:
    """Coarse VM state: inhibit bitmap, counter (capped at 3), the SPTE, and per
    vCPU apicv_active, irq_window, V_IRQ, an outstanding window and L2."""
    vm = w.vm
    return (
        vm.apicv_inhibit_reasons,
        min(vm.irq_window_count, 3),
        vm.apic_spte,
        tuple(
            (v.apicv_active, v.irq_window, v.v_irq, v.ghost_window, v.guest_mode) for v in vm.vcpus
        ),
    )


class Feedback:
    """Feature extraction for one fuzzing process; ``sink`` receives feature ids.

    ``instrument(impl)`` gives a subclass whose threads report each pending
    ``Point``; ``scheduler(inner)`` wraps the run's scheduler to see which point
    each step executes and the state after it. Nothing in a run's course
    changes: the same bytes give the same schedule with or without feedback.
    """

    def __init__(
        self, sink: Sink, size: int = DEFAULT_SIZE, *, states: bool = True, pairs: bool = True
    ) -> None:
        self.sink = sink
        self.size = size
        self.states = states  # abstract states reached
        self.pairs = pairs  # ordered pairs of conflicting steps
        self._ids: dict[object, int] = {}
        self._classes: dict[type[World], type[World]] = {}
        self._run: _RunTap | None = None
        self._seen: set[int] = set()  # feature ids emitted in the current run

    def feature(self, key: tuple) -> None:
        """Emit the feature named by ``key`` (a tuple of str, int and bool), once
        per run: libFuzzer would otherwise count hit-count buckets of every
        feature as new, and the corpus fills with inputs that differ only in how
        often they revisit a state."""
        fid = self._ids.get(key)
        if fid is None:
            fid = self._ids[key] = _fid(repr(key), self.size)
        if fid not in self._seen:
            self._seen.add(fid)
            self.sink(fid)

    def instrument(self, impl: type[World]) -> type[World]:
        cls = self._classes.get(impl)
        if cls is None:
            fb = self

            def threads(world: World) -> list[tuple[str, Kfunc]]:
                tap = _RunTap(fb, world)
                fb._run = tap
                fb._seen.clear()
                return [
                    (name, tap.tapped(i, gen)) for i, (name, gen) in enumerate(impl.threads(world))
                ]

            cls = type(impl.__name__, (impl,), {"threads": threads, "__doc__": impl.__doc__})
            self._classes[impl] = cls
        return cls

    def scheduler(self, inner: Scheduler) -> Scheduler:
        return _TapScheduler(self, inner)

    def finish(self, result: Result) -> None:
        """The state at the end and every finding kind (latency ones included: a
        delayed window is one step from a lost one)."""
        tap = self._run
        if tap is not None and tap.wrote and self.states:
            self.feature(("s", *abstract_state(result.world)))
        for f in result.findings:
            self.feature(("f", f.kind.value, f.where))
        self.feature(("o", result.execution.outcome))
        self._run = None


class _RunTap:
    """Per-run bookkeeping: each thread's pending point, and per shared object the
    last write and the last read with the thread that did them."""

    __slots__ = ("fb", "world", "pending", "last_w", "last_r", "wrote")

    def __init__(self, fb: Feedback, world: World) -> None:
        self.fb = fb
        self.world = world
        self.pending: list[Point | None] = []
        self.last_w: dict[str, tuple[int, str]] = {}
        self.last_r: dict[str, tuple[int, str]] = {}
        self.wrote = True  # emit the initial state at the first step

    def tapped(self, tid: int, gen: Kfunc) -> Iterator[Point]:
        self.pending.append(None)
        pending = self.pending
        for p in gen:
            pending[tid] = p
            yield p

    def step(self, tid: int) -> None:
        """Thread ``tid`` is about to execute its pending point."""
        fb = self.fb
        if self.wrote and fb.states:
            fb.feature(("s", *abstract_state(self.world)))
        p = self.pending[tid]
        if p is None:
            return
        self.wrote = p.write
        if not fb.pairs:
            return
        obj = p.obj
        w = self.last_w.get(obj)
        if w is not None and w[0] != tid:
            fb.feature(("c", w[1], p.op))  # write then read or write
        if p.write:
            r = self.last_r.get(obj)
            if r is not None and r[0] != tid:
                fb.feature(("c", r[1], p.op))  # read then write
            self.last_w[obj] = (tid, p.op)
            self.last_r.pop(obj, None)
        else:
            self.last_r[obj] = (tid, p.op)


class _TapScheduler:
    def __init__(self, fb: Feedback, inner: Scheduler) -> None:
        self.fb = fb
        self.inner = inner

    def new_execution(self) -> None:
        self.inner.new_execution()

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        tid = self.inner.next_task(runnable, current)
        tap = self.fb._run
        if tap is not None:
            tap.step(tid)
        return tid
