"""seed: Sean Christopherson's lazy IRQ-window inhibit draft (2025-02-04).

Read beside ../shared/seed/: a VM-wide atomic counter of open windows,
incremented in svm_set_vintr() and decremented in svm_clear_vintr() (outside L2,
guarded by the per-vCPU ``avic_irq_window`` flag), under apicv_update_lock held
for read; the write-locked update runs only on a 0<->1 transition with no other
reason set, and the locked body recomputes IRQWIN from the counter on every
inhibit change. The WARN in svm_set_vintr() is dropped.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.engine.sync import (
    atomic_dec_return,
    atomic_inc_return,
    atomic_read,
    down_read,
    up_read,
)
from difftest.impls.kernel import set_or_clear_apicv_inhibit
from difftest.impls.prepatch import Prepatch
from difftest.model.state import IRQWIN_BIT, KVM_REQ_EVENT, Reason, VCpu


class Seed(Prepatch):
    name = "seed"
    has_counter = True
    lazy_irqwin = True

    # arch/x86/kvm/x86.c

    def _kvm_set_or_clear_apicv_inhibit(self, reason: Reason, set: bool) -> Kfunc:
        vm = self.vm
        if not vm.required & (1 << reason):
            return
        old = new = vm.apicv_inhibit_reasons
        if reason != Reason.IRQWIN:
            new = set_or_clear_apicv_inhibit(new, reason, set)
        new = set_or_clear_apicv_inhibit(new, Reason.IRQWIN, atomic_read(vm.apicv_irq_window) != 0)
        yield from self._apicv_update(old, new)

    def kvm_inc_or_dec_irq_window_inhibit(self, inc: bool) -> Kfunc:
        vm = self.vm
        yield from down_read(vm.apicv_update_lock)
        if inc:
            yield wr("atomic_inc_return(&apicv_irq_window)", "kvm.irq_window_count")
            toggle = atomic_inc_return(vm.apicv_irq_window) == 1
        else:
            yield wr("atomic_dec_return(&apicv_irq_window)", "kvm.irq_window_count")
            toggle = atomic_dec_return(vm.apicv_irq_window) == 0
        yield rd("apicv_inhibit_reasons & ~IRQWIN", "kvm.apicv_inhibit_reasons")
        toggle = toggle and not (vm.apicv_inhibit_reasons & ~IRQWIN_BIT)
        yield from up_read(vm.apicv_update_lock)
        if toggle:
            yield from self.kvm_set_or_clear_apicv_inhibit(Reason.IRQWIN, inc)

    def kvm_inc_apicv_irq_window(self) -> Kfunc:
        return self.kvm_inc_or_dec_irq_window_inhibit(True)

    def kvm_dec_apicv_irq_window(self) -> Kfunc:
        return self.kvm_inc_or_dec_irq_window_inhibit(False)

    # arch/x86/kvm/svm/svm.c

    def svm_set_vintr(self, vcpu: VCpu) -> Kfunc:
        # vIRQ is ignored by hardware AVIC is enabled, and so AVIC must be
        # inhibited to detect the interrupt window.
        if self.vm.enable_apicv and not vcpu.guest_mode:
            vcpu.irq_window = True
            yield from self.kvm_inc_apicv_irq_window()
        yield wr("set INTERCEPT_VINTR, V_IRQ", f"{vcpu.name}.vmcb")
        vcpu.vintr_intercept = True
        if not self.svm_is_intercept_vintr(vcpu):
            return
        vcpu.v_irq = True

    def svm_clear_vintr(self, vcpu: VCpu) -> Kfunc:
        if vcpu.irq_window and not vcpu.guest_mode:
            vcpu.irq_window = False
            yield from self.kvm_dec_apicv_irq_window()
        yield from super().svm_clear_vintr(vcpu)

    def interrupt_window_interception(self, vcpu: VCpu) -> Kfunc:
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from self.svm_clear_vintr(vcpu)

    def svm_enable_irq_window(self, vcpu: VCpu) -> Kfunc:
        if self.vm.vgif or vcpu.gif:
            yield from self.svm_set_vintr(vcpu)
