"""perf-cr8-intercept-kept: AVIC (de)activation leaves INTERCEPT_CR8_WRITE alone.

The SVM code before 87d0f901a9bd ("KVM: SVM: Explicitly set/clear CR8 write
interception when AVIC is (de)activated", 2026): init_vmcb() sets the intercept
only for a vCPU whose APICv is off, avic_activate_vmcb() and
avic_deactivate_vmcb() do not touch it, and cr8_write_interception() has no WARN.
update_cr8_intercept() returns early while APICv is active, so an intercept set
while AVIC was off (a masked LAPIC interrupt, or INIT) stays after AVIC comes
back: every CR8 write then exits. The TPR stays right (sync_lapic_to_cr8() runs
whether or not AVIC is active), so the one divergence is a perf finding,
cr8-intercept; with the older TPR sync as well it is a bug
(broken-avic-tpr-sync). Changes ``final`` in the shared SVM code only.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.impls.final import Final
from difftest.model.state import VCpu


class PerfCr8InterceptKept(Final):
    name = "perf-cr8-intercept-kept"

    def avic_activate_vmcb(self, vcpu: VCpu) -> None:
        return  # mutation: INTERCEPT_CR8_WRITE left as it is

    def avic_deactivate_vmcb(self, vcpu: VCpu) -> None:
        return  # mutation: INTERCEPT_CR8_WRITE left as it is

    def init_vmcb(self, vcpu: VCpu) -> Kfunc:
        yield wr("init_vmcb: int_ctl = V_INTR_MASKING_MASK", f"{vcpu.name}.vmcb")
        vcpu.v_irq = False
        vcpu.v_tpr_high = False
        if not vcpu.apicv_active:  # mutation: if (!kvm_vcpu_apicv_active(vcpu))
            vcpu.cr8_intercept = True
        if vcpu.apicv_active:
            yield from self.avic_init_vmcb(vcpu)
        vcpu.gif = True  # enable_gif(svm)

    def cr8_write_interception(self, vcpu: VCpu) -> Kfunc:
        # mutation: no WARN_ON_ONCE(kvm_vcpu_apicv_active(vcpu))
        yield from self.kvm_set_cr8(vcpu, vcpu.exit_cr8_high)
        return False
