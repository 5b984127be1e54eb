"""reference: the specification as an implementation.

Every inhibit change is one atomic, eager step: the bitmap becomes the non-IRQWIN
reasons plus IRQWIN iff some vCPU waits for an L1 IRQ window, every vCPU's
apicv_active follows at once, and the APIC-page SPTE is gone while anything
inhibits. The APIC fault is atomic too. No request, kick or counter is needed.
It runs on the same hardware model and under the same oracle as the kernel
versions, and must never produce a finding: it is the oracle's own sanity check.

It keeps its own record of the waiting vCPUs (``waiting``): KVM asked the vendor
for an IRQ window and has not injected an interrupt since. The oracle derives the
same set independently, from the calls it observes.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.impls.kernel import set_or_clear_apicv_inhibit
from difftest.impls.prepatch import Prepatch
from difftest.model.scenario import Scenario
from difftest.model.state import IRQWIN_BIT, KVM_REQ_EVENT, MEMSLOT_VALID, MpState, Reason, VCpu
from difftest.oracle import spec


class Reference(Prepatch):
    name = "reference"

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.waiting = [False] * len(self.vm.vcpus)

    def spec_apply(self) -> None:
        vm = self.vm
        others = vm.apicv_inhibit_reasons & ~IRQWIN_BIT
        # A window awaits something only while its interrupt is still there
        # (spec.pending_for_l1: not acked by another vCPU, masked, or taken).
        # A vCPU in wait-for-SIPI waits for nothing.
        irqwin = spec.irqwin_applies(vm) and any(
            w and spec.pending_for_l1(vm, v) and v.mp_state == MpState.RUNNABLE
            for w, v in zip(self.waiting, vm.vcpus, strict=True)
        )
        vm.apicv_inhibit_reasons = others | (IRQWIN_BIT if irqwin else 0)
        for v in vm.vcpus:
            active = spec.vcpu_should_be_active(vm, v)
            if v.apicv_active and not active and vm.irq_source != "legacy":
                v.requests |= KVM_REQ_EVENT  # pending IRR interrupts are KVM's now
            if v.apicv_active != active:
                v.apicv_active = active
                self.refresh_apicv_exec_ctrl(v)  # the VMCB follows (CR8 intercept)
        if vm.apicv_inhibit_reasons:
            vm.apic_spte = False

    def _kvm_set_or_clear_apicv_inhibit(self, reason: Reason, set: bool) -> Kfunc:
        vm = self.vm
        yield wr(f"{'set' if set else 'clear'} {reason.name}", "kvm.apicv_inhibit_reasons")
        if vm.required & (1 << reason) and reason != Reason.IRQWIN:
            vm.apicv_inhibit_reasons = set_or_clear_apicv_inhibit(
                vm.apicv_inhibit_reasons, reason, set
            )
        self.spec_apply()

    def svm_enable_irq_window(self, vcpu: VCpu) -> Kfunc:
        # A window requested in L2 is L2's; only L1's windows are awaited.
        self.waiting[vcpu.id] = self.waiting[vcpu.id] or not vcpu.guest_mode
        yield wr("request IRQ window", "kvm.apicv_inhibit_reasons")
        self.spec_apply()
        if self.vm.vgif or vcpu.gif:  # else STGI's intercept is the window
            vcpu.vintr_intercept = True
            vcpu.v_irq = self.svm_is_intercept_vintr(vcpu)

    def svm_inject_irq(self, vcpu: VCpu, reinjected: bool) -> Kfunc:
        if not reinjected:
            self.waiting[vcpu.id] = False
        yield wr("inject ExtINT", "kvm.apicv_inhibit_reasons")
        self.spec_apply()

    def pic_update_irq(self) -> None:
        super().pic_update_irq()
        self.spec_apply()  # a masked or acked PIC line withdraws its windows at once

    def _deliver(self, vcpu: VCpu) -> None:
        xen = vcpu.interrupt_nr == "xen"
        super()._deliver(vcpu)
        if xen:
            self.spec_apply()  # the guest's handler took the upcall: its windows close

    def kvm_set_cr8(self, vcpu: VCpu, high: bool) -> Kfunc:
        changed = vcpu.tpr_high != high
        yield from super().kvm_set_cr8(vcpu, high)
        if changed:
            self.spec_apply()  # a TPR that masks the LAPIC vector withdraws its window

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
        if self.vm.irq_source == "legacy":
            yield from self.svm_set_gif(vcpu, True)
            return False
        if not vcpu.intercept_intr:  # as the kernel: L1's window is re-requested
            yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from self.svm_set_gif(vcpu, False)
        return False

    def kvm_apic_accept_events(self, vcpu: VCpu) -> Kfunc:
        pending = self.kvm_apic_has_pending_init_or_sipi(vcpu)
        yield from super().kvm_apic_accept_events(vcpu)
        if pending:
            self.spec_apply()  # INIT: into wait-for-SIPI, LVT0 masked; SIPI: runnable

    def kvm_arch_vcpu_ioctl_set_mpstate(self, vcpu: VCpu, mp_state: MpState) -> Kfunc:
        yield from super().kvm_arch_vcpu_ioctl_set_mpstate(vcpu, mp_state)
        self.spec_apply()

    def kvm_mmu_page_fault(self, vcpu: VCpu) -> Kfunc:
        yield wr("APIC page fault", "kvm.apic_spte")
        if self.vm.apic_memslot != MEMSLOT_VALID or not self.kvm_apicv_activated():
            return True
        self.vm.apic_spte = True
        return False
