"""broken-avic-tpr-sync: the SVM TPR code before d02e48830e3f and 87d0f901a9bd.

Bug class: two copies of one register (the local APIC's TASKPRI and VMCB
V_TPR) synchronised only on the path that was expected to write them.

sync_lapic_to_cr8() skipped VMCBs with AVIC active ("KVM: SVM: Sync TPR from LAPIC
into VMCB::V_TPR even if AVIC is active", 6.17), and AVIC (de)activation left
INTERCEPT_CR8_WRITE as it was (perf-cr8-intercept-kept, 87d0f901a9bd). Changes
``final`` in the shared SVM code only, in both places: the kernel had both
until 6.17.

Breaks with: the guest writes CR8 while AVIC is off and the write is
intercepted (init_vmcb() set the intercept, or update_cr8_intercept() armed it
for a masked LAPIC interrupt); KVM writes TASKPRI; AVIC comes back (an inhibit
is cleared) before the next VMRUN, which then skips the copy: V_TPR, which AVIC
delivers by, keeps the old priority (tpr-desync). With the intercept kept after
AVIC's return, every later CR8 write does the same; so does a VMM's
KVM_SET_LAPIC on a vCPU with AVIC active.
"""

from __future__ import annotations

from difftest.impls.perf_cr8_intercept_kept import PerfCr8InterceptKept
from difftest.model.state import VCpu


class AvicTprSync(PerfCr8InterceptKept):
    name = "broken-avic-tpr-sync"

    def sync_lapic_to_cr8(self, vcpu: VCpu) -> None:
        # mutation: || kvm_vcpu_apicv_active(vcpu)
        if self.nested_svm_virtualize_tpr(vcpu) or vcpu.apicv_active:
            return
        vcpu.v_tpr_high = vcpu.tpr_high
