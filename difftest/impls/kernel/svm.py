"""arch/x86/kvm/svm/{svm,nested,avic}.c: the parts no IRQ-window version changes.

The window functions themselves (svm_enable_irq_window, svm_set_vintr,
svm_clear_vintr, interrupt_window_interception, svm_inject_irq) are version
specific and start in ``difftest/impls/prepatch.py``.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.model.state import KVM_REQ_APICV_UPDATE, KVM_REQ_EVENT, VCpu


class Svm:
    def svm_interrupt_allowed(self, vcpu: VCpu) -> bool:
        """GIF is always set in the model; L1 interrupts are not taken in L2."""
        return not vcpu.guest_mode and vcpu.guest_if

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
