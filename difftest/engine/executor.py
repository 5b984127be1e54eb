"""The deterministic executor: runs one scenario under one scheduler.

Threads are generators that yield a ``Point`` before each shared access. The
executor asks the scheduler which runnable thread goes next, resumes it for exactly
one step and records the choice. The schedule (list of thread ids) plus the
scenario is all that is needed to get the identical execution back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from difftest.engine.points import Kfunc, Point
from difftest.engine.sync import PRIMITIVES
from difftest.schedulers.base import Scheduler


class World(Protocol):
    """What the executor needs from a model instance."""

    current: int
    now: int

    def threads(self) -> list[tuple[str, Kfunc]]: ...

    def halted(self) -> bool:
        """True once a finding that ends the execution was recorded."""
        ...

    def on_stuck(self, kind: str, detail: str) -> None:
        """Record a deadlock (``"deadlock"``) or an exhausted step budget."""
        ...


@dataclass
class Step:
    """One executed step, recorded when tracing."""

    index: int
    tid: int
    op: str
    obj: str
    write: bool
    stack: tuple[str, ...]  # kernel functions, outermost first
    changes: dict[str, tuple[object, object]] = field(default_factory=dict)


@dataclass
class Execution:
    schedule: list[int]
    outcome: str  # "done", "deadlock", "budget" or "halted"
    trace: list[Step] | None = None

    @property
    def steps(self) -> int:
        return len(self.schedule)


def call_stack(gen: Kfunc) -> tuple[str, ...]:
    """Names of the generator functions a thread is suspended in, outermost first.

    Read from ``gi_yieldfrom`` only when tracing, so the hot path pays nothing for
    naming steps after kernel functions.
    """
    names = []
    g = gen
    while g is not None:
        names.append(g.gi_code.co_name)
        g = g.gi_yieldfrom  # type: ignore[assignment]
    return tuple(n for n in names if n not in PRIMITIVES)


def execute(
    world: World,
    scheduler: Scheduler,
    *,
    max_steps: int,
    snapshot: Callable[[], dict[str, object]] | None = None,
) -> Execution:
    """Run ``world``'s threads to completion, deadlock, budget or a halting finding.

    With ``snapshot`` given, every step is recorded with its call stack and the
    state it changed. A scheduler with an ``on_step(tid, pending)`` method (the
    systematic explorers) is shown the pending points once before the first step
    (``tid`` None) and after every step, so it can tell where a step ends.
    """
    named = world.threads()
    names = [n for n, _ in named]
    gens: list[Kfunc | None] = [g for _, g in named]
    pending: list[Point | None] = []
    for i, g in enumerate(gens):
        world.current = i
        pending.append(_advance(g))
        if pending[-1] is None:
            gens[i] = None
    scheduler.new_execution()
    on_step = getattr(scheduler, "on_step", None)
    if on_step is not None:
        on_step(None, pending)
    schedule: list[int] = []
    trace: list[Step] | None = [] if snapshot is not None else None
    before = snapshot() if snapshot is not None else None
    current: int | None = None
    n = len(gens)
    while True:
        runnable = [
            i for i in range(n) if (p := pending[i]) is not None and (p.ready is None or p.ready())
        ]
        if not runnable:
            if any(p is not None for p in pending):
                blocked = ", ".join(
                    f"{names[i]} in {pending[i].op}({pending[i].obj})"  # type: ignore[union-attr]
                    for i in range(n)
                    if pending[i] is not None
                )
                world.on_stuck("deadlock", blocked)
                return Execution(schedule, "deadlock", trace)
            return Execution(schedule, "done", trace)
        if len(schedule) >= max_steps:
            world.on_stuck("budget", f"{max_steps} steps")
            return Execution(schedule, "budget", trace)
        tid = scheduler.next_task(runnable, current)
        current = tid
        schedule.append(tid)
        world.current = tid
        world.now = len(schedule) - 1
        point = pending[tid]
        gen = gens[tid]
        assert point is not None and gen is not None
        stack = call_stack(gen) if trace is not None else ()
        pending[tid] = _advance(gen)
        if pending[tid] is None:
            gens[tid] = None
        if on_step is not None:
            on_step(tid, pending)
        if trace is not None and snapshot is not None and before is not None:
            after = snapshot()
            changes = {k: (before[k], v) for k, v in after.items() if before[k] != v}
            trace.append(
                Step(len(schedule) - 1, tid, point.op, point.obj, point.write, stack, changes)
            )
            before = after
        if world.halted():
            return Execution(schedule, "halted", trace)


def _advance(gen: Kfunc | None) -> Point | None:
    if gen is None:
        return None
    try:
        return next(gen)
    except StopIteration:
        return None
