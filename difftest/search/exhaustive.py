"""Exhaustive search: DPOR over every scenario of a small bound, in an order the
seed rotates. Scenario bound: ``params.vcpus`` vCPUs with ``params.ops``
operations from sti/apic/run, ``params.ioctls`` ioctl threads of one operation."""

from __future__ import annotations

import itertools
import time

from difftest.check import GenParams
from difftest.explore.dpor import explore
from difftest.explore.scenarios import Bound, scenarios
from difftest.impls.kernel.world import World
from difftest.search import Detection

PREEMPTIONS = 2  # per scenario: bounds 0..2 keep each scenario to seconds
IOCTL_OPS = ("set PIT_REINJ", "clear PIT_REINJ", "extint")


def find(
    impl: type[World], *, seed: int, max_seconds: float, params: GenParams | None = None
) -> Detection | None:
    params = params or GenParams(vcpus=2, ioctls=1, ops=2)
    bound = Bound(
        vcpus=params.vcpus,
        ops=params.ops,
        ioctls=params.ioctls,
        ioctl_ops=IOCTL_OPS,
        vendor=params.vendor,
        initial=("PIT_REINJ",) if seed % 2 else (),
    )
    start = time.monotonic()
    deadline = start + max_seconds
    all_s = list(scenarios(bound))
    rot = (seed * 7919) % len(all_s)
    executions = 0
    for s in itertools.chain(all_s[rot:], all_s[:rot]):
        if time.monotonic() > deadline:
            break
        o = explore(impl, s, preemptions=PREEMPTIONS, deadline=deadline)
        executions += o.stats.executions
        if o.counterexample is not None:
            return Detection(o.counterexample, executions, time.monotonic() - start)
    return None
