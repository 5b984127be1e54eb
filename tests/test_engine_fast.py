"""The executor's inlined random choice and ``RandomSource.draw`` against the
plain definitions they replace: same stream, same schedules."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from difftest.check import GenParams
from difftest.impls import BUILTIN, load
from difftest.runner import run
from difftest.schedulers import ChoiceScheduler, RandomSource


class _PlainSource:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def draw(self, n: int) -> int:
        return self.rng.randrange(n)


class _Plain(ChoiceScheduler):
    """ChoiceScheduler with an overridden next_task: the executor's general loop."""

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        return super().next_task(runnable, current)


def test_draw_is_randrange():
    a, b = RandomSource(5), _PlainSource(5)
    for n in [1, 2, 3, 4, 5, 7, 8, 9, 255, 256, 257, 1000, 2**40 + 3] * 50:
        assert a.draw(n) == b.draw(n)
    assert a.rng.getstate() == b.rng.getstate()


def test_uniform_rng_only_for_the_plain_choice():
    assert ChoiceScheduler(RandomSource(1)).uniform_rng() is not None
    assert _Plain(RandomSource(1)).uniform_rng() is None
    assert ChoiceScheduler(_PlainSource(1)).uniform_rng() is None


@pytest.mark.parametrize("impl", list(BUILTIN))
def test_fast_loop_matches_general_loop(impl):
    version = load(impl)
    for i in range(60):
        s = GenParams(vcpus=1 + i % 4, ops=1 + i % 5).scenario(RandomSource(i))
        fast = run(version, s, ChoiceScheduler(RandomSource(i)))
        slow = run(version, s, _Plain(_PlainSource(i)))
        assert fast.execution.schedule == slow.execution.schedule
        assert fast.execution.outcome == slow.execution.outcome
        assert fast.findings == slow.findings
        # a tight budget ends both loops at the same step
        fast = run(version, s, ChoiceScheduler(RandomSource(i)), max_steps=i)
        slow = run(version, s, _Plain(_PlainSource(i)), max_steps=i)
        assert fast.execution.schedule == slow.execution.schedule
        assert fast.findings == slow.findings
