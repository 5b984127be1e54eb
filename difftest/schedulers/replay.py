"""Replay of a recorded schedule: the thread ids the executor chose, in order."""

from __future__ import annotations

from collections.abc import Sequence


class ScheduleDiverged(Exception):
    """The recorded schedule names a thread that cannot run at that step."""


class ReplayScheduler:
    """Follows ``schedule``. Strict replay raises where the recording does not fit;
    lenient replay (replaying one version's schedule on another) keeps the running
    thread from there on and records where it diverged."""

    def __init__(self, schedule: Sequence[int], *, strict: bool = True) -> None:
        self.schedule = list(schedule)
        self.strict = strict
        self.pos = 0
        self.diverged_at: int | None = None
        self.preemptions = 0  # switches away from a thread that could go on

    def new_execution(self) -> None:
        self.pos = 0
        self.diverged_at = None
        self.preemptions = 0

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        pos = self.pos
        self.pos += 1
        if self.diverged_at is None:
            if pos < len(self.schedule) and self.schedule[pos] in runnable:
                if current in runnable and self.schedule[pos] != current:
                    self.preemptions += 1
                return self.schedule[pos]
            if self.strict:
                if pos >= len(self.schedule):
                    raise ScheduleDiverged(f"schedule ended after {pos} steps")
                raise ScheduleDiverged(
                    f"step {pos}: thread {self.schedule[pos]} is not runnable "
                    f"(runnable: {list(runnable)})"
                )
            self.diverged_at = pos
        return current if current in runnable else runnable[0]
