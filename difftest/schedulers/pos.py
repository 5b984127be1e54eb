"""POS: partial order sampling (Yuan, Yang and Gu, CAV 2018).

Each pending step carries a random priority and the highest runnable one runs.
After a step runs, the pending steps that race with it (same ``Point.obj``, at
least one write) draw new priorities, and so does the thread's next step. This
samples partial orders more evenly than a uniform choice per step.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from difftest.engine.points import Point


class POSScheduler:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pending: list[Point | None] = []
        self.prio: list[float] = []
        self.ran: Point | None = None

    def new_execution(self) -> None:
        self.prio = []

    def on_step(self, tid: int | None, pending: list[Point | None]) -> None:
        self.pending = pending
        if tid is None:
            self.prio = [self.rng.random() for _ in pending]
            return
        ran = self.ran
        assert ran is not None
        self.prio[tid] = self.rng.random()
        for q, p in enumerate(pending):
            if q != tid and p is not None and p.obj == ran.obj and (p.write or ran.write):
                self.prio[q] = self.rng.random()

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        t = max(runnable, key=self.prio.__getitem__)
        self.ran = self.pending[t]
        return t
