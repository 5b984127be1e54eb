"""The sequential state machine: one operation per rule, compared with reference."""

from __future__ import annotations

import pytest
from helpers import V
from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from difftest.impls import load
from difftest.model.scenario import Scenario
from difftest.oracle.findings import Kind
from difftest.property import PHASES, Divergence
from difftest.runner import run
from difftest.stateful import Mismatch, SequentialScheduler, machine, observe

QUICK = settings(
    max_examples=600,
    report_multiple_bugs=False,
    stateful_step_count=6,
    deadline=None,
    database=None,
    phases=PHASES,
    suppress_health_check=list(HealthCheck),
)


def test_sequential_scheduler_runs_operations_in_rule_order() -> None:
    s = Scenario(vcpus=(V("run"), V("run")), ioctls=(("set HYPERV",),))
    order = [2, 1, 0]  # the ioctl, then vcpu1, then vcpu0
    r = run(load("reference"), s, SequentialScheduler(order))
    sched = r.execution.schedule
    first = [sched.index(t) for t in order]
    last = [len(sched) - 1 - sched[::-1].index(t) for t in order]
    assert first == sorted(first)
    # the ioctl is done before vcpu1 starts, and vcpu1's operation before vcpu0's
    assert last[0] < first[1] and sched.index(0) > first[1]


def test_seans_window_is_a_sequential_bug() -> None:
    """vcpu0 asks for a window, then vcpu1's window exit clears the shared bit."""
    s = Scenario(vcpus=(V("run"), V("sti")), extint=(0, 1))
    r = run(load("prepatch"), s, SequentialScheduler([0, 1]))
    assert r.first_bug is not None and r.first_bug.kind == Kind.LOST_WINDOW
    ref = run(load("reference"), s, SequentialScheduler([0, 1]))
    assert ref.findings == []


@pytest.mark.parametrize("name", ["seed", "prepatch"])
def test_machine_finds_sequential_bugs(name: str) -> None:
    with pytest.raises((Divergence, Mismatch)):
        run_state_machine_as_test(seed(0)(machine(load(name))), settings=QUICK)


@pytest.mark.parametrize("name", ["final", "reference"])
def test_machine_passes_correct_versions(name: str) -> None:
    run_state_machine_as_test(seed(0)(machine(load(name))), settings=QUICK)


def test_observe_tells_delivery_apart() -> None:
    s = Scenario(vcpus=(V("sti"),), extint=(0,))
    a = run(load("reference"), s, SequentialScheduler([0]))
    b = run(load("reference"), Scenario(vcpus=(V("run"),), extint=(0,)), SequentialScheduler([0]))
    assert observe(a.world) != observe(b.world)
