"""broken-irqwin-from-set: the locked body takes IRQWIN from the ``set``
argument, as v6.13 does, instead of recomputing it from the counter.

Changes ``final`` in __kvm_set_or_clear_apicv_inhibit() only. The lazy fast path
then loses windows: with PIT_REINJ set, vCPU A's increment only bumps the counter
(IRQWIN stays clear, correctly lazy); when userspace clears PIT_REINJ the bitmap
goes to 0 although A still waits, APICv is re-activated on A, AVIC ignores A's
V_IRQ and A's ExtINT is never delivered (lost IRQ window).
"""

from __future__ import annotations

from difftest.impls.final import Final
from difftest.impls.prepatch import Prepatch


class IrqwinFromSet(Final):
    name = "broken-irqwin-from-set"

    _kvm_set_or_clear_apicv_inhibit = Prepatch._kvm_set_or_clear_apicv_inhibit
