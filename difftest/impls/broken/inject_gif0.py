"""broken-inject-gif0: svm_interrupt_blocked() ignores GIF.

Bug class: an injection that ignores one of the guest's blocking conditions.

Changes ``final`` in svm_interrupt_blocked() only (its ``if (!gif_set(svm))
return true`` is dropped): KVM injects an interrupt through EVENTINJ while L1
runs with GIF=0, between its CLGI (or a #VMEXIT) and its STGI, which the
architecture forbids. Caught at delivery (blocked-injection).
"""

from __future__ import annotations

from difftest.impls.final import Final
from difftest.model.state import VCpu


class InjectGif0(Final):
    name = "broken-inject-gif0"

    def svm_interrupt_blocked(self, vcpu: VCpu) -> bool:
        # mutation: no "if (!gif_set(svm)) return true"
        return not vcpu.guest_if
