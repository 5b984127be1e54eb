"""arch/x86/kvm/vmx/vmx.c, only as far as the inhibit logic sees it.

On Intel, interrupt-window exiting works with APICv active, so no IRQ-window
inhibit exists (IRQWIN, PIT_REINJ and NESTED are outside VMX's required mask) and
nested VMX is not modelled: ``vmrun``/``vmexit`` are plain guest actions there.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.model.state import KVM_REQ_EVENT, VCpu


class Vmx:
    def vmx_interrupt_allowed(self, vcpu: VCpu) -> bool:
        return vcpu.guest_if

    def vmx_apic_init_signal_blocked(self, vcpu: VCpu) -> bool:
        """INIT is blocked in VMX root mode only (nested.vmxon && !is_guest_mode),
        which the model never enters."""
        return False

    def vmx_vcpu_reset(self, vcpu: VCpu, init_event: bool) -> Kfunc:
        """The interrupt-window control is left as it is (no inhibit depends on it)."""
        yield wr("vmcs_write32(VM_ENTRY_INTR_INFO_FIELD, 0)", f"{vcpu.name}.vmcb")

    def vmx_leave_nested(self, vcpu: VCpu) -> Kfunc:
        """Nested VMX is not modelled: a vCPU is never in L2 on VMX."""
        yield from ()

    def vmx_cancel_injection(self, vcpu: VCpu) -> Kfunc:
        """vmx_cancel_injection() -> __vmx_complete_interrupts(): requeue + KVM_REQ_EVENT."""
        yield wr("vmcs_write32(VM_ENTRY_INTR_INFO_FIELD, 0)", f"{vcpu.name}.vmcb")
        if vcpu.injected:
            yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)

    def vmx_enable_irq_window(self, vcpu: VCpu) -> Kfunc:
        yield wr("exec_controls_setbit(INTR_WINDOW_EXITING)", f"{vcpu.name}.vmcb")
        vcpu.v_irq = vcpu.vintr_intercept = True

    def vmx_inject_irq(self, vcpu: VCpu, reinjected: bool) -> Kfunc:
        yield wr("vmcs_write32(VM_ENTRY_INTR_INFO_FIELD)", f"{vcpu.name}.vmcb")

    def handle_interrupt_window(self, vcpu: VCpu) -> Kfunc:
        yield wr("exec_controls_clearbit(INTR_WINDOW_EXITING)", f"{vcpu.name}.vmcb")
        vcpu.v_irq = vcpu.vintr_intercept = False
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        return False


VMX_EXIT_HANDLERS = {
    "vintr": "handle_interrupt_window",
    "npf": "svm_handle_npf",
    "x2apic": "kvm_emulate_wrmsr_apic_base",
    "tpr_below_threshold": "handle_tpr_below_threshold",
}
