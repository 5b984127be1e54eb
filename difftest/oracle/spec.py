"""The specification of the inhibit state, as pure functions of the model state.

Section 1 and 6 of the semantics notes: APICv is activated for the VM iff no
reason is set, where IRQWIN is simply "some vCPU waits for an IRQ window in L1";
a vCPU's APICv is active iff the VM's is, it has no per-vCPU reason (SVM: running
L2) and its local APIC is enabled.
"""

from __future__ import annotations

from difftest.model.state import IRQWIN_BIT, VM, MpState, Reason, VCpu, bit, reasons_str

_NESTED = bit(Reason.NESTED)


def vcpu_inhibit_reasons(vm: VM, v: VCpu) -> int:
    """``avic_vcpu_get_apicv_inhibit_reasons``: L2 is inhibited on SVM (VMX: none)."""
    return _NESTED if v.guest_mode and vm.vendor == "svm" else 0


def vcpu_should_be_active(vm: VM, v: VCpu) -> bool:
    return (
        vm.enable_apicv
        and (vm.apicv_inhibit_reasons | vcpu_inhibit_reasons(vm, v)) == 0
        and v.apic_enabled
    )


def irqwin_applies(vm: VM) -> bool:
    """The IRQ-window inhibit exists: SVM, with APICv enabled by module parameter."""
    return vm.enable_apicv and bool(vm.required & IRQWIN_BIT)


def pending_for_l1(vm: VM, v: VCpu) -> bool:
    """An interrupt for L1 that KVM must inject (not one AVIC delivers itself):
    an ExtINT from the VM's source, or a LAPIC interrupt while APICv is off that
    the guest's TPR does not mask."""
    accepts = v.lvt0_extint or not v.apic_enabled
    if v.xen_upcall or (
        accepts and (vm.pic_output if vm.irq_source == "pic" else v.extint_pending)
    ):
        return True
    return v.lapic_irr and v.apic_enabled and not v.apicv_active and not v.ghost_tpr_high


def window_outstanding(vm: VM, v: VCpu) -> bool:
    """KVM asked for an L1 window and its interrupt is still there (in L2 too:
    the window is re-armed on the way back). A window whose interrupt vanished
    (acked by another vCPU, masked, a Xen upcall the guest already took) awaits
    nothing, even while V_IRQ stays armed. Neither does a vCPU in wait-for-SIPI
    (after an INIT, or a VMM's reset): it runs no L1 code until a SIPI."""
    return v.ghost_window and v.mp_state == MpState.RUNNABLE and pending_for_l1(vm, v)


def window_parked(vm: VM, v: VCpu) -> bool:
    """An outstanding window that needs no IRQWIN now: the vCPU runs L2 (AVIC is
    off on it, and V_IRQ for L1 was dropped at VMRUN), or L1 runs with GIF=0 and
    no vGIF, so the STGI intercept (svm_set_gif(true) raising KVM_REQ_EVENT) is
    the window, not V_IRQ. A version may keep counting it or not (final counts a
    window requested in L1 until the injection; one requested behind GIF=0 never
    was). The legacy model, where GIF is always set, keeps counting L2 windows
    exactly, as its reproducers were judged."""
    in_l2 = v.guest_mode and vm.irq_source != "legacy"
    return (in_l2 or not (v.gif or vm.vgif)) and window_outstanding(vm, v)


def others_str(vm: VM) -> str:
    return reasons_str(vm.apicv_inhibit_reasons & ~IRQWIN_BIT)


def fold_commits(initial: int, commits: list[tuple[Reason, bool]]) -> int:
    """Non-IRQWIN bits after applying the committed updates in commit order."""
    r = initial & ~IRQWIN_BIT
    for reason, set in commits:
        r = r | bit(reason) if set else r & ~bit(reason)
    return r
