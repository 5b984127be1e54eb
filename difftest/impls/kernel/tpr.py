"""The TPR: lapic.c, x86.c, svm/svm.c, svm/avic.c and vmx/vmx.c, as far as the one
LAPIC vector of the model sees it ("high" masks that vector's priority class).

The local APIC's TASKPRI is what KVM decides with (kvm_apic_has_interrupt()); on
SVM the CPU uses VMCB int_ctl's V_TPR, for CR8 and for AVIC's own delivery. The
two are synchronised around each VMRUN (sync_lapic_to_cr8(), sync_cr8_to_lapic()),
unless INTERCEPT_CR8_WRITE is set, when a MOV to CR8 exits and KVM emulates it.
KVM intercepts CR8 writes only when it must hear of the TPR dropping below a
pending interrupt that it injects itself: never while AVIC is active (avic.c,
87d0f901a9bd). The state is the vCPU's own: no scheduling points of its own.
The legacy model has no TPR (its scenarios have no TPR operations).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd
from difftest.model.state import KVM_REQ_EVENT, VCpu


class Tpr:
    # -- lapic.c / x86.c ----------------------------------------------------

    def update_cr8_intercept(self, vcpu: VCpu) -> None:
        """x86.c: with APICv active the hardware handles the TPR (and on SVM the
        AVIC (de)activation set the intercept); otherwise the vendor arms an exit
        for a TPR masking the highest pending IRR vector."""
        if vcpu.apicv_active:
            return
        max_irr = vcpu.lapic_irr  # kvm_lapic_find_highest_irr(vcpu) != -1
        self.update_cr8_intercept_vendor(vcpu, vcpu.tpr_high, max_irr)

    def kvm_set_cr8(self, vcpu: VCpu, high: bool) -> Kfunc:
        """x86.c -> kvm_lapic_set_tpr() -> apic_set_tpr(): TASKPRI, then PPR."""
        was_high = vcpu.tpr_high
        vcpu.tpr_high = high
        yield from self.apic_update_ppr(vcpu, was_high)

    def apic_update_ppr(self, vcpu: VCpu, was_high: bool) -> Kfunc:
        """lapic.c: a PPR that dropped and now lets an IRR vector through asks
        for an event evaluation (KVM_REQ_EVENT)."""
        if was_high and not vcpu.tpr_high and self.kvm_apic_has_interrupt(vcpu):
            yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)

    # -- svm.c / avic.c -----------------------------------------------------

    def nested_svm_virtualize_tpr(self, vcpu: VCpu) -> bool:
        """In L2 with V_INTR_MASKING (the model's L1 always sets it) CR8 is L2's."""
        return vcpu.guest_mode

    def svm_update_cr8_intercept(self, vcpu: VCpu, tpr_high: bool, irr: bool) -> None:
        if self.nested_svm_virtualize_tpr(vcpu):
            return
        vcpu.cr8_intercept = False  # svm_clr_intercept(svm, INTERCEPT_CR8_WRITE)
        if not irr:
            return
        if tpr_high:  # tpr >= irr
            vcpu.cr8_intercept = True

    def sync_lapic_to_cr8(self, vcpu: VCpu) -> None:
        """Before VMRUN: V_TPR from TASKPRI, whether or not AVIC is active
        (d02e48830e3f)."""
        if self.nested_svm_virtualize_tpr(vcpu):
            return
        vcpu.v_tpr_high = vcpu.tpr_high

    def sync_cr8_to_lapic(self, vcpu: VCpu) -> Kfunc:
        """After #VMEXIT: a CR8 write the CPU took without exiting reaches TASKPRI."""
        if self.nested_svm_virtualize_tpr(vcpu):
            return
        if not vcpu.cr8_intercept:
            yield from self.kvm_set_cr8(vcpu, vcpu.v_tpr_high)

    def cr8_write_interception(self, vcpu: VCpu) -> Kfunc:
        """An intercepted MOV to CR8: KVM emulates it (cr_interception() ->
        kvm_set_cr8()); with the in-kernel LAPIC the guest resumes."""
        self.WARN_ON(vcpu.apicv_active, "cr8_write_interception", "kvm_vcpu_apicv_active(vcpu)")
        yield from self.kvm_set_cr8(vcpu, vcpu.exit_cr8_high)
        return False

    def avic_refresh_apicv_exec_ctrl(self, vcpu: VCpu) -> None:
        """avic_refresh_virtual_apic_mode(): the VMCB follows the vCPU's APICv state;
        the next KVM_REQ_EVENT narrows the intercept with svm_update_cr8_intercept()."""
        if not self.vm.enable_apicv or self.vm.irq_source == "legacy":
            return
        if vcpu.apicv_active:
            self.avic_activate_vmcb(vcpu)
        else:
            self.avic_deactivate_vmcb(vcpu)

    def avic_init_vmcb(self, vcpu: VCpu) -> Kfunc:
        """For a vCPU with APICv active: activate or deactivate by the VM-wide state."""
        yield rd("avic_init_vmcb: kvm_apicv_activated", "kvm.apicv_inhibit_reasons")
        if self.kvm_apicv_activated():
            self.avic_activate_vmcb(vcpu)
        else:
            self.avic_deactivate_vmcb(vcpu)

    def avic_activate_vmcb(self, vcpu: VCpu) -> None:
        """Its CR8 part (87d0f901a9bd): AVIC handles the TPR, no CR8 write exits."""
        vcpu.cr8_intercept = False  # svm_clr_intercept(svm, INTERCEPT_CR8_WRITE)

    def avic_deactivate_vmcb(self, vcpu: VCpu) -> None:
        vcpu.cr8_intercept = True  # svm_set_intercept(svm, INTERCEPT_CR8_WRITE)

    # -- vmx.c ----------------------------------------------------------------

    def vmx_update_cr8_intercept(self, vcpu: VCpu, tpr_high: bool, irr: bool) -> None:
        """TPR_THRESHOLD: a VM exit once the TPR drops below the pending vector
        (ignored by the CPU while virtual interrupt delivery is on)."""
        vcpu.cr8_intercept = irr and tpr_high

    def vmx_refresh_apicv_exec_ctrl(self, vcpu: VCpu) -> None:
        """Nothing for the TPR: the CPU ignores TPR_THRESHOLD under virtual
        interrupt delivery, and update_cr8_intercept() re-arms it without."""

    def handle_tpr_below_threshold(self, vcpu: VCpu) -> Kfunc:
        """vmx.c: the TPR in the virtual-APIC page (TASKPRI itself) dropped below
        the threshold, which was armed for a masked vector: kvm_apic_update_ppr()."""
        yield from self.apic_update_ppr(vcpu, True)
        return False
