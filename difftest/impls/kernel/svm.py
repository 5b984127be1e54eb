"""arch/x86/kvm/svm/{svm,nested,avic}.c: the parts no IRQ-window version changes.

The window functions themselves (svm_enable_irq_window, svm_set_vintr,
svm_clear_vintr, interrupt_window_interception, svm_inject_irq) are version
specific and start in ``difftest/impls/prepatch.py``.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.model.state import KVM_REQ_APICV_UPDATE, KVM_REQ_EVENT, VCpu


class Svm:
    def svm_interrupt_blocked(self, vcpu: VCpu) -> bool:
        """GIF=0 blocks everything; in L2 with V_INTR_MASKING, L1's RFLAGS.IF
        (vmcb01) decides; the interrupt shadow is not modelled here."""
        if not vcpu.gif:  # !gif_set(svm)
            return True
        return not vcpu.guest_if

    def svm_interrupt_allowed(self, vcpu: VCpu) -> int:
        """1: inject now; 0: blocked, open a window; -1 (-EBUSY): the VMRUN that
        L1 just executed must reach L2 first, or an IRQ that must VM-exit to L1 is
        not injected into L2."""
        if vcpu.nested_run_pending:
            return -1
        if self.svm_interrupt_blocked(vcpu):
            return 0
        if vcpu.guest_mode and vcpu.intercept_intr:
            return -1
        return 1

    def kvm_check_nested_events(self, vcpu: VCpu) -> Kfunc:
        """svm_check_nested_events(), its INTR part: an L1 interrupt while L2 runs
        is a nested #VMEXIT(INTR) when L1 intercepts INTR, else it is injected into
        L2 by kvm_check_and_inject_events(). While the VMRUN L1 executed has not
        reached L2 (nested_run_pending), new events wait: -EBUSY. (The caller does
        not come here with an event to re-inject, the other blocking cause.)
        A pending INIT comes first: L1 does not intercept it, so it is left to
        kvm_apic_accept_events() (return 0)."""
        block_nested_events = vcpu.nested_run_pending
        if vcpu.init_pending:  # test_bit(KVM_APIC_INIT, &apic->pending_events)
            return -1 if block_nested_events else 0
        yield rd("kvm_cpu_has_interrupt", f"{vcpu.name}.ExtINT")
        if self.kvm_cpu_has_interrupt(vcpu) and not self.svm_interrupt_blocked(vcpu):
            if block_nested_events:
                return -1
            if not vcpu.intercept_intr:
                return 0
            yield from self.nested_svm_vmexit(vcpu)  # nested_svm_simple_vmexit(SVM_EXIT_INTR)
        return 0

    def svm_cancel_injection(self, vcpu: VCpu) -> Kfunc:
        """The entry was cancelled: EVENTINJ moves to EXITINTINFO and is requeued."""
        yield wr("exit_int_info = event_inj; event_inj = 0", f"{vcpu.name}.vmcb")
        yield from self.svm_complete_interrupts(vcpu)

    def svm_complete_interrupts(self, vcpu: VCpu) -> Kfunc:
        """kvm_clear_interrupt_queue(); if EXITINTINFO is valid, KVM_REQ_EVENT and
        kvm_queue_interrupt(): the next entry re-injects with reinjected=true."""
        valid = vcpu.injected
        vcpu.injected = False
        if not valid:
            return
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        vcpu.injected = True

    def svm_set_gif(self, vcpu: VCpu, value: bool) -> Kfunc:
        """GIF=1: drop the VINTR window (KVM_REQ_EVENT re-requests it if still
        needed) and re-evaluate pending events. GIF=0: without vGIF no interrupt
        can come until STGI, whose intercept is the window, so V_IRQ goes; with
        vGIF the VINTR intercept still detects the open window. GIF is this vCPU's
        own state: no scheduling point of its own."""
        if value:
            if vcpu.vintr_intercept:  # svm_is_intercept(svm, INTERCEPT_VINTR)
                yield from self.svm_clear_vintr(vcpu)
            vcpu.gif = True  # enable_gif()
            yield rd("kvm_cpu_has_injectable_intr", f"{vcpu.name}.ExtINT")
            if self.svm_has_pending_gif_event(vcpu):
                yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        else:
            vcpu.gif = False  # disable_gif()
            if not self.vm.vgif:
                yield from self.svm_clear_vintr(vcpu)

    def svm_has_pending_gif_event(self, vcpu: VCpu) -> bool:
        """smi_pending / nmi_pending are not modelled."""
        return self.kvm_cpu_has_injectable_intr(vcpu) or self.kvm_apic_has_pending_init_or_sipi(
            vcpu
        )

    def stgi_interception(self, vcpu: VCpu) -> Kfunc:
        """Without vGIF, STGI is intercepted (init_vmcb sets INTERCEPT_STGI)."""
        yield from self.svm_set_gif(vcpu, True)
        return False

    def clgi_interception(self, vcpu: VCpu) -> Kfunc:
        yield from self.svm_set_gif(vcpu, False)
        return False

    def svm_apic_init_signal_blocked(self, vcpu: VCpu) -> bool:
        """INIT is latched while GIF=0."""
        return not vcpu.gif

    def svm_leave_nested(self, vcpu: VCpu) -> Kfunc:
        """nested.c: forcibly leave L2 (kvm_vcpu_reset, KVM_SET_NESTED_STATE):
        vmcb01, and an APICv update request if the VM-wide state allows it. (GIF is
        set by the callers: init_vmcb()'s enable_gif(), svm_set_nested_state()'s
        svm_set_gif(); a posted patch moves svm_set_gif(svm, true) in here.)"""
        if vcpu.guest_mode:
            vcpu.nested_run_pending = False
            yield wr("leave_guest_mode; svm_switch_vmcb(vmcb01)", f"{vcpu.name}.vmcb")
            vcpu.guest_mode = False
            yield rd("kvm_apicv_activated", "kvm.apicv_inhibit_reasons")
            if self.kvm_apicv_activated():
                yield from self.kvm_make_request(KVM_REQ_APICV_UPDATE, vcpu)

    def svm_set_nested_state(self, vcpu: VCpu) -> Kfunc:
        """KVM_SET_NESTED_STATE without KVM_STATE_NESTED_GUEST_MODE and with GIF
        set (what a VMM writes at reset): svm_leave_nested(), then svm_set_gif()."""
        yield from self.svm_leave_nested(vcpu)
        yield from self.svm_set_gif(vcpu, True)

    def svm_vcpu_reset(self, vcpu: VCpu, init_event: bool) -> Kfunc:
        """svm.c: init_vmcb() (and __svm_vcpu_reset() on a full reset, nothing the
        model sees). No IRQ-window version touches avic_irq_window here."""
        yield from self.init_vmcb(vcpu)

    def init_vmcb(self, vcpu: VCpu) -> Kfunc:
        """``control->int_ctl = V_INTR_MASKING_MASK`` drops V_IRQ and V_TPR; init_vmcb()
        only ever sets intercepts, so INTERCEPT_VINTR stays as it was, and it sets
        INTERCEPT_CR8_WRITE (87d0f901a9bd: always), which avic_init_vmcb() lifts
        with AVIC; enable_gif() last."""
        yield wr("init_vmcb: int_ctl = V_INTR_MASKING_MASK", f"{vcpu.name}.vmcb")
        vcpu.v_irq = False
        vcpu.v_tpr_high = False
        vcpu.cr8_intercept = True  # svm_set_intercept(svm, INTERCEPT_CR8_WRITE)
        if vcpu.apicv_active:
            yield from self.avic_init_vmcb(vcpu)
        vcpu.gif = True  # enable_gif(svm)

    def nested_svm_vmrun(self, vcpu: VCpu) -> Kfunc:
        """nested.c: the consistency checks pass (the model's vmcb12 is valid), so
        nested_run_pending stays set until svm_vcpu_run() has entered L2. (The
        legacy model, as its reproducers were recorded, has no pending VMRUN.)"""
        if self.vm.irq_source != "legacy":
            vcpu.nested_run_pending = True
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
        legacy = self.vm.irq_source == "legacy"
        if not legacy:
            # If L1 doesn't intercept interrupts, KVM used vmcb02's V_IRQ for L1's
            # windows: "Raise KVM_REQ_EVENT to ensure that KVM re-requests an
            # interrupt window if necessary".
            if not vcpu.intercept_intr:  # !nested_exit_on_intr(svm)
                yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
            # "On vmexit the GIF is set to false and no event can be injected in L1."
            yield from self.svm_set_gif(vcpu, False)
        # "Un-inhibit the AVIC right away, so that other vCPUs can start to benefit"
        yield rd("kvm_apicv_activated", "kvm.apicv_inhibit_reasons")
        if self.kvm_apicv_activated():
            yield from self._kvm_vcpu_update_apicv(vcpu)
        if legacy:
            # The narrow model: L1's STGI follows the #VMEXIT at once.
            yield from self.svm_set_gif(vcpu, True)
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
    "vmexit": "nested_svm_vmexit",
    "stgi": "stgi_interception",
    "clgi": "clgi_interception",
    "x2apic": "kvm_emulate_wrmsr_apic_base",
    "cr8": "cr8_write_interception",
}
