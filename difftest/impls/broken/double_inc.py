"""broken-double-inc: svm_enable_irq_window() counts a window every time it runs,
not once per vCPU.

Bug class: a counter incremented twice for one vCPU.

Changes ``final`` in svm_enable_irq_window() only: the ``!svm->avic_irq_window``
guard before kvm_inc_apicv_irq_window_req() is gone. The seed draft had this
bug in svm_set_vintr(); v2 of "KVM: SVM: Fix IRQ window inhibit handling"
guards the increment with the per-vCPU flag.

Breaks with one vCPU and no race: an ExtINT with IF=0 asks for a window (count
0->1, IRQWIN set); the inhibit's KVM_REQ_APICV_UPDATE deactivates APICv, which
raises KVM_REQ_EVENT; the ExtINT still cannot be injected, so the window is asked
for again (1->2). Injection decrements once: the counter stays at 1, IRQWIN is
stuck and AVIC is off for the VM for good (counter, stuck inhibit).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc
from difftest.impls.final import Final
from difftest.model.state import VCpu


class DoubleInc(Final):
    name = "broken-double-inc"

    def svm_enable_irq_window(self, vcpu: VCpu) -> Kfunc:
        if self.vm.vgif or vcpu.gif:
            # mutation: no "!svm->avic_irq_window" test
            if self.vm.enable_apicv and not vcpu.guest_mode:
                vcpu.irq_window = True
                yield from self.kvm_inc_apicv_irq_window_req()
            yield from self.svm_set_vintr(vcpu)
