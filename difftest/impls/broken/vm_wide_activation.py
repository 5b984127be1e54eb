"""broken-vm-wide-activation: the KVM_REQ_APICV_UPDATE handler ignores the
per-vCPU inhibit reasons.

Bug class: a recompute that reads only part of its inputs (the VM-wide bitmap,
not the vendor's per-vCPU reasons).

Changes ``final`` in __kvm_vcpu_update_apicv() only: the vCPU's new state is
kvm_apicv_activated(kvm) instead of kvm_vcpu_apicv_activated(vcpu), as before
"KVM: x86: allow per cpu apicv inhibit reasons" (d5fa597ed870). A vCPU running
L2, which AVIC must not serve (avic_vcpu_get_apicv_inhibit_reasons() reports
NESTED for it since f44509f849fe "KVM: x86: SVM: allow AVIC to co-exist with a
nested guest running"), keeps APICv active.

Breaks with one vCPU: L1 executes VMRUN; enter_svm_guest_mode() requests an
APICv update; the handler leaves APICv active in L2, and the next entry's
consistency check fires (WARN in vcpu_enter_guest; stale apicv_active).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd
from difftest.engine.sync import down_read, up_read
from difftest.impls.final import Final
from difftest.model.state import KVM_REQ_EVENT, VCpu


class VmWideActivation(Final):
    name = "broken-vm-wide-activation"

    def _kvm_vcpu_update_apicv(self, vcpu: VCpu) -> Kfunc:
        vm = self.vm
        yield from down_read(vm.apicv_update_lock)
        yield rd("kvm_apicv_activated", "kvm.apicv_inhibit_reasons")
        # mutation: kvm_apicv_activated(kvm), not kvm_vcpu_apicv_activated(vcpu)
        activate = self.kvm_apicv_activated() and vcpu.apic_enabled
        if vcpu.apicv_active != activate:
            vcpu.apicv_active = activate
            if not activate:
                yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from up_read(vm.apicv_update_lock)
