"""PCT search: ``difftest check``'s seeded scenarios, each under PCT schedules.

k (the step count PCT spreads its change points over) is estimated per scenario
from one non-preemptive run; depth comes from ``PCT_DEPTH``.
"""

from __future__ import annotations

import time

from difftest.check import GenParams, estimate_k
from difftest.impls.kernel.world import World
from difftest.runner import run
from difftest.schedulers.pct import PCTScheduler
from difftest.schedulers.random import RandomSource
from difftest.search import Detection

PCT_DEPTH = 3
RUNS_PER_SCENARIO = 4


__all__ = ["PCT_DEPTH", "estimate_k", "find"]


def find(
    impl: type[World], *, seed: int, max_seconds: float, params: GenParams | None = None
) -> Detection | None:
    params = params or GenParams()
    start = time.monotonic()
    executions = 0
    i = 0
    while time.monotonic() - start < max_seconds:
        s = params.scenario(RandomSource(seed * 1_000_003 + i))
        k = estimate_k(impl, s)
        executions += 1
        sched = PCTScheduler(len(s.thread_names), k, PCT_DEPTH, seed * 1_000_003 + i)
        for _ in range(RUNS_PER_SCENARIO):
            r = run(impl, s, sched)
            executions += 1
            if r.first_bug is not None:
                return Detection(r, executions, time.monotonic() - start)
        i += 1
    return None
