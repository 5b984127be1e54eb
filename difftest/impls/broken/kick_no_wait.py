"""broken-kick-no-wait: KVM_REQ_APICV_UPDATE kicks the vCPUs but waits for nobody.

Bug class: a kick that does not wait for its targets (KVM_REQUEST_WAIT dropped).

Changes ``final`` in kvm_make_all_cpus_request() only: the request is made and
every vCPU in guest mode gets its IPI, but the caller does not spin until each
one has acknowledged it. KVM_REQ_APICV_UPDATE is declared with
KVM_REQUEST_WAIT precisely so that __kvm_set_or_clear_apicv_inhibit() stores
the new bitmap only once no vCPU is between its request check and VMRUN (see
the comment above kvm_make_all_cpus_request() there).

Breaks with: vCPU A has set IN_GUEST_MODE and found no request pending; an
inhibit update kicks A and, not waiting, stores the bitmap at once; A's entry
check then sees the new bitmap with its old apicv_active (WARN in
vcpu_enter_guest).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc
from difftest.impls.final import Final
from difftest.model.state import Mode


class KickNoWait(Final):
    name = "broken-kick-no-wait"

    def kvm_make_all_cpus_request(self, req: int) -> Kfunc:
        for v in self.vm.vcpus:
            yield from self.kvm_make_request(req, v)
            if (yield from self.kvm_vcpu_exiting_guest_mode(v)) != Mode.OUTSIDE_GUEST_MODE:
                v.ipi_pending = True
        # mutation: no "wait for IPI ack" on the kicked vCPUs
