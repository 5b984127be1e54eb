"""Searches: strategies that look for a bug in an implementation.

Every search has the same signature, so the mutant scoreboard and the benchmarks
can compare them on equal terms::

    find(impl, *, seed, max_seconds, params) -> Detection | None

The seed fixes everything a search decides; ``max_seconds`` only decides when it
gives up, so a returned ``Detection`` replays exactly from its scenario and
schedule.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from difftest.check import GenParams
from difftest.impls.kernel.world import World
from difftest.runner import Result


@dataclass
class Detection:
    result: Result  # the run that shows the bug
    executions: int  # executions run until (and including) that one
    seconds: float  # wall time until detection (reporting only)


Find = Callable[..., Detection | None]

# name -> "module:function"; imported on use so that optional front-ends
# (Atheris, Hypothesis) cost nothing when not asked for.
SEARCHES: dict[str, str] = {
    "random": "difftest.search.random:find",
    "pct": "difftest.search.pct:find",
    "pos": "difftest.search.pos:find",
    "portfolio": "difftest.search.portfolio:find",
    "exhaustive": "difftest.search.exhaustive:find",
    "hypothesis": "difftest.search.hypothesis:find",
    "atheris": "difftest.search.atheris:find",
    "atheris-lines": "difftest.search.atheris:find_lines",
}


def get(name: str) -> Find:
    if name not in SEARCHES:
        raise KeyError(f"unknown search {name!r} (known: {', '.join(SEARCHES)})")
    module, _, func = SEARCHES[name].partition(":")
    return getattr(importlib.import_module(module), func)


__all__ = ["SEARCHES", "Detection", "Find", "GenParams", "World", "get"]
