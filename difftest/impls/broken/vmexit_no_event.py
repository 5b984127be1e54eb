"""broken-vmexit-no-event: nested_svm_vmexit() does not re-request L1's window.

Bug class: a world switch that forgets to re-evaluate pending events.

Changes ``final`` in nested_svm_vmexit() only: the ``if (!nested_exit_on_intr(svm))
kvm_make_request(KVM_REQ_EVENT)`` is dropped. When L1 does not intercept INTR,
KVM detects L1's interrupt windows through vmcb02 while L2 runs; after the
#VMEXIT nothing re-requests the window in vmcb01, and an L1 interrupt that was
waiting for L1 to enable interrupts is never delivered: lost window.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.impls.final import Final
from difftest.model.state import VCpu


class VmexitNoEvent(Final):
    name = "broken-vmexit-no-event"

    def nested_svm_vmexit(self, vcpu: VCpu) -> Kfunc:
        if self.vm.irq_source == "legacy":
            return (yield from super().nested_svm_vmexit(vcpu))
        yield wr("nested_svm_vmexit: switch to vmcb01", f"{vcpu.name}.vmcb")
        vcpu.guest_mode = False
        # mutation: no "if (!nested_exit_on_intr(svm)) kvm_make_request(KVM_REQ_EVENT)"
        yield from self.svm_set_gif(vcpu, False)
        yield rd("kvm_apicv_activated", "kvm.apicv_inhibit_reasons")
        if self.kvm_apicv_activated():
            yield from self._kvm_vcpu_update_apicv(vcpu)
        return False
