"""Random search: ``difftest check``'s seeded scenario-and-schedule stream."""

from __future__ import annotations

from difftest.check import GenParams, random_check
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
    s = random_check(
        impl,
        seed=seed,
        runs=None,
        seconds=max_seconds,
        params=params,
        stop_on_bug=True,
        stop_on_perf=perf,
    )
    found = s.first_bug or (s.first_perf if perf else None)
    if found is None:
        return None
    return Detection(found, s.runs, s.seconds)
