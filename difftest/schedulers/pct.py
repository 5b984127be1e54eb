"""PCT: probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010).

Every execution draws fresh random priorities: the n threads get distinct
priorities d..d+n-1, and d-1 change points are chosen uniformly among the first
k steps. The highest-priority runnable thread runs; at the i-th change point the
running thread's priority drops to i. For a bug of depth d this finds it with
probability at least 1/(n*k^(d-1)) per execution.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def pct_bound(n: int, k: int, depth: int) -> float:
    """The paper's lower bound on finding a given depth-``depth`` bug in one run."""
    try:
        return 1.0 / (n * k ** (depth - 1))
    except OverflowError:  # a deep bound: smaller than the least float
        return 0.0


def pct_bound_runs(n: int, k: int, depth: int, runs: int) -> float:
    """... and in ``runs`` independent runs: 1 - (1 - p)^runs."""
    return 1.0 - (1.0 - pct_bound(n, k, depth)) ** runs


class PCTScheduler:
    """Seeded PCT for ``n`` threads, depth ``depth``, change points among ``k`` steps.

    ``k`` should be the number of steps an execution takes; callers estimate it
    from a first, non-preemptive run of the scenario.
    """

    def __init__(self, n: int, k: int, depth: int, seed: int) -> None:
        if depth < 1 or n < 1 or k < 1:
            raise ValueError("PCT needs n, k and depth of at least 1")
        self.n, self.k, self.depth = n, k, depth
        self.rng = random.Random(seed)

    def new_execution(self) -> None:
        prios = list(range(self.depth, self.depth + self.n))
        self.rng.shuffle(prios)
        self.prio = prios
        points = self.rng.sample(range(1, self.k + 1), min(self.depth - 1, self.k))
        self.change = {step: i + 1 for i, step in enumerate(sorted(points))}
        # the paper numbers change points in the order drawn; sorted ranks keep
        # the same distribution (points are exchangeable) and read more easily
        self.step = 0

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        self.step += 1
        t = max(runnable, key=self.prio.__getitem__)
        low = self.change.get(self.step)
        if low is not None:
            self.prio[t] = low
            t = max(runnable, key=self.prio.__getitem__)
        return t
