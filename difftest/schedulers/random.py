"""Seeded random search: a uniform choice among runnable threads at every step."""

from __future__ import annotations

import _random
import random

from difftest.schedulers.base import ChoiceScheduler

# randrange(n) is _randbelow(n): k = n.bit_length() bits, redrawn while >= n
# (CPython's Random when random() and getrandbits() are not overridden).
_BELOW_BY_BITS = (
    random.Random._randbelow  # type: ignore[attr-defined]
    is random.Random._randbelow_with_getrandbits  # type: ignore[attr-defined]
)

# random.Random(seed) with an int seed is the C seeding plus ``gauss_next = None``
# (CPython's Random when __init__ and seed() are not overridden).
_new = random.Random.__new__
_seed = _random.Random.seed
_PLAIN_SEED = (
    random.Random.__init__.__module__ == "random"
    and random.Random.seed.__module__ == "random"
    and random.Random.__new__ is _random.Random.__new__
)


class RandomSource:
    """Choices from ``random.Random(seed)``: the same seed gives the same stream
    on every machine and Python version that keeps Mersenne Twister."""

    def __init__(self, seed: int) -> None:
        if type(seed) is int and _PLAIN_SEED:
            # random.Random(seed) for an int seed, without its two Python-level
            # wrappers (Random.__init__ and Random.seed): the same state.
            rng = _new(random.Random)
            _seed(rng, seed)
            rng.gauss_next = None
        else:
            rng = random.Random(seed)
        self.rng = rng
        self._bits = rng.getrandbits

    def draw(self, n: int) -> int:
        if n > 0 and _BELOW_BY_BITS:  # randrange(n) without its two wrapper calls
            k = n.bit_length()
            r = self._bits(k)
            while r >= n:
                r = self._bits(k)
            return r
        return self.rng.randrange(n)

    def uniform_rng(self) -> random.Random | None:
        """``self.rng`` while ``draw`` is ``rng.randrange`` (not overridden)."""
        return self.rng if type(self).draw is RandomSource.draw else None


class RandomScheduler(ChoiceScheduler):
    def __init__(self, seed: int) -> None:
        super().__init__(RandomSource(seed))
