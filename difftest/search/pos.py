"""POS search: ``difftest check --search pos``'s runs until the first bug."""

from __future__ import annotations

from difftest.check import GenParams, random_check
from difftest.impls.kernel.world import World
from difftest.search import Detection


def find(
    impl: type[World], *, seed: int, max_seconds: float, params: GenParams | None = None
) -> Detection | None:
    s = random_check(
        impl,
        seed=seed,
        runs=None,
        seconds=max_seconds,
        params=params,
        stop_on_bug=True,
        searches=("pos",),
    )
    if s.first_bug is None:
        return None
    return Detection(s.first_bug, s.runs, s.seconds)
