"""prepatch: KVM v6.13-v6.19, before the IRQ-window fixes.

These are the functions the seed and final patches change, as they stand in
v6.13; everything else is the shared ``Kernel``. One VM-wide IRQWIN bit serves
every vCPU: ``svm_enable_irq_window`` sets it (write lock, every time) and the
first VINTR exit of any vCPU clears it (write lock again).

Known bugs, both real:
(a) two vCPUs wait for a window; the first VINTR exit clears IRQWIN, AVIC comes
    back while the other vCPU still waits on V_IRQ, which AVIC ignores: its
    window is lost (Sean's 4-step interleaving in the review of Naveen's series);
(b) L1 asks for a window, then enters L2: nested VMRUN clears V_IRQ via
    svm_set_gif(), no VINTR exit ever comes, IRQWIN stays set for good.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.impls.kernel import Kernel, set_or_clear_apicv_inhibit
from difftest.model.state import KVM_REQ_EVENT, Reason, VCpu


class Prepatch(Kernel):
    name = "prepatch"

    # arch/x86/kvm/x86.c

    def _kvm_set_or_clear_apicv_inhibit(self, reason: Reason, set: bool) -> Kfunc:
        vm = self.vm
        if not vm.required & (1 << reason):
            return
        old = new = vm.apicv_inhibit_reasons
        new = set_or_clear_apicv_inhibit(new, reason, set)
        yield from self._apicv_update(old, new)

    # arch/x86/kvm/svm/svm.c

    def svm_set_vintr(self, vcpu: VCpu) -> Kfunc:
        # The following fields are ignored when AVIC is enabled
        yield rd("WARN_ON(kvm_vcpu_apicv_activated)", "kvm.apicv_inhibit_reasons")
        self.WARN_ON(
            self.kvm_vcpu_apicv_activated(vcpu), "svm_set_vintr", "kvm_vcpu_apicv_activated(vcpu)"
        )
        yield wr("set INTERCEPT_VINTR, V_IRQ", f"{vcpu.name}.vmcb")
        vcpu.vintr_intercept = True
        # Recalculating intercepts may have cleared the VINTR intercept.
        if not self.svm_is_intercept_vintr(vcpu):
            return
        vcpu.v_irq = True

    @staticmethod
    def svm_is_intercept_vintr(vcpu: VCpu) -> bool:
        """svm_is_intercept(svm, INTERCEPT_VINTR) after svm_set_intercept():
        recalc_intercepts() drops it in L2 when vmcb12 has V_INTR_MASKING (the
        model's L1 always sets it) and L1's RFLAGS.IF is 0: L1 interrupts stay
        blocked while L2 runs."""
        if vcpu.guest_mode and not vcpu.guest_if:
            vcpu.vintr_intercept = False
        return vcpu.vintr_intercept

    def svm_clear_vintr(self, vcpu: VCpu) -> Kfunc:
        yield wr("clear INTERCEPT_VINTR, V_IRQ", f"{vcpu.name}.vmcb")
        vcpu.vintr_intercept = vcpu.v_irq = False

    def interrupt_window_interception(self, vcpu: VCpu) -> Kfunc:
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from self.svm_clear_vintr(vcpu)
        # If not running nested, for AVIC, the only reason to end up here is
        # ExtINTs; if running nested, still remove the VM wide AVIC inhibit.
        yield from self.kvm_clear_apicv_inhibit(Reason.IRQWIN)

    def svm_enable_irq_window(self, vcpu: VCpu) -> Kfunc:
        # With GIF=0 and no vGIF, the STGI intercept is the window.
        if self.vm.vgif or vcpu.gif:
            if not vcpu.guest_mode:
                yield from self.kvm_set_apicv_inhibit(Reason.IRQWIN)
            yield from self.svm_set_vintr(vcpu)

    def svm_inject_irq(self, vcpu: VCpu, reinjected: bool) -> Kfunc:
        yield wr("EVENTINJ = vector | SVM_EVTINJ_VALID", f"{vcpu.name}.vmcb")
