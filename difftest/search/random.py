"""Random search: ``difftest check``'s seeded scenario-and-schedule stream."""

from __future__ import annotations

import time

from difftest.check import GenParams, random_check, run_seed
from difftest.impls.kernel.world import World
from difftest.search import Detection


def find(
    impl: type[World],
    *,
    seed: int,
    max_seconds: float,
    params: GenParams | None = None,
    perf: bool = False,
) -> Detection | None:
    """``perf``: a run with a perf finding is a detection too (``--fail-on-perf``)."""
    if perf:
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < max_seconds:
            r = run_seed(impl, seed, i, params or GenParams())
            i += 1
            if r.bugs or any(f.severity == "perf" for f in r.findings):
                return Detection(r, i, time.monotonic() - start)
        return None
    s = random_check(
        impl, seed=seed, runs=None, seconds=max_seconds, params=params, stop_on_bug=True
    )
    if s.first_bug is None:
        return None
    return Detection(s.first_bug, s.runs, s.seconds)
