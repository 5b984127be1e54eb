"""broken-cancel-no-requeue: a cancelled entry drops the event it had injected.

Bug class: an acknowledged event dropped on an error path.

Changes svm_cancel_injection() only: EVENTINJ is cleared and
svm_complete_interrupts() is skipped, so the interrupt KVM already acknowledged
(PIC or LAPIC ISR set, ExtINT taken from its source) is neither requeued nor
re-evaluated (no KVM_REQ_EVENT).

Breaks when a request (an APICv update, a kick) arrives between the injection
and VMRUN: kvm_vcpu_exit_request() cancels the entry and the interrupt is gone
(lost interrupt).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.impls.final import Final
from difftest.model.state import VCpu


class CancelNoRequeue(Final):
    name = "broken-cancel-no-requeue"

    def svm_cancel_injection(self, vcpu: VCpu) -> Kfunc:
        yield wr("event_inj = 0", f"{vcpu.name}.vmcb")
        vcpu.injected = False  # mutation: no svm_complete_interrupts()
