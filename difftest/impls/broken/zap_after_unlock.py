"""broken-zap-after-unlock: apicv_update_lock is dropped before the zap that the
inhibit decision requires.

Bug class: a lock dropped before the decision taken under it is applied.

Changes ``final`` in the tail of __kvm_set_or_clear_apicv_inhibit() only (the
model's ``_apicv_update``): after storing an inhibiting bitmap it releases the
write lock, zaps the APIC page, and takes the lock back for its caller. In the
kernel the zap runs under the write lock, which is what makes the kicked vCPUs
wait: they service KVM_REQ_APICV_UPDATE under the read lock, so none can
deactivate APICv and re-enter before the SPTE is gone (the argument spelled out
in "KVM: x86/mmu: Use vCPU's APICv status when handling APIC_ACCESS memslot",
and the race "KVM: x86: APICv: fix race in kvm_request_apicv_update on SVM"
(b0a1637f64b0) closed for the memslot toggle that preceded the zap).

Breaks with: the APIC page is mapped; an inhibit update stores the bitmap and
drops the lock; vCPU A takes the read lock, deactivates APICv, enters and
accesses the APIC page through the SPTE that is not yet zapped (missed
APIC-page intercept).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.engine.sync import down_write, up_write
from difftest.impls.final import Final
from difftest.model.state import KVM_REQ_APICV_UPDATE


class ZapAfterUnlock(Final):
    name = "broken-zap-after-unlock"

    def _apicv_update(self, old: int, new: int) -> Kfunc:
        vm = self.vm
        if bool(old) != bool(new):
            yield from self.kvm_make_all_cpus_request(KVM_REQ_APICV_UPDATE)
            yield wr("store apicv_inhibit_reasons", "kvm.apicv_inhibit_reasons")
            vm.apicv_inhibit_reasons = new
            if new:
                # mutation: the zap runs outside apicv_update_lock
                yield from up_write(vm.apicv_update_lock)
                yield from self.kvm_zap_gfn_range()
                yield from down_write(vm.apicv_update_lock, self.current)
        else:
            yield wr("store apicv_inhibit_reasons", "kvm.apicv_inhibit_reasons")
            vm.apicv_inhibit_reasons = new
