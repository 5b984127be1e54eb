"""broken-stgi-no-event: svm_set_gif(true) forgets to raise KVM_REQ_EVENT.

Bug class: a wake-up lost on a GIF transition (an event deferred to "when GIF
comes back" is never re-evaluated).

Changes ``final`` in svm_set_gif() only: the svm_has_pending_gif_event() check
and its kvm_make_request(KVM_REQ_EVENT) are dropped. Without vGIF, KVM arms no
V_IRQ window while GIF=0 (the STGI intercept is the window), so an interrupt that
arrives while L1 runs with GIF=0 is never looked at again after STGI: lost window.
Needs vgif=0 and a CLGI or a #VMEXIT before the STGI.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc
from difftest.impls.final import Final
from difftest.model.state import VCpu


class StgiNoEvent(Final):
    name = "broken-stgi-no-event"

    def svm_set_gif(self, vcpu: VCpu, value: bool) -> Kfunc:
        if value:
            if vcpu.vintr_intercept:
                yield from self.svm_clear_vintr(vcpu)
            vcpu.gif = True
            # mutation: no svm_has_pending_gif_event() -> KVM_REQ_EVENT
        else:
            yield from super().svm_set_gif(vcpu, value)
