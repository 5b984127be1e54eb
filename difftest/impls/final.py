"""final: "KVM: SVM: Fix IRQ window inhibit handling" v2 (2026), as merged.

kvm-x86 commits 7b402ec851cb, 6563ddadd169, 5617dddcfa30 (and fa78a514d632, a
cacheline move the model does not see). Against v6.13:
- the counter ``apicv_nr_irq_window_req`` is incremented in
  svm_enable_irq_window() (once per vCPU, guarded by ``avic_irq_window``, not
  in L2) and decremented in svm_inject_irq() when no other interrupt is
  injectable or L2 is active;
- kvm_inc_or_dec_irq_window_inhibit(): a lockless peek for another reason, then
  read lock + re-check + atomic_add; otherwise write lock, atomic_add_return and
  the locked body on a 0<->1 transition;
- the locked body recomputes IRQWIN from the counter (as in the seed);
- interrupt_window_interception() no longer touches the inhibit;
- svm_set_vintr() keeps its WARN.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.engine.sync import (
    atomic_add,
    atomic_add_return,
    down_read,
    down_write,
    up_read,
    up_write,
)
from difftest.impls.prepatch import Prepatch
from difftest.impls.seed import Seed
from difftest.model.state import IRQWIN_BIT, KVM_REQ_EVENT, Reason, VCpu


class Final(Prepatch):
    name = "final"
    has_counter = True
    lazy_irqwin = True

    # arch/x86/kvm/x86.c

    # Unchanged from the seed: IRQWIN recomputed from the counter on every change.
    _kvm_set_or_clear_apicv_inhibit = Seed._kvm_set_or_clear_apicv_inhibit

    def kvm_inc_or_dec_irq_window_inhibit(self, inc: bool) -> Kfunc:
        vm = self.vm
        add = 1 if inc else -1
        if not vm.enable_apicv:
            return
        yield rd("READ_ONCE(apicv_inhibit_reasons) & ~IRQWIN", "kvm.apicv_inhibit_reasons")
        if vm.apicv_inhibit_reasons & ~IRQWIN_BIT:
            yield from down_read(vm.apicv_update_lock)  # guard(rwsem_read)
            yield rd("READ_ONCE(apicv_inhibit_reasons) & ~IRQWIN", "kvm.apicv_inhibit_reasons")
            if vm.apicv_inhibit_reasons & ~IRQWIN_BIT:
                yield wr("atomic_add(&apicv_nr_irq_window_req)", "kvm.irq_window_count")
                atomic_add(add, vm.apicv_nr_irq_window_req)
                yield from up_read(vm.apicv_update_lock)
                return
            yield from up_read(vm.apicv_update_lock)
        yield from down_write(vm.apicv_update_lock, self.current)  # guard(rwsem_write)
        yield wr("atomic_add_return(&apicv_nr_irq_window_req)", "kvm.irq_window_count")
        if atomic_add_return(add, vm.apicv_nr_irq_window_req) == int(inc):
            yield from self._kvm_set_or_clear_apicv_inhibit(Reason.IRQWIN, inc)
        yield from up_write(vm.apicv_update_lock)

    def kvm_inc_apicv_irq_window_req(self) -> Kfunc:
        return self.kvm_inc_or_dec_irq_window_inhibit(True)

    def kvm_dec_apicv_irq_window_req(self) -> Kfunc:
        return self.kvm_inc_or_dec_irq_window_inhibit(False)

    # arch/x86/kvm/svm/svm.c

    def interrupt_window_interception(self, vcpu: VCpu) -> Kfunc:
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from self.svm_clear_vintr(vcpu)

    def svm_enable_irq_window(self, vcpu: VCpu) -> Kfunc:
        if self.vm.vgif or vcpu.gif:
            if self.vm.enable_apicv and not vcpu.irq_window and not vcpu.guest_mode:
                vcpu.irq_window = True
                yield from self.kvm_inc_apicv_irq_window_req()
            yield from self.svm_set_vintr(vcpu)

    def svm_inject_irq(self, vcpu: VCpu, reinjected: bool) -> Kfunc:
        # If AVIC was inhibited to detect an IRQ window and no other interrupt is
        # injectable (or L2 is active), the window has served its purpose.
        yield rd("kvm_cpu_has_injectable_intr", f"{vcpu.name}.ExtINT")
        if vcpu.irq_window and (not self.kvm_cpu_has_injectable_intr(vcpu) or vcpu.guest_mode):
            vcpu.irq_window = False
            yield from self.kvm_dec_apicv_irq_window_req()
        yield from super().svm_inject_irq(vcpu, reinjected)
