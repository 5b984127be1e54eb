"""broken-no-l2-dec: svm_inject_irq() without final's ``|| is_guest_mode(vcpu)``.

Bug class: a release skipped on one path (the L1 window served in L2).

Changes ``final`` in svm_inject_irq() only. When L1 does not intercept INTR, KVM
injects L1's interrupt straight into L2 (kvm_check_and_inject_events() with
is_guest_mode() true). If another interrupt is still injectable there (in L2 the
LAPIC IRR counts, AVIC being off on the vCPU), the window L1 asked for is served
but not retired: apicv_nr_irq_window_req stays up and IRQWIN keeps AVIC off for
the whole VM although no vCPU waits for a window in L1.

Breaks with one vCPU: ExtINT pending with IF=0, window counted; ``sti_vmrun``
into L2 with L1 not intercepting INTR, a LAPIC interrupt arrives, the ExtINT is
injected into L2 and the counter stays at 1 (counter, stuck inhibit).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd
from difftest.impls.final import Final
from difftest.impls.prepatch import Prepatch
from difftest.model.state import VCpu


class NoL2Dec(Final):
    name = "broken-no-l2-dec"

    def svm_inject_irq(self, vcpu: VCpu, reinjected: bool) -> Kfunc:
        yield rd("kvm_cpu_has_injectable_intr", f"{vcpu.name}.ExtINT")
        # mutation: no "|| is_guest_mode(vcpu)"
        if vcpu.irq_window and not self.kvm_cpu_has_injectable_intr(vcpu):
            vcpu.irq_window = False
            yield from self.kvm_dec_apicv_irq_window_req()
        yield from Prepatch.svm_inject_irq(self, vcpu, reinjected)
