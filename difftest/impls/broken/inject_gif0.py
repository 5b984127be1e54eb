"""broken-inject-gif0: svm_interrupt_allowed() ignores GIF.

Bug class: an injection that ignores one of the guest's blocking conditions.

Changes ``final`` in svm_interrupt_allowed() only (svm_interrupt_blocked()'s
``if (!gif_set(svm)) return true`` is dropped): KVM injects an ExtINT through
EVENTINJ while L1 runs with GIF=0, between its CLGI (or a #VMEXIT) and its STGI,
which the architecture forbids. Caught at delivery (blocked-injection).
"""

from __future__ import annotations

from difftest.impls.final import Final
from difftest.model.state import VCpu


class InjectGif0(Final):
    name = "broken-inject-gif0"

    def svm_interrupt_allowed(self, vcpu: VCpu) -> bool:
        return not vcpu.guest_mode and vcpu.guest_if  # mutation: no vcpu.gif
