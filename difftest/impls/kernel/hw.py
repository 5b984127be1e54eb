"""What the CPU does between VMRUN and #VMEXIT: the guest's action, event
injection, and the V_IRQ window that AVIC ignores. Not kernel code; the oracle's
per-step checks are called from here because this is where the guest touches
the APIC page and where a window opens or fails to.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, Points, wr
from difftest.model.state import Mode, VCpu
from difftest.oracle import spec
from difftest.oracle.checks import check_apic_access, check_cr8_exit, check_tpr
from difftest.oracle.findings import Kind

# VMRUN's scheduling point by (guest action, vCPU name), made once (see ``Points``).
VMRUN = Points(
    lambda op, v: wr(f"VMRUN: guest {op}", "kvm.apic_spte" if op == "apic" else f"{v}.mode")
)


class Hardware:
    def vcpu_run(self, vcpu: VCpu, op: str, force_immediate_exit: bool = False) -> Kfunc:
        """kvm_x86_call(vcpu_run): one step from VMRUN to #VMEXIT.

        Returns (exit reason, whether ``op`` was carried out). The vCPU is outside
        guest mode with IRQs enabled at the end of the step, so a pending kick IPI
        is acknowledged there. With KVM_RUN_FORCE_IMMEDIATE_EXIT the self-IPI that
        svm_vcpu_run() sends is pending at VMRUN: the guest takes the injected
        event and exits before its first instruction (the legacy model let it
        run, as its reproducers were recorded).
        """
        svm = self.vm.vendor == "svm"
        if svm:
            self.sync_lapic_to_cr8(vcpu)
        yield VMRUN[op, vcpu.name]
        if svm and not vcpu.guest_mode and vcpu.apic_enabled:
            check_tpr(self, vcpu)
        if force_immediate_exit and self.vm.irq_source != "legacy":
            result = self._immediate_exit(vcpu)
        else:
            result = self._guest(vcpu, op)
        if svm and vcpu.v_tpr_high != vcpu.tpr_high:  # else it would write the same TPR
            yield from self.sync_cr8_to_lapic(vcpu)
        if vcpu.guest_mode:  # svm_vcpu_run(): L2 has been entered
            vcpu.nested_run_pending = False
        vcpu.mode = Mode.OUTSIDE_GUEST_MODE
        self.ack_ipi(vcpu)
        return result

    def _immediate_exit(self, vcpu: VCpu) -> tuple[str, bool]:
        """A pending host interrupt outranks the guest's virtual ones: #VMEXIT(INTR)
        once EVENTINJ is delivered."""
        if vcpu.injected and vcpu.mode != Mode.EXITING_GUEST_MODE:
            self._deliver(vcpu)
        return "intr", False

    def _guest(self, vcpu: VCpu, op: str) -> tuple[str, bool]:
        if vcpu.mode == Mode.EXITING_GUEST_MODE:
            return "intr", False  # the kick IPI arrived before VMRUN: exit at once
        if vcpu.injected:
            self._deliver(vcpu)
        self._avic_deliver(vcpu)
        if (e := self._window(vcpu)) is not None:
            return e, False
        if op == "run":
            return "hlt", True
        wide = self.vm.irq_source != "legacy"
        if vcpu.guest_mode:
            # L2's own actions do not concern L1's APIC (L2's MMU never maps the
            # APIC page); only its exit back to L1 does. Outside the legacy model
            # ``vmexit`` goes on in L1 with the STGI that ends L1's world switch.
            if op == "vmexit":
                return "vmexit", not wide
            return "hlt", True
        if wide and op == "vmexit" and not vcpu.gif:
            op = "stgi"  # L1's STGI after the #VMEXIT (GIF=0 since)
        if op == "cli":
            vcpu.guest_if = False
        elif op == "sti":
            vcpu.guest_if = True
            self._avic_deliver(vcpu)
            return self._window(vcpu) or "hlt", True
        elif op in ("clgi", "stgi") and self.vm.vendor == "svm":
            if not self.vm.vgif:
                return op, True  # intercepted: stgi_interception / clgi_interception
            vcpu.gif = op == "stgi"  # vGIF: V_GIF changes in hardware, no exit
            self._avic_deliver(vcpu)
            return self._window(vcpu) or "hlt", True
        elif op in ("vmrun", "sti_vmrun") and self.vm.vendor == "svm":
            if op == "sti_vmrun":
                vcpu.guest_if = True  # the STI shadow covers VMRUN: no window yet
            return "vmrun", True
        elif op in ("tpr_high", "tpr_low") and vcpu.apic_enabled:
            return self._mov_to_cr8(vcpu, op == "tpr_high")
        elif op == "x2apic" and vcpu.apic_enabled:
            return "x2apic", True  # WRMSR IA32_APIC_BASE always exits
        elif op == "apic" and vcpu.apic_enabled:
            if not self.vm.apic_spte:
                return "npf", False
            check_apic_access(self, vcpu)
        return "hlt", True

    def _mov_to_cr8(self, vcpu: VCpu, high: bool) -> tuple[str, bool]:
        """L1 writes its TPR. SVM: an intercepted write exits with its operand
        (KVM emulates it), else V_TPR takes it at once. VMX: the virtual-APIC
        page's TPR (TASKPRI itself) takes it, and a drop below an armed
        TPR_THRESHOLD exits (ignored under virtual interrupt delivery)."""
        vcpu.ghost_tpr_high = high
        if self.vm.vendor == "svm":
            if vcpu.cr8_intercept:
                check_cr8_exit(self, vcpu)
                vcpu.exit_cr8_high = high
                return "cr8", True
            vcpu.v_tpr_high = high
        else:
            below = not high and vcpu.tpr_high and vcpu.cr8_intercept
            vcpu.tpr_high = high
            if below and not vcpu.apicv_active:
                return "tpr_below_threshold", True
        self._avic_deliver(vcpu)
        return self._window(vcpu) or "hlt", True

    def _window(self, vcpu: VCpu) -> str | None:
        """An armed V_IRQ with GIF=1 and RFLAGS.IF=1 exits with VINTR, unless AVIC is
        active on the vCPU: AVIC ignores V_IRQ, the window goes unnoticed."""
        if vcpu.guest_mode or not (
            vcpu.v_irq and vcpu.vintr_intercept and vcpu.guest_if and vcpu.gif
        ):
            return None
        if self.vm.vendor == "svm" and vcpu.apicv_active:
            # Only a window with an interrupt behind it is missed (one whose ExtINT
            # another vCPU acked, or the guest masked, awaits nothing).
            if vcpu.ghost_blind_since is None and spec.pending_for_l1(self.vm, vcpu):
                vcpu.ghost_blind_since = self.now
            return None
        return "vintr"

    def _avic_deliver(self, vcpu: VCpu) -> None:
        """APICv/AVIC delivers a vIRR interrupt itself once L1's IF allows it; the
        guest's handler EOIs it. No window and no exit are involved."""
        # The CPU's TPR: V_TPR on SVM; on VMX the virtual-APIC page's, TASKPRI itself.
        masked = vcpu.v_tpr_high if self.vm.vendor == "svm" else vcpu.tpr_high
        if (
            vcpu.lapic_irr
            and not masked
            and vcpu.apicv_active
            and vcpu.guest_if
            and vcpu.gif
            and not vcpu.guest_mode
        ):
            vcpu.lapic_irr = False
            vcpu.delivered += 1

    def _deliver(self, vcpu: VCpu) -> None:
        """EVENTINJ is taken; the guest's handler EOIs it, and a Xen guest's upcall
        handler clears evtchn_upcall_pending."""
        vcpu.injected = False
        if not vcpu.guest_mode and not (vcpu.gif and vcpu.guest_if):
            self.finding(
                Kind.BLOCKED_INJECTION,
                f"{vcpu.name} took an injected interrupt in L1 with GIF={int(vcpu.gif)} "
                f"IF={int(vcpu.guest_if)}",
                where="svm_vcpu_run",
                expected="KVM injects only when the vendor's interrupt_allowed() says so",
            )
        vcpu.in_service = False
        if vcpu.interrupt_nr == "xen":
            vcpu.xen_upcall = False
        vcpu.delivered += 1
        if vcpu.ghost_blind_since is not None:
            self.finding(
                Kind.DELAYED_WINDOW,
                f"{vcpu.name}'s IRQ window opened at step {vcpu.ghost_blind_since} with AVIC "
                f"active (V_IRQ ignored); the ExtINT came {self.now - vcpu.ghost_blind_since} "
                "steps later",
                where="svm_vcpu_run",
                expected="APICv inhibited while the window is armed",
            )
            vcpu.ghost_blind_since = None
