"""broken-zap-before-store: the APIC-page SPTE is zapped before the inhibit is stored.

Bug class: invalidate-before-publish (a cache flushed before the state that
forbids refilling it is visible, so a concurrent fill re-creates it).

Changes ``final`` in the tail of __kvm_set_or_clear_apicv_inhibit() only (the
model's ``_apicv_update``): kvm_zap_gfn_range() on the APIC gfn runs before
apicv_inhibit_reasons is written. The kernel stores first and zaps second
("KVM: x86: don't disable APICv memslot when inhibited", 36222b117e36, which
replaced the memslot toggle by this zap): a fault that starts after the zap must
already see APICv deactivated in kvm_mmu_faultin_pfn().

Breaks with: vCPU A faults on the APIC page after the zap (so its
mmu_invalidate_seq snapshot is already the new one) but before the store; it
sees kvm_apicv_activated() and installs the SPTE. B then deactivates APICv as
the request asks and accesses the APIC page through that SPTE (missed APIC-page
intercept).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.impls.final import Final
from difftest.model.state import KVM_REQ_APICV_UPDATE


class ZapBeforeStore(Final):
    name = "broken-zap-before-store"

    def _apicv_update(self, old: int, new: int) -> Kfunc:
        vm = self.vm
        if bool(old) != bool(new):
            yield from self.kvm_make_all_cpus_request(KVM_REQ_APICV_UPDATE)
            if new:
                # mutation: zap before the store instead of after it
                yield from self.kvm_zap_gfn_range()
            yield wr("store apicv_inhibit_reasons", "kvm.apicv_inhibit_reasons")
            vm.apicv_inhibit_reasons = new
        else:
            yield wr("store apicv_inhibit_reasons", "kvm.apicv_inhibit_reasons")
            vm.apicv_inhibit_reasons = new
