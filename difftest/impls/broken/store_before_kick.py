"""broken-store-before-kick: the new bitmap is stored before the vCPUs are kicked.

Bug class: publish-before-synchronise (a shared state change made visible before
the readers it concerns have been stopped).

Changes ``final`` in the tail of __kvm_set_or_clear_apicv_inhibit() only (the
model's ``_apicv_update``): apicv_inhibit_reasons is written first, then
kvm_make_all_cpus_request(KVM_REQ_APICV_UPDATE). The kernel orders these the
other way round since "KVM: x86: APICv: fix race in kvm_request_apicv_update on
SVM" (b0a1637f64b0); its comment: kick all vCPUs before setting
apicv_inhibit_reasons to avoid false positives in the sanity check WARN in
vcpu_enter_guest().

Breaks with: vCPU A has set IN_GUEST_MODE and found no request pending; vCPU B
asks for an IRQ window and inhibits; the bitmap changes under A before the kick
lands, and A's entry check sees kvm_vcpu_apicv_activated() != apicv_active
(WARN in vcpu_enter_guest).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.impls.final import Final
from difftest.model.state import KVM_REQ_APICV_UPDATE


class StoreBeforeKick(Final):
    name = "broken-store-before-kick"

    def _apicv_update(self, old: int, new: int) -> Kfunc:
        vm = self.vm
        if bool(old) != bool(new):
            # mutation: store first, kick (and wait) afterwards
            yield wr("store apicv_inhibit_reasons", "kvm.apicv_inhibit_reasons")
            vm.apicv_inhibit_reasons = new
            yield from self.kvm_make_all_cpus_request(KVM_REQ_APICV_UPDATE)
            if new:
                yield from self.kvm_zap_gfn_range()
        else:
            yield wr("store apicv_inhibit_reasons", "kvm.apicv_inhibit_reasons")
            vm.apicv_inhibit_reasons = new
