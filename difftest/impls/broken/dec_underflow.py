"""broken-dec-underflow: svm_inject_irq() decrements without checking that this
vCPU counted a window.

Bug class: a counter that can underflow (a release without a matching acquire).

Changes ``final`` in svm_inject_irq() only: the ``svm->avic_irq_window`` test is
dropped, so every injection with nothing else pending decrements
apicv_nr_irq_window_req. The merged patch pairs the decrement with the per-vCPU
flag set by the increment in svm_enable_irq_window().

Breaks with one vCPU and no race: an ExtINT arrives while IF=1, is injected
directly without any window, and the decrement takes the counter to -1 (counter
underflow at atomic_dec).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd
from difftest.impls.final import Final
from difftest.impls.prepatch import Prepatch
from difftest.model.state import VCpu


class DecUnderflow(Final):
    name = "broken-dec-underflow"

    def svm_inject_irq(self, vcpu: VCpu, reinjected: bool) -> Kfunc:
        yield rd("kvm_cpu_has_injectable_intr", f"{vcpu.name}.ExtINT")
        # mutation: no "svm->avic_irq_window &&"
        if not self.kvm_cpu_has_injectable_intr(vcpu) or vcpu.guest_mode:
            vcpu.irq_window = False
            yield from self.kvm_dec_apicv_irq_window_req()
        yield from Prepatch.svm_inject_irq(self, vcpu, reinjected)
