"""Seeded random search: a uniform choice among runnable threads at every step."""

from __future__ import annotations

import random

from difftest.schedulers.base import ChoiceScheduler


class RandomSource:
    """Choices from ``random.Random(seed)``: the same seed gives the same stream
    on every machine and Python version that keeps Mersenne Twister."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def draw(self, n: int) -> int:
        return self.rng.randrange(n)

    def uniform_rng(self) -> random.Random | None:
        """``self.rng`` while ``draw`` is ``rng.randrange`` (not overridden)."""
        return self.rng if type(self).draw is RandomSource.draw else None


class RandomScheduler(ChoiceScheduler):
    def __init__(self, seed: int) -> None:
        super().__init__(RandomSource(seed))
