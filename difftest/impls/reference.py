"""reference: the specification as an implementation.

Every inhibit change is one atomic, eager step: the bitmap becomes the non-IRQWIN
reasons plus IRQWIN iff some vCPU waits for an L1 IRQ window, every vCPU's
apicv_active follows at once, and the APIC-page SPTE is gone while anything
inhibits. The APIC fault is atomic too. No request, kick or counter is needed.
It runs on the same hardware model and under the same oracle as the kernel
versions, and must never produce a finding: it is the oracle's own sanity check.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.impls.prepatch import Prepatch
from difftest.model.state import IRQWIN_BIT, KVM_REQ_EVENT, Reason, VCpu
from difftest.oracle import spec


class Reference(Prepatch):
    name = "reference"

    def spec_apply(self) -> None:
        vm = self.vm
        vm.apicv_inhibit_reasons = spec.expected_bitmap(vm, vm.apicv_inhibit_reasons & ~IRQWIN_BIT)
        for v in vm.vcpus:
            active = spec.vcpu_should_be_active(vm, v)
            if v.apicv_active and not active and vm.irq_source != "legacy":
                v.requests |= KVM_REQ_EVENT  # pending IRR interrupts are KVM's now
            v.apicv_active = active
        if vm.apicv_inhibit_reasons:
            vm.apic_spte = False

    def _kvm_set_or_clear_apicv_inhibit(self, reason: Reason, set: bool) -> Kfunc:
        vm = self.vm
        yield wr(f"{'set' if set else 'clear'} {reason.name}", "kvm.apicv_inhibit_reasons")
        if vm.required & (1 << reason) and reason != Reason.IRQWIN:
            self.ghost_commit(reason, set)
            bit = 1 << reason
            vm.apicv_inhibit_reasons = (
                vm.apicv_inhibit_reasons | bit if set else vm.apicv_inhibit_reasons & ~bit
            )
        self.spec_apply()

    def svm_enable_irq_window(self, vcpu: VCpu) -> Kfunc:
        yield wr("request IRQ window", "kvm.apicv_inhibit_reasons")
        self.spec_apply()  # the caller marked the window outstanding
        vcpu.vintr_intercept = vcpu.v_irq = True

    def svm_inject_irq(self, vcpu: VCpu, reinjected: bool) -> Kfunc:
        yield wr("inject ExtINT", "kvm.apicv_inhibit_reasons")
        self.spec_apply()  # the caller retired the window

    def pic_update_irq(self) -> None:
        super().pic_update_irq()
        self.spec_apply()  # a masked or acked PIC line withdraws its windows at once

    def interrupt_window_interception(self, vcpu: VCpu) -> Kfunc:
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from self.svm_clear_vintr(vcpu)
        if self.vm.irq_source != "legacy":
            self.spec_apply()  # a window whose interrupt went away closes here

    def enter_svm_guest_mode(self, vcpu: VCpu) -> Kfunc:
        yield wr("enter L2", "kvm.apicv_inhibit_reasons")
        vcpu.guest_mode = True
        self.spec_apply()
        yield from self.svm_set_gif(vcpu, True)

    def nested_svm_vmexit(self, vcpu: VCpu) -> Kfunc:
        yield wr("exit to L1", "kvm.apicv_inhibit_reasons")
        vcpu.guest_mode = False
        self.spec_apply()
        yield from self.svm_set_gif(vcpu, True)
        return False

    def kvm_mmu_page_fault(self, vcpu: VCpu) -> Kfunc:
        yield wr("APIC page fault", "kvm.apic_spte")
        if not self.kvm_apicv_activated():
            return True
        self.vm.apic_spte = True
        return False
