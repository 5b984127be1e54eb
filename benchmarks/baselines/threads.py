"""The stress test a CI user would write: the same kernel generators, one real
``threading.Thread`` per scenario thread, random sleeps between steps.

Semantics match the executor's: the code between two yields runs atomically (one
global lock around each step), a step whose ``Point.ready`` is false waits (poll
with a short sleep), and the run ends when every thread is done, a bug halts it,
the step budget runs out or nothing moves for ``stall_seconds`` (a deadlock as a
stress test sees it: a timeout). The oracle applied afterwards is the runner's.

Randomness is deliberately unseeded: the OS scheduler decides the interleaving
anyway, so seeding the sleeps would not make a run repeatable.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from difftest.engine.points import Kfunc, Point
from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario
from difftest.oracle.checks import check_quiescent
from difftest.oracle.findings import Finding
from difftest.runner import step_budget


@dataclass
class StressRun:
    outcome: str  # "done", "halted", "budget" or "stalled"
    schedule: list[int]  # thread id of every step, in the order they ran
    preemptions: int  # switches away from a thread that could have run on
    findings: list[Finding]

    @property
    def first_bug(self) -> Finding | None:
        return next((f for f in self.findings if f.severity == "bug"), None)


def _advance(gen: Kfunc) -> Point | None:
    try:
        return next(gen)
    except StopIteration:
        return None


def stress_run(
    impl: type[World],
    scenario: Scenario,
    *,
    max_sleep: float,
    poll: float = 1e-5,
    stall_seconds: float = 2.0,
) -> StressRun:
    """One stress execution of ``scenario`` on ``impl``."""
    world = impl(scenario)
    named = world.threads()
    pending: list[Point | None] = []
    for i, (_, g) in enumerate(named):
        world.current = i
        pending.append(_advance(g))  # as the executor does: run up to the first point
    big = threading.Lock()
    schedule: list[int] = []
    budget = step_budget(scenario)
    stop = threading.Event()
    counts = {"preempt": 0}
    last = [time.monotonic()]

    def runnable(i: int) -> bool:
        p = pending[i]
        return p is not None and (p.ready is None or p.ready())

    def body(tid: int, gen: Kfunc) -> None:
        rnd = random.random
        while pending[tid] is not None and not stop.is_set():
            if max_sleep:
                time.sleep(rnd() * max_sleep)
            with big:
                if stop.is_set():
                    return
                if not runnable(tid):
                    moved = False
                else:
                    if schedule and schedule[-1] != tid and runnable(schedule[-1]):
                        counts["preempt"] += 1
                    world.current = tid
                    world.now = len(schedule)
                    schedule.append(tid)
                    pending[tid] = _advance(gen)
                    last[0] = time.monotonic()
                    moved = True
                    if world.halted() or len(schedule) >= budget:
                        stop.set()
            if not moved:
                time.sleep(poll)

    threads = [
        threading.Thread(target=body, args=(i, g), daemon=True) for i, (_, g) in enumerate(named)
    ]
    for t in threads:
        t.start()
    outcome = "done"
    for t in threads:
        while t.is_alive():
            t.join(0.05)
            if time.monotonic() - last[0] > stall_seconds:
                outcome = "stalled"
                stop.set()
    for t in threads:
        t.join()
    if outcome != "stalled":
        if world.halted():
            outcome = "halted"
        elif any(p is not None for p in pending):
            outcome = "budget"
    if outcome == "done":
        world.now = len(schedule)
        check_quiescent(world)
    elif outcome == "stalled":
        world.on_stuck("deadlock", f"no step for {stall_seconds} s")
    elif outcome == "budget":
        world.on_stuck("budget", f"{budget} steps")
    return StressRun(outcome, schedule, counts["preempt"], world.findings)
