"""Replay of a recorded schedule: the thread ids the executor chose, in order."""

from __future__ import annotations

from collections.abc import Sequence


class ScheduleDiverged(Exception):
    """The recorded schedule names a thread that cannot run at that step."""


class ReplayScheduler:
    def __init__(self, schedule: Sequence[int]) -> None:
        self.schedule = list(schedule)
        self.pos = 0

    def new_execution(self) -> None:
        self.pos = 0

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        if self.pos >= len(self.schedule):
            raise ScheduleDiverged(f"schedule ended after {self.pos} steps")
        tid = self.schedule[self.pos]
        if tid not in runnable:
            raise ScheduleDiverged(
                f"step {self.pos}: thread {tid} is not runnable (runnable: {list(runnable)})"
            )
        self.pos += 1
        return tid
