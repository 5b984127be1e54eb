"""broken-lapic-no-event: a LAPIC interrupt for a vCPU whose AVIC is off is only
put in the IRR.

Bug class: a producer that forgets to notify the consumer.

Changes svm_deliver_interrupt() only: with APICv inactive on the target, the
kernel raises KVM_REQ_EVENT and kicks, so that kvm_check_and_inject_events()
injects the IRR vector (AVIC cannot deliver it). Without that, the interrupt sits
in the IRR while KVM never looks at it.

Breaks whenever AVIC is inhibited (PIT_REINJ, IRQWIN, L2) and a fixed interrupt
arrives for a vCPU that has nothing else pending (lost window at quiescence).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.impls.final import Final
from difftest.model.state import VCpu


class LapicNoEvent(Final):
    name = "broken-lapic-no-event"

    def svm_deliver_interrupt(self, vcpu: VCpu) -> Kfunc:
        yield wr("kvm_lapic_set_irr; smp_mb__after_atomic", f"{vcpu.name}.lapic")
        vcpu.lapic_irr = True
        yield rd("smp_load_acquire(&vcpu->mode); READ_ONCE(apicv_active)", f"{vcpu.name}.mode")
        # mutation: no KVM_REQ_EVENT + kvm_vcpu_kick() when APICv is off
