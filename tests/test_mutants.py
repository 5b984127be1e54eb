"""The mutant scoreboard's variants: each broken-* mutation is a real, reachable
bug, found by seeded random schedules on a minimal hand-written scenario, while
``final`` and ``reference`` stay clean on that same scenario. Then the
scoreboard itself on a tiny budget."""

from __future__ import annotations

import pytest
from helpers import V, assert_clean, search

from difftest.impls import BROKEN, CORRECT
from difftest.model.scenario import Scenario
from difftest.oracle.findings import Kind

# One vCPU maps the APIC page, then userspace inhibits: the zap races the fault.
APIC_THEN_INHIBIT = Scenario(vcpus=(V("apic"),), ioctls=(("set PIT_REINJ",),))
# vCPU1 asks for a window and inhibits while vCPU0 goes in and out of the guest.
ENTRY_VS_INHIBIT = Scenario(vcpus=(V("run", "run"), V("run")), extint=(1,))
ONE_WINDOW = Scenario(vcpus=(V("sti", "run"),), extint=(0,))
DIRECT_INJECT = Scenario(vcpus=(V(guest_if=True),), extint=(0,))
CLEAR_OTHER_REASON = Scenario(
    vcpus=(V("run", "sti"),),
    ioctls=(("clear PIT_REINJ",),),
    initial=("PIT_REINJ",),
    extint=(0,),
)
TWO_LAZY_WINDOWS = Scenario(vcpus=(V("sti"), V("sti")), initial=("PIT_REINJ",), extint=(0, 1))
VMRUN = Scenario(vcpus=(V("vmrun", "vmexit"),))

# name -> (scenario, first-bug kind, where it fires, random seeds to try)
MUTANTS = {
    "broken-store-before-kick": (ENTRY_VS_INHIBIT, Kind.WARN, "vcpu_enter_guest", 200),
    "broken-kick-no-wait": (ENTRY_VS_INHIBIT, Kind.WARN, "vcpu_enter_guest", 400),
    "broken-zap-before-store": (APIC_THEN_INHIBIT, Kind.MISSED_INTERCEPT, "svm_vcpu_run", 4000),
    "broken-zap-after-unlock": (APIC_THEN_INHIBIT, Kind.MISSED_INTERCEPT, "svm_vcpu_run", 4000),
    "broken-fault-seq-late": (APIC_THEN_INHIBIT, Kind.MISSED_INTERCEPT, "svm_vcpu_run", 4000),
    "broken-double-inc": (ONE_WINDOW, Kind.STUCK_INHIBIT, "quiescence", 10),
    "broken-dec-underflow": (DIRECT_INJECT, Kind.COUNTER, "atomic_dec", 10),
    "broken-no-recheck": (CLEAR_OTHER_REASON, Kind.WARN, "svm_set_vintr", 200),
    "broken-counter-plain-add": (TWO_LAZY_WINDOWS, Kind.COUNTER, "atomic_dec", 200),
    "broken-vintr-before-inhibit": (ONE_WINDOW, Kind.WARN, "svm_set_vintr", 10),
    "broken-vm-wide-activation": (VMRUN, Kind.WARN, "vcpu_enter_guest", 10),
}


def test_every_new_variant_has_a_scenario():
    assert set(MUTANTS) <= set(BROKEN)
    assert len(BROKEN) >= 10


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_detected(name):
    scenario, kind, where, seeds = MUTANTS[name]
    r = search(name, scenario, kind, seeds=seeds)
    assert r is not None, f"{name}: no {kind.value} in {seeds} schedules"
    assert r.first_bug.where == where


@pytest.mark.parametrize("impl", CORRECT)
@pytest.mark.parametrize(
    "scenario",
    sorted({id(s): s for s, *_ in MUTANTS.values()}.values(), key=repr),
)
def test_correct_versions_clean_on_mutant_scenarios(impl, scenario):
    assert_clean(impl, scenario, seeds=300, soft_ok=True)
