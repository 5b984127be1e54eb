"""broken-zap-no-seq: the APIC-page zap does not bump mmu_invalidate_seq.

Changes ``final`` in kvm_mmu_invalidate_end() only. A fault that snapshotted the
sequence and saw APICv activated, then lost the race to an inhibit's zap, no
longer notices it is stale: it installs the SPTE after the zap. The inhibited
vCPU then accesses the APIC page through it (missed APIC-page intercept).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.impls.final import Final


class ZapNoSeq(Final):
    name = "broken-zap-no-seq"

    def kvm_mmu_invalidate_end(self) -> Kfunc:
        yield wr("in_progress-- (no mmu_invalidate_seq++)", "kvm.mmu_invalidate")
        self.vm.mmu_invalidate_in_progress -= 1
