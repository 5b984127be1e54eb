"""Fuzzer bytes -> one run: a scenario and its schedule from one choice stream.

Every byte string decodes to a valid run (``BytesSource`` answers 0 past the
end, and every draw is taken modulo its range), so libFuzzer's mutations never
waste an execution on a rejected input, and the same bytes give the same run on
every machine.
"""

from __future__ import annotations

from dataclasses import replace

from difftest.check import GenParams
from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario
from difftest.runner import Result, run
from difftest.schedulers.base import ChoiceScheduler, ChoiceSource, Scheduler
from difftest.schedulers.bytes import BytesSource


def decode_scenario(src: ChoiceSource, params: GenParams) -> Scenario:
    """The first two draws size the scenario (1..vcpus vCPUs, 1..ops operations per
    thread), so short inputs mean small scenarios and a mutation of the first
    bytes moves between sizes."""
    vcpus = 1 + src.draw(params.vcpus)
    ops = 1 + src.draw(params.ops)
    return replace(params, vcpus=vcpus, ops=ops).scenario(src)


def decode(data: bytes, params: GenParams | None = None) -> tuple[Scenario, Scheduler]:
    """The scenario and the scheduler that will draw the rest of ``data``."""
    src = BytesSource(data)
    scenario = decode_scenario(src, params or GenParams())
    return scenario, ChoiceScheduler(src)


def run_bytes(impl: type[World], data: bytes, params: GenParams | None = None) -> Result:
    scenario, scheduler = decode(data, params)
    return run(impl, scenario, scheduler)


class RecordingSource:
    """Wraps a source and keeps every answer, so a run drawn from any source can be
    written back as fuzzer bytes (one byte per draw; draws over 256 take two)."""

    def __init__(self, inner: ChoiceSource) -> None:
        self.inner = inner
        self.answers: list[tuple[int, int]] = []

    def draw(self, n: int) -> int:
        x = self.inner.draw(n)
        self.answers.append((n, x))
        return x

    def to_bytes(self) -> bytes:
        out = bytearray()
        for n, x in self.answers:
            out += x.to_bytes(1 if n <= 256 else 2, "little")
        return bytes(out)
