"""Hypothesis search: scenario and schedule from one shrinkable choice sequence."""

from __future__ import annotations

import time

from difftest.check import GenParams
from difftest.impls.kernel.world import World
from difftest.property import SEARCH_SETTINGS, minimal_failure
from difftest.search import Detection
from difftest.shrink import shrink
from difftest.strategies import Bounds


def bounds_for(params: GenParams) -> Bounds:
    return Bounds(
        max_vcpus=params.vcpus,
        max_ioctl_threads=params.ioctls,
        max_ops=params.ops,
        nested=params.nested,
        vendor=params.vendor,
        irq_source=params.irq_source,
        resets=params.resets,
    )


def find(
    impl: type[World],
    *,
    seed: int,
    max_seconds: float,
    params: GenParams | None = None,
    perf: bool = False,
) -> Detection | None:
    """Batches of examples with successive Hypothesis seeds until a failure or
    the time is up; the detection is the shrunk failure. ``perf``: a perf
    finding fails an example too (``--fail-on-perf``)."""
    bounds = bounds_for(params or GenParams())
    start = time.monotonic()
    examples = 0
    batch = 0
    while time.monotonic() - start < max_seconds:
        s = minimal_failure(
            impl, bounds, seed=seed * 1_000_003 + batch, config=SEARCH_SETTINGS, perf=perf
        )
        if s.result is not None:
            assert s.examples_to_first is not None
            r = shrink(impl, s.result)
            return Detection(r, examples + s.examples_to_first, time.monotonic() - start)
        examples += s.examples
        batch += 1
    return None
