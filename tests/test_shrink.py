"""The shrinker's schedule pass and forgiving replay."""

from __future__ import annotations

from pathlib import Path

from difftest.impls import load
from difftest.report.explain import preemptions
from difftest.repro import load as load_repro
from difftest.runner import run
from difftest.schedulers.replay import ReplayScheduler
from difftest.shrink import Forgiving, _mapped, fewer_preemptions

ROOT = Path(__file__).resolve().parent.parent


def _result(name: str):
    r = load_repro(ROOT / name)
    impl = load(r.impl)
    return impl, run(impl, r.scenario, ReplayScheduler(r.schedule))


def test_preemptions_removed_when_the_bug_needs_none() -> None:
    """Sean's two-vCPU window needs no race; the recorded schedule has some."""
    impl, r = _result("corpus/known/prepatch-two-vcpu-window.json")
    assert preemptions(impl, r) > 0
    small = fewer_preemptions(impl, r)
    assert small.first_bug is not None and small.first_bug.kind == r.first_bug.kind
    assert preemptions(impl, small) == 0


def test_needed_preemption_is_kept() -> None:
    """The set_vintr WARN needs one preemption between set and svm_set_vintr."""
    impl, r = _result("corpus/known/prepatch-set-vintr-warn.json")
    small = fewer_preemptions(impl, r)
    assert small.first_bug is not None and small.first_bug.kind == r.first_bug.kind
    assert preemptions(impl, small) >= 1
    assert preemptions(impl, small) <= preemptions(impl, r)


def test_forgiving_replay_skips_threads_that_cannot_run() -> None:
    f = Forgiving([1, 1, 0])
    f.new_execution()
    assert f.next_task([0], None) == 0  # thread 1 cannot run: its entries are skipped
    assert f.pos == 3
    assert f.next_task([0, 1], 0) == 0  # past the end: no preemption
    assert f.preemptions == 0


def test_schedule_follows_a_dropped_thread() -> None:
    impl, r = _result("corpus/known/prepatch-two-vcpu-window.json")
    s = r.scenario
    changes = {"vcpus": s.vcpus[1:], "ioctls": s.ioctls, "extint": ()}
    mapped = _mapped([0, 1, 2, 0, 2], s, changes)
    assert mapped == [0, 1, 1]
