"""broken-vintr-before-inhibit: svm_enable_irq_window() arms V_IRQ before it
counts the window (and so before AVIC is inhibited).

Bug class: hardware armed before the state that makes it work is in place.

Changes ``final`` in svm_enable_irq_window() only: svm_set_vintr() runs first,
kvm_inc_apicv_irq_window_req() second. AVIC ignores V_IRQ, so the kernel
inhibits first and only then sets V_IRQ, and svm_set_vintr() WARNs if APICv is
still activated for the vCPU (kept by the merged patch; relaxed to "activated",
not "active", by "KVM: SVM: svm_set_vintr don't warn if AVIC is active but is
about to be deactivated").

Breaks with one vCPU: an ExtINT with IF=0 and no other inhibit; the window is
requested and svm_set_vintr() runs with APICv still activated (WARN in
svm_set_vintr).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc
from difftest.impls.final import Final
from difftest.model.state import VCpu


class VintrBeforeInhibit(Final):
    name = "broken-vintr-before-inhibit"

    def svm_enable_irq_window(self, vcpu: VCpu) -> Kfunc:
        if self.vm.vgif or vcpu.gif:
            # mutation: svm_set_vintr() moved ahead of the increment
            yield from self.svm_set_vintr(vcpu)
            if self.vm.enable_apicv and not vcpu.irq_window and not vcpu.guest_mode:
                vcpu.irq_window = True
                yield from self.kvm_inc_apicv_irq_window_req()
