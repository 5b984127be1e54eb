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
from difftest.model.state import IRQWIN_BIT, KVM_REQ_EVENT, MpState, Reason, VCpu
from difftest.oracle import spec


class Reference(Prepatch):
    name = "reference"

    def spec_apply(self) -> None:
        vm = self.vm
        vm.apicv_inhibit_reasons = spec.expected_bitmap(vm, vm.apicv_inhibit_reasons & ~IRQWIN_BIT)
        for v in vm.vcpus:
            v.apicv_active = spec.vcpu_should_be_active(vm, v)
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
        if self.vm.vgif or vcpu.gif:  # else STGI's intercept is the window
            vcpu.vintr_intercept = True
            vcpu.v_irq = not self.svm_vintr_recalc_cleared(vcpu)

    def svm_inject_irq(self, vcpu: VCpu, reinjected: bool) -> Kfunc:
        yield wr("inject ExtINT", "kvm.apicv_inhibit_reasons")
        self.spec_apply()  # the caller retired the window

    def interrupt_window_interception(self, vcpu: VCpu) -> Kfunc:
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from self.svm_clear_vintr(vcpu)

    def enter_svm_guest_mode(self, vcpu: VCpu) -> Kfunc:
        yield wr("enter L2", "kvm.apicv_inhibit_reasons")
        vcpu.guest_mode = True
        self.spec_apply()
        yield from self.svm_set_gif(vcpu, True)

    def nested_svm_vmexit(self, vcpu: VCpu) -> Kfunc:
        yield wr("exit to L1", "kvm.apicv_inhibit_reasons")
        vcpu.guest_mode = False
        self.spec_apply()
        yield from self.svm_set_gif(vcpu, False)
        return False

    def svm_set_gif(self, vcpu: VCpu, value: bool) -> Kfunc:
        yield from super().svm_set_gif(vcpu, value)
        yield wr("GIF changed", "kvm.apicv_inhibit_reasons")
        self.spec_apply()  # without vGIF, GIF=0 turns the window into the STGI intercept

    def kvm_vcpu_reset(self, vcpu: VCpu, init_event: bool) -> Kfunc:
        yield from super().kvm_vcpu_reset(vcpu, init_event)
        yield wr("reset", "kvm.apicv_inhibit_reasons")
        self.spec_apply()  # no window is outstanding on a reset vCPU

    def kvm_arch_vcpu_ioctl_set_mpstate(self, vcpu: VCpu, mp_state: MpState) -> Kfunc:
        yield from super().kvm_arch_vcpu_ioctl_set_mpstate(vcpu, mp_state)
        self.spec_apply()

    def kvm_mmu_page_fault(self, vcpu: VCpu) -> Kfunc:
        yield wr("APIC page fault", "kvm.apic_spte")
        if not self.kvm_apicv_activated():
            return True
        self.vm.apic_spte = True
        return False
