"""One run: build the implementation for a scenario, execute it under a
scheduler, and apply the oracle. Every front-end goes through here."""

from __future__ import annotations

from dataclasses import dataclass

from difftest.engine.executor import Execution, execute
from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario
from difftest.oracle.checks import check_quiescent
from difftest.oracle.findings import Finding
from difftest.schedulers.base import Scheduler


def step_budget(scenario: Scenario) -> int:
    """Generous for any correct version; a livelock exceeds it quickly."""
    return 400 + 120 * scenario.n_ops


@dataclass
class Result:
    impl: str
    scenario: Scenario
    execution: Execution
    findings: list[Finding]
    world: World

    @property
    def bugs(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "bug"]

    @property
    def first_bug(self) -> Finding | None:
        return self.bugs[0] if self.bugs else None

    def first_failure(self, perf: bool = False) -> Finding | None:
        """The finding that fails the run: its first bug or, with ``perf``
        (``--fail-on-perf``), its first perf finding when it has no bug."""
        if self.bugs:
            return self.bugs[0]
        if perf:
            return next((f for f in self.findings if f.severity == "perf"), None)
        return None


def run(
    impl: type[World],
    scenario: Scenario,
    scheduler: Scheduler,
    *,
    trace: bool = False,
    max_steps: int | None = None,
) -> Result:
    world = impl(scenario)
    attach = getattr(scheduler, "attach", None)
    if attach is not None:  # a scheduler that steers by the world's progress
        attach(world)
    execution = execute(
        world,
        scheduler,
        max_steps=max_steps if max_steps is not None else step_budget(scenario),
        snapshot=world.snapshot if trace else None,
    )
    if execution.outcome == "done":
        world.now = execution.steps
        check_quiescent(world)
    world.retire()
    return Result(impl.name, scenario, execution, world.findings, world)
