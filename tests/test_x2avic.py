"""Issue 9: x2APIC mode on AVIC without x2AVIC. kvm_vcpu_update_apicv() deletes
the APIC access page's memslot for good (kvm_inhibit_apic_access_page), page
faults on it retry and then emulate, and the oracle flags an x2APIC vCPU that
reaches the vAPIC page through an SPTE."""

from __future__ import annotations

import pytest
from helpers import V, assert_clean
from test_mutants import X2APIC_PAIR

from difftest.impls import load
from difftest.model.scenario import Scenario, ScenarioError, validate
from difftest.model.state import MEMSLOT_NONE, MEMSLOT_VALID
from difftest.oracle.findings import Kind
from difftest.runner import run
from difftest.schedulers import RandomScheduler
from difftest.schedulers.pos import POSScheduler

# vcpu0 maps the APIC page, switches to x2APIC mode and touches the page again.
X2APIC_AFTER_MAP = Scenario(vcpus=(V("apic", "x2apic", "apic"),), irq_source="split")


def _final(scenario: Scenario, seed: int = 0):
    return run(load("final"), scenario, RandomScheduler(seed))


def test_x2apic_deletes_the_memslot_for_good() -> None:
    r = _final(X2APIC_AFTER_MAP)
    vm = r.world.vm
    assert r.findings == []
    assert vm.vcpus[0].x2apic
    assert vm.apic_memslot == MEMSLOT_NONE
    assert not vm.apic_access_memslot_enabled and vm.apic_access_memslot_inhibited
    assert not vm.apic_spte  # zapped, and the later access was emulated, not mapped


def test_reset_back_to_xapic_keeps_the_memslot_deleted() -> None:
    """The deletion happens at the entry after the WRMSR (KVM_REQ_APICV_UPDATE), and
    a later reset to xAPIC mode does not bring the memslot back."""
    s = Scenario(vcpus=(V("apic", "x2apic", "run", "reset", "apic"),), irq_source="split")
    vm = _final(s).world.vm
    assert not vm.vcpus[0].x2apic  # KVM_SET_SREGS: the reset APIC base is xAPIC
    assert vm.apic_memslot == MEMSLOT_NONE and vm.apic_access_memslot_inhibited
    assert not vm.apic_spte


@pytest.mark.parametrize(
    "scenario",
    [
        Scenario(vcpus=(V("apic", "x2apic", "apic"),), irq_source="split", vendor="vmx"),
        Scenario(vcpus=(V("apic", "x2apic", "apic"),), irq_source="split", enable_apicv=False),
    ],
    ids=["vmx", "enable_apicv=0"],
)
def test_no_deletion_without_avic(scenario: Scenario) -> None:
    """Only svm_hardware_setup() with AVIC and no x2AVIC sets
    allow_apicv_in_x2apic_without_x2apic_virtualization."""
    vm = _final(scenario).world.vm
    assert vm.vcpus[0].x2apic
    assert not vm.apic_access_memslot_inhibited
    assert vm.apic_memslot == (MEMSLOT_VALID if scenario.enable_apicv else MEMSLOT_NONE)


def test_x2apic_needs_the_wider_model() -> None:
    with pytest.raises(ScenarioError, match="x2apic"):
        validate(Scenario(vcpus=(V("x2apic"),)))


@pytest.mark.parametrize("impl", ["final", "reference", "prepatch", "seed"])
def test_versions_clean_on_two_vcpus_going_x2apic(impl: str) -> None:
    assert_clean(impl, X2APIC_PAIR, seeds=300, soft_ok=True)


def test_flag_cleared_early_is_a_missed_intercept() -> None:
    """The kernel clears apic_access_memslot_enabled after the deletion; cleared
    before it, a second x2APIC vCPU skips the deletion and enters with the SPTE."""
    impl = load("broken-x2apic-enabled-early")
    hits = [
        r.first_bug
        for k in range(400)
        if (r := run(impl, X2APIC_PAIR, POSScheduler(k))).first_bug is not None
    ]
    assert hits and {f.kind for f in hits} == {Kind.MISSED_INTERCEPT}
    assert all("x2APIC mode" in f.message for f in hits)


def test_deleter_waits_for_a_fault_holding_the_memslot() -> None:
    """synchronize_srcu(): no zap while a fault that found the valid memslot is in
    flight, so no such fault installs an SPTE after the zap (final stays clean on
    every schedule of X2APIC_PAIR tried, and the memslot always ends deleted)."""
    impl = load("final")
    for k in range(300):
        r = run(impl, X2APIC_PAIR, POSScheduler(k))
        assert r.first_bug is None, r.first_bug
        assert r.world.vm.apic_memslot == MEMSLOT_NONE and not r.world.vm.apic_spte
        assert r.world.vm.apic_memslot_readers == 0
