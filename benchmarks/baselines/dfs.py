"""Stateless depth-first enumeration of a scenario's schedules with the executor.

Every execution replays a prefix of choices and then keeps the running thread
(choice 0); backtracking bumps the deepest choice that has an untried
alternative. No state is cached and nothing is reduced: this is the plain
"enumerate every interleaving" a user could write on top of ``run``, optionally
preemption-bounded (a choice other than the running thread, while it could go
on, is a preemption), as CHESS's iterative context bounding does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario
from difftest.runner import Result, run


class PrefixScheduler:
    """Follows ``prefix`` (indices into ``[current, *others]``), then choice 0.

    Logs (index, number of options, whether the running thread could go on) at
    every step that had a choice.
    """

    def __init__(self, prefix: Sequence[int]) -> None:
        self.prefix = list(prefix)
        self.log: list[tuple[int, int, bool]] = []

    def new_execution(self) -> None:
        self.log = []

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        if len(runnable) == 1:
            return runnable[0]
        cur = current in runnable
        order = [current, *(t for t in runnable if t != current)] if cur else list(runnable)
        k = len(self.log)
        idx = self.prefix[k] if k < len(self.prefix) else 0
        self.log.append((idx, len(order), cur))
        return order[idx]  # type: ignore[return-value]


@dataclass
class DfsOutcome:
    executions: int
    seconds: float
    exhausted: bool  # every schedule within the bound was run
    hit: Result | None  # the first execution ``stop`` accepted


def next_prefix(log: list[tuple[int, int, bool]], bound: int | None) -> list[int] | None:
    """The DFS successor of the execution that produced ``log``, or None when done."""
    used = [0]
    for idx, _, cur in log:
        used.append(used[-1] + (1 if cur and idx > 0 else 0))
    for k in range(len(log) - 1, -1, -1):
        idx, n, cur = log[k]
        if idx + 1 < n and (bound is None or used[k] + (1 if cur else 0) <= bound):
            return [i for i, _, _ in log[:k]] + [idx + 1]
    return None


def dfs(
    impl: type[World],
    scenario: Scenario,
    *,
    bound: int | None = None,
    stop: Callable[[Result], bool] | None = None,
    max_seconds: float = 60.0,
) -> DfsOutcome:
    """Run schedules in DFS order until ``stop`` accepts one, all are done, or time is up."""
    t0 = time.perf_counter()
    prefix: list[int] | None = []
    n = 0
    while prefix is not None:
        if time.perf_counter() - t0 > max_seconds:
            return DfsOutcome(n, time.perf_counter() - t0, False, None)
        sched = PrefixScheduler(prefix)
        r = run(impl, scenario, sched)
        n += 1
        if stop is not None and stop(r):
            return DfsOutcome(n, time.perf_counter() - t0, False, r)
        prefix = next_prefix(sched.log, bound)
    return DfsOutcome(n, time.perf_counter() - t0, True, None)
