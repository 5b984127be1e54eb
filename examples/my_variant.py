"""A plugin: final, but the IRQ-window decrement forgets the per-vCPU flag.

difftest check --impl examples/my_variant.py:NoFlagClear --runs 500
"""

from difftest.engine.points import rd
from difftest.impls.final import Final
from difftest.impls.prepatch import Prepatch


class NoFlagClear(Final):
    name = "no-flag-clear"

    def svm_inject_irq(self, vcpu, reinjected):
        yield rd("kvm_cpu_has_injectable_intr", f"{vcpu.name}.ExtINT")
        if vcpu.irq_window and not self.kvm_cpu_has_injectable_intr(vcpu):
            # bug: avic_irq_window stays true, so the next window is not counted
            yield from self.kvm_dec_apicv_irq_window_req()
        yield from Prepatch.svm_inject_irq(self, vcpu, reinjected)
