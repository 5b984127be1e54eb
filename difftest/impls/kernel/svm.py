"""arch/x86/kvm/svm/{svm,nested,avic}.c: the parts no IRQ-window version changes.

The window functions themselves (svm_enable_irq_window, svm_set_vintr,
svm_clear_vintr, interrupt_window_interception, svm_inject_irq) are version
specific and start in ``difftest/impls/prepatch.py``.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.model.state import KVM_REQ_APICV_UPDATE, KVM_REQ_EVENT, VCpu


class Svm:
    def svm_interrupt_allowed(self, vcpu: VCpu) -> bool:
        """!svm_interrupt_blocked(): GIF=0 blocks everything; L1 interrupts are not
        taken in L2 (the model's limit); otherwise RFLAGS.IF."""
        return vcpu.gif and not vcpu.guest_mode and vcpu.guest_if

    def svm_set_gif(self, vcpu: VCpu, value: bool) -> Kfunc:
        """GIF=1: drop the STGI intercept (vGIF) and the VINTR window (re-requested
        through KVM_REQ_EVENT if still needed). GIF=0: without vGIF, no interrupt
        can come until STGI, whose intercept is the window, so V_IRQ goes."""
        # GIF and the intercepts are this vCPU's own state: no scheduling point.
        if value:
            if vcpu.vintr_intercept:
                yield from self.svm_clear_vintr(vcpu)
            vcpu.gif = True  # enable_gif()
            yield rd("svm_has_pending_gif_event", f"{vcpu.name}.ExtINT")
            if self.kvm_cpu_has_injectable_intr(vcpu) or vcpu.init_pending or vcpu.sipi_pending:
                yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        else:
            vcpu.gif = False  # disable_gif()
            # After a CLGI no interrupts should come. With vGIF, the VINTR
            # intercept (not STGI) still detects the open window.
            if not self.vm.vgif:
                yield from self.svm_clear_vintr(vcpu)

    def stgi_interception(self, vcpu: VCpu) -> Kfunc:
        yield from self.svm_set_gif(vcpu, True)
        return False

    def clgi_interception(self, vcpu: VCpu) -> Kfunc:
        yield from self.svm_set_gif(vcpu, False)
        return False

    def svm_apic_init_signal_blocked(self, vcpu: VCpu) -> bool:
        """INIT is latched while GIF=0."""
        return not vcpu.gif

    def svm_leave_nested(self, vcpu: VCpu) -> Kfunc:
        """nested.c: forcibly leave L2 (INIT, userspace): vmcb01, GIF=1, and an
        APICv update if the VM-wide state allows it."""
        if vcpu.guest_mode:
            yield wr("leave_guest_mode; svm_switch_vmcb(vmcb01)", f"{vcpu.name}.vmcb")
            vcpu.guest_mode = False
            yield from self.svm_set_gif(vcpu, True)
            yield rd("kvm_apicv_activated", "kvm.apicv_inhibit_reasons")
            if self.kvm_apicv_activated():
                yield from self.kvm_make_request(KVM_REQ_APICV_UPDATE, vcpu)

    def svm_set_nested_state(self, vcpu: VCpu) -> Kfunc:
        """KVM_SET_NESTED_STATE without KVM_STATE_NESTED_GUEST_MODE, GIF set (what a
        VMM puts at reset): svm_leave_nested() then svm_set_gif()."""
        yield from self.svm_leave_nested(vcpu)
        yield from self.svm_set_gif(vcpu, True)

    def svm_vcpu_reset(self, vcpu: VCpu, init_event: bool) -> Kfunc:
        """svm.c: no IRQ-window version touches avic_irq_window here."""
        yield from self.init_vmcb(vcpu, init_event)

    def init_vmcb(self, vcpu: VCpu, init_event: bool) -> Kfunc:
        """int_ctl = V_INTR_MASKING_MASK drops V_IRQ; the intercepts are only ever
        set here, so INTERCEPT_VINTR stays as it was; enable_gif() at the end."""
        yield wr("init_vmcb: int_ctl = V_INTR_MASKING_MASK", f"{vcpu.name}.vmcb")
        vcpu.v_irq = False
        yield wr("enable_gif", f"{vcpu.name}.vmcb")
        vcpu.gif = True

    def nested_svm_vmrun(self, vcpu: VCpu) -> Kfunc:
        yield from self.enter_svm_guest_mode(vcpu)
        return False

    def enter_svm_guest_mode(self, vcpu: VCpu) -> Kfunc:
        yield wr("enter_svm_guest_mode: switch to vmcb02", f"{vcpu.name}.vmcb")
        vcpu.guest_mode = True
        yield from self.svm_set_gif(vcpu, True)
        if vcpu.apicv_active:
            yield from self.kvm_make_request(KVM_REQ_APICV_UPDATE, vcpu)

    def nested_svm_vmexit(self, vcpu: VCpu) -> Kfunc:
        yield wr("nested_svm_vmexit: switch to vmcb01", f"{vcpu.name}.vmcb")
        vcpu.guest_mode = False
        # "On vmexit the GIF is set to false and no event can be injected in L1."
        yield from self.svm_set_gif(vcpu, False)
        # "Un-inhibit the AVIC right away, so that other vCPUs can start to benefit"
        yield rd("kvm_apicv_activated", "kvm.apicv_inhibit_reasons")
        if self.kvm_apicv_activated():
            yield from self._kvm_vcpu_update_apicv(vcpu)
        return False

    def svm_handle_l2_vmexit(self, vcpu: VCpu) -> Kfunc:
        """An L2 exit that L1 handles. With L1 interrupts not delivered in L2 (the
        model's limit), ``vmexit`` also stands for the INTR #VMEXIT that
        kvm_check_nested_events() forces when an L1 interrupt is pending, after
        which kvm_check_and_inject_events() goes on with that interrupt in L1 (GIF=0:
        a V_IRQ window with vGIF, the STGI intercept without): KVM_REQ_EVENT."""
        yield from self.nested_svm_vmexit(vcpu)
        yield rd("kvm_cpu_has_injectable_intr", f"{vcpu.name}.ExtINT")
        if self.kvm_cpu_has_injectable_intr(vcpu):
            yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        return False

    def svm_handle_vintr(self, vcpu: VCpu) -> Kfunc:
        yield from self.interrupt_window_interception(vcpu)
        return False

    def svm_handle_npf(self, vcpu: VCpu) -> Kfunc:
        return (yield from self.kvm_mmu_page_fault(vcpu))


# svm_exit_handlers[], by the exit reasons the hardware model produces.
SVM_EXIT_HANDLERS = {
    "vintr": "svm_handle_vintr",
    "npf": "svm_handle_npf",
    "vmrun": "nested_svm_vmrun",
    "vmexit": "svm_handle_l2_vmexit",
    "stgi": "stgi_interception",
    "clgi": "clgi_interception",
}
