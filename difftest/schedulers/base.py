"""The scheduler interface and the choice sources that drive it.

A scheduler answers one question, "which runnable thread runs the next step?",
in the shape of awslabs/shuttle's ``Scheduler``: ``new_execution()`` then
``next_task(runnable, current)`` per step. Most schedulers are a ``ChoiceScheduler``
over some ``ChoiceSource``: the same integer stream can come from a seeded PRNG, a
recorded list, Hypothesis or Atheris, so one artefact replays, shrinks and fuzzes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol


class Scheduler(Protocol):
    def new_execution(self) -> None: ...

    def next_task(self, runnable: Sequence[int], current: int | None) -> int: ...


class ChoiceSource(Protocol):
    def draw(self, n: int) -> int:
        """An integer in ``range(n)``; 0 is the "simplest" answer."""
        ...


class ChoiceScheduler:
    """Picks by index into ``[current, *others]``: choice 0 keeps the running thread.

    With this encoding a smaller choice sequence means fewer preemptions, which is
    the direction a shrinker should move in.
    """

    def __init__(self, source: ChoiceSource) -> None:
        self.source = source

    def new_execution(self) -> None:
        pass

    def uniform_rng(self) -> random.Random | None:
        """The PRNG if every choice is ``rng.randrange(len(order))`` from it, so the
        executor may draw inline; None otherwise (a subclass, another source)."""
        if type(self).next_task is not ChoiceScheduler.next_task:
            return None
        uniform = getattr(self.source, "uniform_rng", None)
        return uniform() if uniform is not None else None

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        if len(runnable) == 1:
            return runnable[0]
        if current in runnable:
            order = [current, *(t for t in runnable if t != current)]
        else:
            order = list(runnable)
        return order[self.source.draw(len(order))]
