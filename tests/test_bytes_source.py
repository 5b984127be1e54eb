"""The fuzzer's byte stream as a choice source."""

from __future__ import annotations

from difftest.impls import load
from difftest.model.scenario import generate
from difftest.runner import run
from difftest.schedulers.base import ChoiceScheduler
from difftest.schedulers.bytes import BytesSource


def _run(impl: str, data: bytes):
    src = BytesSource(data)
    sc = generate(src, vcpus=2, ioctls=1, ops=3)
    return run(load(impl), sc, ChoiceScheduler(src))


def test_draws_are_in_range_and_zero_past_the_end() -> None:
    src = BytesSource(bytes([7, 255]))
    assert src.draw(5) == 2
    assert src.draw(3) == 0
    assert [src.draw(9) for _ in range(3)] == [0, 0, 0]


def test_same_bytes_same_execution() -> None:
    data = bytes(range(200))
    a, b = _run("prepatch", data), _run("prepatch", data)
    assert a.scenario == b.scenario
    assert a.execution.schedule == b.execution.schedule


def test_empty_input_runs_without_preemption() -> None:
    r = _run("final", b"")
    assert r.bugs == []
    # choice 0 always keeps the running thread: no switch until it blocks or ends
    switches = sum(
        1 for x, y in zip(r.execution.schedule, r.execution.schedule[1:], strict=False) if x != y
    )
    assert switches <= len(r.scenario.thread_names) * 3
