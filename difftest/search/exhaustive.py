"""Exhaustive search: at most 0, then 1, then 2 preemptions (iterative context
bounding, as in CHESS) over every scenario of a small bound, smallest first, in
an order the seed rotates. Scenario bound: up to ``params.vcpus`` vCPUs with up
to ``params.ops`` operations from sti/apic/run, ``params.ioctls`` ioctl threads
of one operation.

Each (scenario, bound) is searched by the stateful search, which is complete
within its preemption bound: every counterexample with at most that many
preemptions is found (bounded DPOR, used here before, is not: Coons et al.,
OOPSLA 2013).
"""

from __future__ import annotations

import itertools
import time

from difftest.check import GenParams
from difftest.explore.scenarios import Bound, scenarios
from difftest.explore.stateful import StatefulExplorer
from difftest.impls.kernel.world import World
from difftest.search import Detection

PREEMPTIONS = 2
IOCTL_OPS = ("set PIT_REINJ", "clear PIT_REINJ", "extint")


def find(
    impl: type[World], *, seed: int, max_seconds: float, params: GenParams | None = None
) -> Detection | None:
    params = params or GenParams(vcpus=2, ioctls=1, ops=2)
    # Small scenarios first: a race shows in the smallest scenario that has it.
    order = []
    for v, o in itertools.product(range(1, params.vcpus + 1), range(1, params.ops + 1)):
        bound = Bound(
            vcpus=v,
            ops=o,
            ioctls=params.ioctls,
            ioctl_ops=IOCTL_OPS,
            vendor=params.vendor,
            initial=("PIT_REINJ",) if seed % 2 else (),
        )
        level = list(scenarios(bound))
        rot = (seed * 7919) % len(level)
        order += level[rot:] + level[:rot]
    start = time.monotonic()
    deadline = start + max_seconds
    executions = 0
    for p in range(PREEMPTIONS + 1):  # cheap interleavings of every scenario first
        for s in order:
            if time.monotonic() > deadline:
                return None
            o = StatefulExplorer(impl, s, bound=p, deadline=deadline).explore()
            executions += o.stats.executions
            if o.counterexample is not None:
                return Detection(o.counterexample, executions, time.monotonic() - start)
    return None
