"""The specification of the inhibit state, as pure functions of the model state.

Section 1 and 6 of the semantics notes: APICv is activated for the VM iff no
reason is set, where IRQWIN is simply "some vCPU waits for an IRQ window in L1";
a vCPU's APICv is active iff the VM's is, it has no per-vCPU reason (SVM: running
L2) and its local APIC is enabled.
"""

from __future__ import annotations

from difftest.model.state import IRQWIN_BIT, VM, MpState, Reason, VCpu, bit, reasons_str


def vcpu_inhibit_reasons(vm: VM, v: VCpu) -> int:
    """``avic_vcpu_get_apicv_inhibit_reasons``: L2 is inhibited on SVM (VMX: none)."""
    return bit(Reason.NESTED) if vm.vendor == "svm" and v.guest_mode else 0


def vcpu_should_be_active(vm: VM, v: VCpu) -> bool:
    return (
        vm.enable_apicv
        and (vm.apicv_inhibit_reasons | vcpu_inhibit_reasons(vm, v)) == 0
        and v.apic_enabled
    )


def irqwin_applies(vm: VM) -> bool:
    """The IRQ-window inhibit exists: SVM, with APICv enabled by module parameter."""
    return vm.enable_apicv and bool(vm.required & IRQWIN_BIT)


def _owed(v: VCpu) -> bool:
    """KVM asked for an L1 IRQ window for ``v`` and still owes it the interrupt:
    it is still pending and the vCPU is runnable (an INIT or a reset into
    wait-for-SIPI withdraws the request along with the interrupt)."""
    return v.ghost_window and v.extint_pending and v.mp_state == MpState.RUNNABLE


def window_outstanding(vm: VM, v: VCpu) -> bool:
    """An owed window that only V_IRQ can report, in L1: IRQWIN must be set."""
    return _owed(v) and not window_parked(vm, v)


def window_parked(vm: VM, v: VCpu) -> bool:
    """An owed window that needs no IRQWIN now: the vCPU runs L2 (AVIC is off on it
    and V_IRQ was dropped at VMRUN) or waits on L1's STGI (GIF=0, no vGIF: the
    STGI intercept is the window). A version may keep counting it or drop it."""
    return _owed(v) and (v.guest_mode or not (v.gif or vm.vgif))


def expected_bitmap(vm: VM, others: int) -> int:
    """The bitmap a VM with non-IRQWIN reasons ``others`` should have."""
    windows = irqwin_applies(vm) and any(window_outstanding(vm, v) for v in vm.vcpus)
    return others | (IRQWIN_BIT if windows else 0)


def others_str(vm: VM) -> str:
    return reasons_str(vm.apicv_inhibit_reasons & ~IRQWIN_BIT)


def fold_commits(initial: int, commits: list[tuple[Reason, bool]]) -> int:
    """Non-IRQWIN bits after applying the committed updates in commit order."""
    r = initial & ~IRQWIN_BIT
    for reason, set in commits:
        r = r | bit(reason) if set else r & ~bit(reason)
    return r
