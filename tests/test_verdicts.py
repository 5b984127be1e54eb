"""Verdicts of every shipped version on the hand-written scenarios that name the
real bugs (prepatch a/b, the seed's counter) and the deliberately broken ones."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import (
    IRQWIN_FROM_SET,
    IRQWIN_FROM_SET_WARN,
    NESTED_LEAK,
    PER_VCPU_APIC,
    PER_VCPU_APIC_1,
    PERF_LAZY,
    SEAN,
    SEAN_BOTH_RUN,
    SEED_IDLE_WAIT,
    SEED_REREQUEST,
    VMX_WINDOWS,
    ZAP_NO_SEQ,
    V,
    assert_clean,
    bug_kinds,
    search,
)

from difftest.check import GenParams, random_check, run_seed
from difftest.impls import BROKEN, BUILTIN, CORRECT, load
from difftest.model.scenario import Scenario
from difftest.oracle.findings import Kind
from difftest.runner import run
from difftest.schedulers import RandomScheduler, ReplayScheduler
from difftest.shrink import shrink


def test_builtin_tables_consistent():
    assert set(CORRECT) <= set(BUILTIN)
    assert set(BROKEN) == {n for n in BUILTIN if n.startswith("broken-")}
    for name in BUILTIN:
        assert load(name).name == name


# -- (1) prepatch bug a: Sean's two-vCPU interleaving -------------------------------


@pytest.mark.parametrize("scenario", [SEAN, SEAN_BOTH_RUN], ids=["sean", "both-run"])
def test_prepatch_sean_interleaving_loses_window(scenario):
    kinds = bug_kinds("prepatch", scenario, seeds=200)
    # The model reports the lost window first, MISSING_INHIBIT alongside it.
    assert kinds[Kind.LOST_WINDOW] > 0
    assert set(kinds) <= {None, Kind.LOST_WINDOW}
    r = search("prepatch", scenario, Kind.LOST_WINDOW)
    assert r is not None
    assert [f.kind for f in r.bugs] == [Kind.LOST_WINDOW, Kind.MISSING_INHIBIT]
    assert len(r.scenario.vcpus) == 2
    assert r.first_bug.where == "quiescence"


def test_prepatch_sean_needs_an_interleaving():
    # Not every schedule loses the window: some seed is clean.
    kinds = bug_kinds("prepatch", SEAN, seeds=100)
    assert kinds[None] > 0


@pytest.mark.parametrize("impl", ["final", "reference"])
@pytest.mark.parametrize("scenario", [SEAN, SEAN_BOTH_RUN], ids=["sean", "both-run"])
def test_correct_versions_keep_sean_window(impl, scenario):
    assert_clean(impl, scenario, seeds=300)


def test_prepatch_lost_window_shrinks_to_two_vcpus():
    big = Scenario(
        vcpus=(V("run", "sti", "cli"), V("run", "sti"), V("apic", "run")),
        ioctls=(("set HYPERV", "clear HYPERV"),),
        extint=(0, 1),
    )
    r = search("prepatch", big, Kind.LOST_WINDOW)
    assert r is not None
    small = shrink(load("prepatch"), r)
    assert small.first_bug.kind == Kind.LOST_WINDOW
    assert small.scenario.n_ops <= big.n_ops
    # Bug (a) is a race between two vCPUs' windows: one vCPU never suffices.
    assert len(small.scenario.vcpus) == 2
    # The shrunk result's schedule really replays to the same bug.
    again = run(load("prepatch"), small.scenario, ReplayScheduler(small.execution.schedule))
    assert again.first_bug.kind == Kind.LOST_WINDOW


def test_prepatch_lost_window_impossible_with_one_vcpu():
    one = Scenario(vcpus=(V("run", "sti", "run", "sti"),), extint=(0,))
    assert search("prepatch", one, Kind.LOST_WINDOW, seeds=300) is None


# -- (2) prepatch bug b: the nested leak -------------------------------------------


def test_prepatch_nested_leak_stuck_inhibit_every_schedule():
    kinds = bug_kinds("prepatch", NESTED_LEAK, seeds=100)
    assert kinds == {Kind.STUCK_INHIBIT: 100}
    r = run(load("prepatch"), NESTED_LEAK, RandomScheduler(0))
    assert r.world.vm.apicv_inhibit_reasons != 0
    assert not any(v.ghost_window for v in r.world.vm.vcpus)


@pytest.mark.parametrize("impl", ["final", "reference"])
def test_correct_versions_no_nested_leak(impl):
    assert_clean(impl, NESTED_LEAK, seeds=200)
    r = run(load(impl), NESTED_LEAK, RandomScheduler(0))
    assert r.world.vm.apicv_inhibit_reasons == 0
    assert r.world.vm.vcpus[0].apicv_active


# -- (3) the seed draft re-counts a re-requested window ---------------------------------


def test_seed_rerequested_window_counts_twice():
    kinds = bug_kinds("seed", SEED_REREQUEST, seeds=100)
    assert kinds == {Kind.STUCK_INHIBIT: 100}
    r = run(load("seed"), SEED_REREQUEST, RandomScheduler(0))
    assert [f.kind for f in r.bugs] == [Kind.STUCK_INHIBIT, Kind.COUNTER]
    assert r.world.vm.irq_window_count == 1  # window done, counter not back to 0


def test_seed_idle_wait_counter_above_windows():
    r = run(load("seed"), SEED_IDLE_WAIT, RandomScheduler(0))
    assert [f.kind for f in r.findings] == [Kind.COUNTER]
    waiting = sum(v.ghost_window for v in r.world.vm.vcpus)
    assert waiting == 1
    assert r.world.vm.irq_window_count == 2


@pytest.mark.parametrize("impl", ["final", "reference"])
@pytest.mark.parametrize("scenario", [SEED_REREQUEST, SEED_IDLE_WAIT], ids=["sti-run", "idle"])
def test_correct_versions_counter_ok(impl, scenario):
    assert_clean(impl, scenario, seeds=200)


def test_final_counter_matches_outstanding_windows():
    r = run(load("final"), SEED_IDLE_WAIT, RandomScheduler(0))
    assert r.world.vm.irq_window_count == 1
    r = run(load("final"), SEED_REREQUEST, RandomScheduler(0))
    assert r.world.vm.irq_window_count == 0


# -- (4)-(6) the deliberately broken versions ------------------------------------------


@pytest.mark.parametrize("scenario", [PER_VCPU_APIC, PER_VCPU_APIC_1], ids=["2vcpu", "1vcpu"])
def test_per_vcpu_irqwin_missed_intercept(scenario):
    r = search("broken-per-vcpu-irqwin", scenario, Kind.MISSED_INTERCEPT, seeds=50)
    assert r is not None
    f = r.first_bug
    assert f.where == "svm_vcpu_run"
    assert f.thread == "vcpu0"
    assert r.execution.outcome == "halted"
    # The SPTE is VM-wide; the vCPU's own APICv is off.
    assert r.world.vm.apic_spte
    assert not r.world.vm.vcpus[0].apicv_active


def test_irqwin_from_set_loses_window():
    r = search("broken-irqwin-from-set", IRQWIN_FROM_SET, Kind.LOST_WINDOW, seeds=400)
    assert r is not None
    assert r.world.vm.apicv_inhibit_reasons == 0
    assert r.world.vm.vcpus[0].extint_pending


def test_irqwin_from_set_warns():
    r = search("broken-irqwin-from-set", IRQWIN_FROM_SET_WARN, Kind.WARN, seeds=400)
    assert r is not None
    assert r.first_bug.where == "svm_set_vintr"


def test_zap_no_seq_missed_intercept():
    r = search("broken-zap-no-seq", ZAP_NO_SEQ, Kind.MISSED_INTERCEPT, seeds=400)
    assert r is not None
    assert r.world.vm.apicv_inhibit_reasons != 0
    assert r.world.vm.apic_spte


@pytest.mark.parametrize("impl", ["final", "reference"])
@pytest.mark.parametrize(
    "scenario",
    [PER_VCPU_APIC, PER_VCPU_APIC_1, IRQWIN_FROM_SET, IRQWIN_FROM_SET_WARN, ZAP_NO_SEQ],
    ids=["per-vcpu", "per-vcpu-1", "from-set", "from-set-warn", "zap"],
)
def test_correct_versions_clean_on_broken_scenarios(impl, scenario):
    assert_clean(impl, scenario, seeds=300)


# -- (8) the perf observable --------------------------------------------------------


@pytest.mark.parametrize("impl", ["final", "seed"])
def test_lazy_versions_take_no_irqwin_write_lock(impl):
    for k in range(20):
        r = run(load(impl), PERF_LAZY, RandomScheduler(k))
        vm = r.world.vm
        assert r.findings == []
        assert vm.write_locks.get("IRQWIN", 0) == 0
        assert vm.irqwin_write_locks_inhibited == 0
        assert vm.vcpus[0].delivered == 1


def test_prepatch_takes_irqwin_write_locks_while_inhibited():
    for k in range(20):
        r = run(load("prepatch"), PERF_LAZY, RandomScheduler(k))
        vm = r.world.vm
        assert vm.write_locks.get("IRQWIN", 0) > 0
        assert vm.irqwin_write_locks_inhibited > 0
        # prepatch makes no laziness claim, so this is not a finding.
        assert r.findings == []


def test_final_takes_irqwin_write_lock_when_nothing_else_inhibits():
    r = run(load("final"), SEED_REREQUEST, RandomScheduler(0))
    assert r.world.vm.write_locks.get("IRQWIN", 0) > 0
    assert r.world.vm.irqwin_write_locks_inhibited == 0


# -- (12) VMX has no IRQ-window inhibit --------------------------------------------


@pytest.mark.parametrize("impl", ["final", "prepatch", "seed", "reference"])
def test_vmx_windows_no_bug(impl):
    assert_clean(impl, VMX_WINDOWS, seeds=150)
    r = run(load(impl), VMX_WINDOWS, RandomScheduler(0))
    assert r.world.vm.write_locks.get("IRQWIN", 0) == 0
    # PIT_REINJ is outside VMX's required mask: nothing inhibits at the end.
    assert r.world.vm.apicv_inhibit_reasons == 0


@pytest.mark.parametrize("impl", ["prepatch", "seed"])
@pytest.mark.parametrize("scenario", [SEAN, NESTED_LEAK], ids=["sean", "nested"])
def test_svm_bugs_vanish_on_vmx(impl, scenario):
    from dataclasses import replace

    vmx = Scenario(
        **{**{f: getattr(scenario, f) for f in scenario.__dataclass_fields__}, "vendor": "vmx"}
    )
    assert vmx == replace(scenario, vendor="vmx")
    assert_clean(impl, vmx, seeds=150)


# -- (13) long random checks -----------------------------------------------------------


@pytest.mark.parametrize("impl", CORRECT)
def test_random_check_correct_versions(impl):
    # final's one finding needs a vCPU reset (README, "Findings"): see
    # test_final_reset_is_the_only_finding.
    s = random_check(load(impl), seed=1, runs=300, params=GenParams(resets=impl != "final"))
    assert GenParams().resets is False
    assert s.runs == 300
    assert s.bug_runs == 0, dict(s.runs_with)
    assert s.first_bug is None
    assert s.steps > 0


def test_random_check_reference_has_no_findings_at_all():
    for params in (GenParams(), GenParams(vcpus=2, ioctls=2, ops=3), GenParams(vendor="vmx")):
        s = random_check(load("reference"), seed=2, runs=150, params=params)
        assert not s.runs_with, dict(s.runs_with)


@pytest.mark.parametrize(
    "params",
    [
        GenParams(vcpus=2, ioctls=2, ops=3),
        GenParams(nested=False),
        GenParams(vcpus=1, ioctls=0),
        GenParams(vendor="vmx"),
    ],
    ids=["2v2i", "no-nested", "1v", "vmx"],
)
def test_random_check_final_other_shapes(params):
    s = random_check(load("final"), seed=3, runs=200, params=replace(params, resets=False))
    assert s.bug_runs == 0, dict(s.runs_with)


def test_final_reset_is_the_only_finding():
    """With resets in the alphabet, every bug final shows is the stale window of a
    reset vCPU: counter/stuck-inhibit, in a run with a reset or an INIT."""
    impl = load("final")
    found = 0
    for i in range(300):
        r = run_seed(impl, 1, i, GenParams(resets=True))
        if not r.bugs:
            continue
        found += 1
        assert {f.kind for f in r.bugs} <= {Kind.COUNTER, Kind.STUCK_INHIBIT}
        ops = [o for v in r.scenario.vcpus for o in v.program]
        ops += [o.split()[0] for p in r.scenario.ioctls for o in p]
        assert "reset" in ops or "init" in ops
        assert any(v.irq_window and not v.ghost_window for v in r.world.vm.vcpus) or any(
            v.irq_window and v.mp_state != 0 for v in r.world.vm.vcpus
        )
    assert found > 0


# Mutations whose race window is a step or two wide: random scenarios need thousands
# of runs for them, so tests/test_mutants.py finds them on a minimal scenario instead.
NARROW = ("broken-zap-before-store", "broken-fault-seq-late", "broken-zap-after-unlock")


@pytest.mark.parametrize("impl", [*(b for b in BROKEN if b not in NARROW), "prepatch", "seed"])
def test_random_check_buggy_versions_found(impl):
    s = random_check(load(impl), seed=1, runs=300)
    assert s.bug_runs > 0
    assert s.first_bug is not None and s.first_bug.first_bug is not None


def test_random_check_stop_on_bug():
    s = random_check(load("seed"), seed=1, runs=300, stop_on_bug=True)
    assert s.first_bug is not None
    assert s.runs < 300
    assert s.bug_runs == len({f.kind for f in s.first_bug.findings})
