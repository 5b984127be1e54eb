"""Issue 9: the TPR (lapic.c, svm.c, avic.c, vmx.c). A LAPIC interrupt that the
guest's TPR masks is neither injected nor waited for; KVM hears of the TPR
dropping through the CR8 write intercept (or V_TPR at the exit, or VMX's
TPR_THRESHOLD); AVIC (de)activation sets and clears that intercept (87d0f901a9bd);
V_TPR follows TASKPRI before every VMRUN, also with AVIC active (d02e48830e3f)."""

from __future__ import annotations

import pytest
from helpers import V, all_kinds, assert_clean, search
from test_mutants import AVIC_RETURNS

from difftest.impls import load
from difftest.model.scenario import Scenario, ScenarioError, VcpuSpec, validate
from difftest.oracle.findings import Kind
from difftest.runner import run
from difftest.schedulers import RandomScheduler

# A LAPIC interrupt arrives while HYPERV inhibits AVIC and the guest's TPR masks it
# (update_cr8_intercept() arms the CR8 write intercept for it); AVIC comes back; the
# guest unmasks it.
TPR_ACROSS_AVIC = Scenario(
    vcpus=(V("sti", "tpr_high", "run", "tpr_low", "run"),),
    ioctls=(("set HYPERV", "lapic 0", "clear HYPERV"),),
    irq_source="split",
)
# The LAPIC interrupt arrives while AVIC is inhibited; the guest masks it, then
# unmasks it: KVM injects it only after the TPR drop.
MASK_THEN_UNMASK = Scenario(
    vcpus=(V("sti", "tpr_high", "run", "tpr_low", "run"),),
    ioctls=(("set HYPERV", "lapic 0"),),
    irq_source="split",
)
# The same, and the guest never unmasks it.
MASKED_FOR_GOOD = Scenario(
    vcpus=(V("sti", "tpr_high", "run"),), ioctls=(("set HYPERV", "lapic 0"),), irq_source="split"
)
# A VMM's reset (KVM_SET_LAPIC: TPR 0) of a vCPU whose guest masked the vector,
# with AVIC active throughout.
RESET_AFTER_TPR = Scenario(vcpus=(V("sti", "tpr_high", "reset", "run"),), irq_source="split")


@pytest.mark.parametrize("vendor", ["svm", "vmx"])
@pytest.mark.parametrize("impl", ["reference", "final", "prepatch"])
def test_masked_interrupt_waits_for_the_tpr_drop(impl, vendor):
    cls = load(impl)
    s = Scenario(
        vcpus=MASK_THEN_UNMASK.vcpus,
        ioctls=MASK_THEN_UNMASK.ioctls,
        irq_source="split",
        vendor=vendor,
    )
    for k in range(150):
        r = run(cls, s, RandomScheduler(k))
        assert r.world.vm.vcpus[0].delivered == 1, k
        assert r.first_bug is None, (k, r.findings)


@pytest.mark.parametrize("impl", ["reference", "final"])
def test_masked_interrupt_is_not_lost_and_needs_no_window(impl):
    """kvm_apic_has_interrupt() honours TASKPRI: nothing is injected, no window is
    counted for good, and the oracle calls the masked interrupt pending, not lost."""
    masked = 0
    for k in range(150):
        r = run(load(impl), MASKED_FOR_GOOD, RandomScheduler(k))
        v = r.world.vm.vcpus[0]
        # Taken before the guest raised its TPR, or still pending behind it.
        assert (v.delivered, v.lapic_irr) in ((1, False), (0, True)), k
        masked += v.lapic_irr
        assert {f.kind for f in r.findings} <= {Kind.STALE_WINDOW}, (k, r.findings)
    assert masked > 0


def test_cr8_intercept_only_while_avic_is_off():
    """final: whenever the guest's CR8 write exits, AVIC is off on that vCPU (the
    kernel's own WARN_ON_ONCE in cr8_write_interception, and the oracle's perf
    check, never fire), and the exit is what tells KVM of the drop."""
    assert_clean("final", TPR_ACROSS_AVIC, seeds=600, soft_ok=False)
    assert_clean("reference", TPR_ACROSS_AVIC, seeds=600, soft_ok=False)


@pytest.mark.parametrize("scenario", [TPR_ACROSS_AVIC, AVIC_RETURNS], ids=["irr", "init"])
def test_kept_cr8_intercept_is_a_perf_finding_only(scenario):
    """Before 87d0f901a9bd an intercept armed while AVIC was off (for a masked
    LAPIC interrupt, or by init_vmcb()) stayed after AVIC came back: CR8 writes
    exit for nothing, but the TPR stays right."""
    kinds = all_kinds("perf-cr8-intercept-kept", scenario, seeds=2000)
    assert kinds == {Kind.CR8_INTERCEPT}, kinds
    assert_clean("final", scenario, seeds=300, soft_ok=False)


def test_avic_tpr_sync_desyncs_after_an_emulated_cr8_write():
    r = search("broken-avic-tpr-sync", TPR_ACROSS_AVIC, Kind.TPR_DESYNC, seeds=2000)
    assert r is not None
    v = r.world.vm.vcpus[0]
    assert v.apicv_active and not v.ghost_tpr_high


@pytest.mark.parametrize("impl", ["final", "perf-cr8-intercept-kept"])
def test_kvm_set_lapic_reaches_v_tpr_with_avic_active(impl):
    """d02e48830e3f: a host write of the TPR (KVM_SET_LAPIC at a VMM's reset) is
    copied to V_TPR before the next VMRUN even with AVIC active."""
    assert_clean(impl, RESET_AFTER_TPR, seeds=50, soft_ok=False)


def test_kvm_set_lapic_is_lost_without_the_sync_fix():
    for k in range(50):
        r = run(load("broken-avic-tpr-sync"), RESET_AFTER_TPR, RandomScheduler(k))
        assert r.first_bug is not None and r.first_bug.kind == Kind.TPR_DESYNC, k


def test_tpr_ops_need_a_wide_source():
    with pytest.raises(ScenarioError, match="tpr_high"):
        validate(Scenario(vcpus=(VcpuSpec(("tpr_high",)),)))
