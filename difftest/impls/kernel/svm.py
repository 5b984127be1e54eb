"""arch/x86/kvm/svm/{svm,nested,avic}.c: the parts no IRQ-window version changes.

The window functions themselves (svm_enable_irq_window, svm_set_vintr,
svm_clear_vintr, interrupt_window_interception, svm_inject_irq) are version
specific and start in ``difftest/impls/prepatch.py``.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.model.state import KVM_REQ_APICV_UPDATE, KVM_REQ_EVENT, VCpu


class Svm:
    def svm_interrupt_blocked(self, vcpu: VCpu) -> bool:
        """In L2 with V_INTR_MASKING, L1's RFLAGS.IF (vmcb01) decides; GIF and the
        interrupt shadow are not modelled here."""
        return not vcpu.guest_if

    def svm_interrupt_allowed(self, vcpu: VCpu) -> int:
        """1: inject now; 0: blocked, open a window; -1 (-EBUSY): an IRQ that must
        VM-exit to L1 is not injected into L2."""
        if self.svm_interrupt_blocked(vcpu):
            return 0
        if vcpu.guest_mode and vcpu.intercept_intr:
            return -1
        return 1

    def kvm_check_nested_events(self, vcpu: VCpu) -> Kfunc:
        """svm_check_nested_events(), its INTR part: an L1 interrupt while L2 runs
        is a nested #VMEXIT(INTR) when L1 intercepts INTR, else it is injected into
        L2 by kvm_check_and_inject_events(). (nested_run_pending cannot be set
        here: the model's VMRUN completes within one entry.)"""
        yield rd("kvm_cpu_has_interrupt", f"{vcpu.name}.ExtINT")
        if self.kvm_cpu_has_interrupt(vcpu) and not self.svm_interrupt_blocked(vcpu):
            if not vcpu.intercept_intr:
                return 0
            yield from self.nested_svm_vmexit(vcpu)  # nested_svm_simple_vmexit(SVM_EXIT_INTR)
        return 0

    def svm_cancel_injection(self, vcpu: VCpu) -> Kfunc:
        """The entry was cancelled: EVENTINJ moves to EXITINTINFO and is requeued."""
        yield wr("exit_int_info = event_inj; event_inj = 0", f"{vcpu.name}.vmcb")
        yield from self.svm_complete_interrupts(vcpu)

    def svm_complete_interrupts(self, vcpu: VCpu) -> Kfunc:
        """kvm_clear_interrupt_queue(); if EXITINTINFO is valid, KVM_REQ_EVENT and
        kvm_queue_interrupt(): the next entry re-injects with reinjected=true."""
        valid = vcpu.injected
        vcpu.injected = False
        if not valid:
            return
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        vcpu.injected = True

    def svm_set_gif(self, vcpu: VCpu, value: bool) -> Kfunc:
        """Only the GIF=1 path is reached in the model (VMRUN, STGI)."""
        assert value
        if vcpu.vintr_intercept:
            yield from self.svm_clear_vintr(vcpu)
        yield rd("kvm_cpu_has_injectable_intr", f"{vcpu.name}.ExtINT")
        if self.kvm_cpu_has_injectable_intr(vcpu):
            yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)

    def nested_svm_vmrun(self, vcpu: VCpu) -> Kfunc:
        yield from self.enter_svm_guest_mode(vcpu)
        return False

    def enter_svm_guest_mode(self, vcpu: VCpu) -> Kfunc:
        yield wr("enter_svm_guest_mode: switch to vmcb02", f"{vcpu.name}.vmcb")
        vcpu.guest_mode = True
        yield from self.svm_set_gif(vcpu, True)
        if vcpu.apicv_active:
            yield from self.kvm_make_request(KVM_REQ_APICV_UPDATE, vcpu)

    def nested_svm_vmexit(self, vcpu: VCpu) -> Kfunc:
        yield wr("nested_svm_vmexit: switch to vmcb01", f"{vcpu.name}.vmcb")
        vcpu.guest_mode = False
        # "Un-inhibit the AVIC right away, so that other vCPUs can start to benefit"
        yield rd("kvm_apicv_activated", "kvm.apicv_inhibit_reasons")
        if self.kvm_apicv_activated():
            yield from self._kvm_vcpu_update_apicv(vcpu)
        # #VMEXIT clears GIF; L1's STGI sets it again.
        yield from self.svm_set_gif(vcpu, True)
        return False

    def svm_handle_vintr(self, vcpu: VCpu) -> Kfunc:
        yield from self.interrupt_window_interception(vcpu)
        return False

    def svm_handle_npf(self, vcpu: VCpu) -> Kfunc:
        return (yield from self.kvm_mmu_page_fault(vcpu))


# svm_exit_handlers[], by the exit reasons the hardware model produces.
SVM_EXIT_HANDLERS = {
    "vintr": "svm_handle_vintr",
    "npf": "svm_handle_npf",
    "vmrun": "nested_svm_vmrun",
    "vmexit": "nested_svm_vmexit",
}
