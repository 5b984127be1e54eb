"""arch/x86/kvm/x86.c (and the userspace-facing callers of the inhibit API).

Only what the IRQ-window patches leave alone is here; the functions they change
(``__kvm_set_or_clear_apicv_inhibit`` and the SVM window functions) are in
``difftest/impls/prepatch.py`` and are overridden by each later version.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, Points, rd, wr
from difftest.engine.sync import down_read, down_write, lock, unlock, up_read, up_write
from difftest.model.state import (
    KVM_REQ_APICV_UPDATE,
    KVM_REQ_EVENT,
    KVM_REQ_UNBLOCK,
    Mode,
    MpState,
    Reason,
    VCpu,
    bit,
)
from difftest.oracle.spec import vcpu_inhibit_reasons

# Scheduling points by vCPU name, made once (see ``Points``).
ENTER_GUEST_MODE = Points(lambda v: wr("mode = IN_GUEST_MODE", f"{v}.mode"))
HAS_INJECTABLE_INTR = Points(lambda v: rd("kvm_cpu_has_injectable_intr", f"{v}.ExtINT"))


class X86:
    # -- inhibit state queries ----------------------------------------------

    def kvm_apicv_activated(self) -> bool:
        return self.vm.apicv_inhibit_reasons == 0

    def kvm_vcpu_apicv_activated(self, vcpu: VCpu) -> bool:
        vm = self.vm
        return (vm.apicv_inhibit_reasons | self.vcpu_get_apicv_inhibit_reasons(vcpu)) == 0

    def vcpu_get_apicv_inhibit_reasons(self, vcpu: VCpu) -> int:
        """kvm_x86_ops.vcpu_get_apicv_inhibit_reasons (avic_vcpu_get_apicv_inhibit_reasons)."""
        return vcpu_inhibit_reasons(self.vm, vcpu)

    # -- the VM-wide update ----------------------------------------------------

    def kvm_set_or_clear_apicv_inhibit(self, reason: Reason, set: bool) -> Kfunc:
        vm = self.vm
        if not vm.enable_apicv:
            return
        yield from down_write(vm.apicv_update_lock, self.current)
        yield from self._kvm_set_or_clear_apicv_inhibit(reason, set)
        yield from up_write(vm.apicv_update_lock)

    def kvm_set_apicv_inhibit(self, reason: Reason) -> Kfunc:
        return self.kvm_set_or_clear_apicv_inhibit(reason, True)

    def kvm_clear_apicv_inhibit(self, reason: Reason) -> Kfunc:
        return self.kvm_set_or_clear_apicv_inhibit(reason, False)

    def _apicv_update(self, old: int, new: int) -> Kfunc:
        """The tail of __kvm_set_or_clear_apicv_inhibit, the same in every version.

        On a flip of "any reason set": kick all vCPUs and wait for those in guest
        mode *before* storing the bitmap, then zap the APIC page if now inhibited.
        """
        vm = self.vm
        if bool(old) != bool(new):
            yield from self.kvm_make_all_cpus_request(KVM_REQ_APICV_UPDATE)
            yield wr("store apicv_inhibit_reasons", "kvm.apicv_inhibit_reasons")
            vm.apicv_inhibit_reasons = new
            if new:
                yield from self.kvm_zap_gfn_range()
        else:
            yield wr("store apicv_inhibit_reasons", "kvm.apicv_inhibit_reasons")
            vm.apicv_inhibit_reasons = new

    # -- the per-vCPU side ------------------------------------------------------

    def kvm_vcpu_update_apicv(self, vcpu: VCpu) -> Kfunc:
        """x86.c: a vCPU in x2APIC mode on AVIC without x2AVIC must not reach the
        vAPIC page by MMIO, and SPTEs are shared by every vCPU: the APIC access
        page's memslot is deleted, for good, before __kvm_vcpu_update_apicv()."""
        if vcpu.x2apic and self.allow_apicv_in_x2apic_without_x2apic_virtualization:
            yield from self.kvm_inhibit_apic_access_page(vcpu)
        yield from self._kvm_vcpu_update_apicv(vcpu)

    def _kvm_vcpu_update_apicv(self, vcpu: VCpu) -> Kfunc:
        vm = self.vm
        yield from down_read(vm.apicv_update_lock)
        yield rd("kvm_vcpu_apicv_activated", "kvm.apicv_inhibit_reasons")
        activate = self.kvm_vcpu_apicv_activated(vcpu) and vcpu.apic_enabled
        if vcpu.apicv_active != activate:
            vcpu.apicv_active = activate
            self.refresh_apicv_exec_ctrl(vcpu)
            if not activate:
                yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from up_read(vm.apicv_update_lock)

    def vcpu_enter_guest(self, vcpu: VCpu, op: str) -> Kfunc:
        """Returns True once the guest action ``op`` has been carried out.

        vcpu_run() clears KVM_REQ_UNBLOCK between an exit and the next entry; a
        vCPU that idles after its program only re-enters for a request, so the
        clear sits at the start of the entry it was a wake-up for."""
        vcpu.requests &= ~KVM_REQ_UNBLOCK  # kvm_clear_request(KVM_REQ_UNBLOCK, vcpu)
        if (yield from self.kvm_check_request(KVM_REQ_APICV_UPDATE, vcpu)):
            yield from self.kvm_vcpu_update_apicv(vcpu)
        req_immediate_exit = False
        if (yield from self.kvm_check_request(KVM_REQ_EVENT, vcpu)) or self.kvm_xen_has_interrupt(
            vcpu
        ):
            yield from self.kvm_apic_accept_events(vcpu)
            if vcpu.mp_state == MpState.INIT_RECEIVED:
                return False  # r = 1; goto out: vcpu_run() blocks the vCPU
            req_immediate_exit = yield from self.kvm_check_and_inject_events(vcpu)
            if vcpu.apic_enabled:  # kvm_lapic_enabled(vcpu)
                self.update_cr8_intercept(vcpu)
        yield ENTER_GUEST_MODE[vcpu.name]
        vcpu.mode = Mode.IN_GUEST_MODE
        if (yield from self.kvm_request_pending(vcpu)):
            # vcpu->mode = OUTSIDE_GUEST_MODE; local_irq_enable()
            vcpu.mode = Mode.OUTSIDE_GUEST_MODE
            self.ack_ipi(vcpu)
            if req_immediate_exit:
                yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
            if self.vm.irq_source != "legacy":  # the narrow model kept EVENTINJ as is
                yield from self.cancel_injection(vcpu)
            return False
        if req_immediate_exit:
            yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield rd("WARN_ON_ONCE(activated != active)", "kvm.apicv_inhibit_reasons")
        self.WARN_ON(
            self.kvm_vcpu_apicv_activated(vcpu) != vcpu.apicv_active and vcpu.apic_enabled,
            "vcpu_enter_guest",
            "kvm_vcpu_apicv_activated(vcpu) != kvm_vcpu_apicv_active(vcpu)",
        )
        exit_reason, done = yield from self.vcpu_run(vcpu, op, req_immediate_exit)
        handler = self.exit_handlers.get(exit_reason)
        if handler is not None and (yield from getattr(self, handler)(vcpu)):
            done = True
        return done

    def kvm_check_and_inject_events(self, vcpu: VCpu) -> Kfunc:
        """The IRQ part: nested events, re-injection, injection if the guest can
        take the interrupt, else an interrupt window.

        Returns req_immediate_exit: an interrupt is pending behind one being
        re-injected, or must wait for a nested VM-exit (-EBUSY), so the entry
        must come straight back for it. The legacy model delivered no L1
        interrupt while L2 ran.
        """
        if vcpu.injected:
            yield from self.inject_irq(vcpu, True)
            yield HAS_INJECTABLE_INTR[vcpu.name]
            return self.kvm_cpu_has_injectable_intr(vcpu)
        if vcpu.guest_mode:
            if self.vm.irq_source == "legacy":
                return False
            if (yield from self.kvm_check_nested_events(vcpu)) < 0:
                return True
        yield HAS_INJECTABLE_INTR[vcpu.name]
        if not self.kvm_cpu_has_injectable_intr(vcpu):
            return False
        r = self.interrupt_allowed(vcpu)
        if r < 0:
            return True
        if r:
            vcpu.interrupt_nr = yield from self.kvm_cpu_get_interrupt(vcpu)
            vcpu.injected = True  # kvm_queue_interrupt()
            yield from self.inject_irq(vcpu, False)
            yield HAS_INJECTABLE_INTR[vcpu.name]
        if self.kvm_cpu_has_injectable_intr(vcpu):
            yield from self.enable_irq_window(vcpu)
        return False

    # -- userspace callers ----------------------------------------------------

    def kvm_ioctl_set_or_clear(self, reason: Reason, set: bool) -> Kfunc:
        """Dispatch an inhibit change to the kernel function userspace reaches."""
        if reason == Reason.PIT_REINJ and self.vm.irq_source != "legacy":
            return self.kvm_vm_ioctl_reinject(set)
        if reason == Reason.PIT_REINJ:
            return self.kvm_pit_set_reinject(set)
        if reason == Reason.BLOCKIRQ:
            return self.kvm_arch_vcpu_guestdbg_update_apicv_inhibit(set)
        return self.kvm_set_or_clear_apicv_inhibit(reason, set)

    def kvm_vm_ioctl_reinject(self, reinject: bool) -> Kfunc:
        """x86.c, KVM_REINJECT_CONTROL: kvm_pit_set_reinject() under pit_state.lock."""
        vm = self.vm
        yield from lock(vm.pit_lock, self.current)
        yield from self.kvm_pit_set_reinject(reinject)
        yield from unlock(vm.pit_lock)

    def kvm_pit_set_reinject(self, reinject: bool) -> Kfunc:
        """i8254.c: nothing to do, and no inhibit update, if the mode is unchanged.
        ps->reinject is only written under pit_state.lock, which the caller holds:
        its accesses need no scheduling point of their own. (The legacy model, the
        format-1 reproducers', called it without the lock and without the test.)"""
        vm = self.vm
        legacy = vm.irq_source == "legacy"
        if not legacy and vm.pit_reinject == reinject:  # atomic_read(&ps->reinject)
            return
        if reinject:
            yield from self.kvm_set_apicv_inhibit(Reason.PIT_REINJ)
        else:
            yield from self.kvm_clear_apicv_inhibit(Reason.PIT_REINJ)
        vm.pit_reinject = reinject  # atomic_set(&ps->reinject, reinject)

    def kvm_arch_vcpu_guestdbg_update_apicv_inhibit(self, set: bool) -> Kfunc:
        """KVM_SET_GUEST_DEBUG with BLOCKIRQ on a vCPU outside the scenario (vCPU
        ioctls serialise with that vCPU's KVM_RUN on vcpu->mutex); it takes the lock
        itself and calls the locked body."""
        vm = self.vm
        if not vm.enable_apicv:
            return
        yield from down_write(vm.apicv_update_lock, self.current)
        yield from self._kvm_set_or_clear_apicv_inhibit(Reason.BLOCKIRQ, set)
        yield from up_write(vm.apicv_update_lock)

    def kvm_pic_set_irq(self, vcpu: VCpu) -> Kfunc:
        """The PIC raises INTR for ``vcpu``; pic_unlock() then requests an event
        evaluation and kicks the vCPU (no wait)."""
        yield wr("pic_update_irq: raise INTR", f"{vcpu.name}.ExtINT")
        vcpu.extint_pending = True
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from self.kvm_vcpu_kick(vcpu)


class X86ApicBase:
    """The guest's switch to x2APIC mode (x86.c, lapic.c)."""

    def kvm_emulate_wrmsr_apic_base(self, vcpu: VCpu) -> Kfunc:
        """The intercepted WRMSR of IA32_APIC_BASE with X2APIC_ENABLE set
        (kvm_emulate_wrmsr -> kvm_set_msr_common -> kvm_apic_set_base)."""
        yield from self.kvm_apic_set_base(vcpu, x2apic=True)
        return True

    def kvm_apic_set_base(self, vcpu: VCpu, x2apic: bool) -> Kfunc:
        """lapic.c: a change of X2APIC_ENABLE asks the vCPU to refresh APICv
        (KVM_REQ_APICV_UPDATE) and switches the virtual APIC mode (on SVM,
        avic_refresh_virtual_apic_mode: MSR intercepts only). The APIC map's own
        inhibits (kvm_recalculate_apic_map) are left to the inhibit ioctls."""
        if vcpu.x2apic == x2apic:
            return
        yield wr("vcpu->arch.apic_base = value", f"{vcpu.name}.apic")
        vcpu.x2apic = x2apic
        yield from self.kvm_make_request(KVM_REQ_APICV_UPDATE, vcpu)

    def kvm_inhibit_apic_access_page(self, vcpu: VCpu) -> Kfunc:
        """lapic.c: delete the APIC access page's memslot under slots_lock, then
        clear "enabled" (after the deletion, so that a vCPU testing it without the
        lock never skips a deletion still in progress) and set "inhibited" (sticky:
        a hotplugged vCPU does not re-create it). The caller drops SRCU first."""
        vm = self.vm
        yield rd("apic_access_memslot_enabled", "kvm.apic_memslot")
        if not vm.apic_access_memslot_enabled:
            return
        yield from lock(vm.slots_lock, self.current)  # after kvm_vcpu_srcu_read_unlock()
        yield rd("apic_access_memslot_enabled", "kvm.apic_memslot")
        if vm.apic_access_memslot_enabled:
            yield from self.kvm_set_memslot_delete()  # __x86_set_memory_region(.., 0, 0)
            yield wr("apic_access_memslot_enabled = false; inhibited = true", "kvm.apic_memslot")
            vm.apic_access_memslot_enabled = False
            vm.apic_access_memslot_inhibited = True
        yield from unlock(vm.slots_lock)


class X86Reset:
    """INIT, SIPI and userspace's reset of a vCPU (x86.c, lapic.c)."""

    def kvm_apic_has_pending_init_or_sipi(self, vcpu: VCpu) -> bool:
        """lapic.h: apic->pending_events != 0."""
        return vcpu.init_pending or vcpu.sipi_pending

    def kvm_apic_init_sipi_allowed(self, vcpu: VCpu) -> bool:
        """lapic.h: no SMM in the model; SVM blocks INIT while GIF=0."""
        return not self.apic_init_signal_blocked(vcpu)

    def kvm_apic_accept_events(self, vcpu: VCpu) -> Kfunc:
        """lapic.c: an INIT resets the vCPU into wait-for-SIPI (the BSP, vCPU 0,
        stays runnable); a SIPI in wait-for-SIPI makes it runnable. INIT stays
        latched while it is blocked (GIF=0); a SIPI that cannot be taken is dropped.

        In L2 the kernel first runs kvm_check_nested_events(); the model's L1 does
        not intercept INIT, so that returns 0 and kvm_vcpu_reset() forces the vCPU
        back to L1, unless the VMRUN L1 executed is still pending (-EBUSY: the
        events wait for the next entry)."""
        # The sender sets pending_events before KVM_REQ_EVENT, so an event seen as
        # a request is seen here too, and a later one leaves KVM_REQ_EVENT set.
        if not self.kvm_apic_has_pending_init_or_sipi(vcpu):
            return
        if vcpu.guest_mode and (yield from self.kvm_check_nested_events(vcpu)) < 0:
            return
        yield rd("apic->pending_events", f"{vcpu.name}.apic")
        if not self.kvm_apic_init_sipi_allowed(vcpu):
            vcpu.sipi_pending = False  # clear_bit(KVM_APIC_SIPI, &apic->pending_events)
            return
        if vcpu.init_pending:  # test_and_clear_bit(KVM_APIC_INIT, ...)
            vcpu.init_pending = False
            yield from self.kvm_vcpu_reset(vcpu, True)
            vcpu.mp_state = MpState.RUNNABLE if vcpu.id == 0 else MpState.INIT_RECEIVED
        if vcpu.sipi_pending:  # test_and_clear_bit(KVM_APIC_SIPI, ...)
            vcpu.sipi_pending = False
            if vcpu.mp_state == MpState.INIT_RECEIVED:
                # vcpu_deliver_sipi_vector(); kvm_set_mp_state(RUNNABLE)
                vcpu.mp_state = MpState.RUNNABLE

    def kvm_vcpu_running(self, vcpu: VCpu) -> bool:
        return vcpu.mp_state == MpState.RUNNABLE

    def _wfs_wakeup(self, vcpu: VCpu) -> bool:
        """kvm_vcpu_has_events() for a vCPU in wait-for-SIPI (IF=0 after a reset,
        so only an INIT or SIPI counts)."""
        return self.kvm_apic_has_pending_init_or_sipi(vcpu) and self.kvm_apic_init_sipi_allowed(
            vcpu
        )

    def kvm_vcpu_reset(self, vcpu: VCpu, init_event: bool) -> Kfunc:
        """x86.c: leave L2 (SVM does not always exit on INIT), reset the local APIC,
        drop the queued interrupt (kvm_clear_interrupt_queue), RFLAGS = 2, raise
        KVM_REQ_EVENT, then the vendor's vcpu_reset."""
        if vcpu.guest_mode:
            yield from self.leave_nested(vcpu)  # kvm_leave_nested()
        yield from self.kvm_lapic_reset(vcpu, init_event)
        yield wr("kvm_clear_interrupt_queue; kvm_set_rflags(X86_EFLAGS_FIXED)", f"{vcpu.name}.vmcb")
        vcpu.injected = False
        vcpu.in_service = False  # the LAPIC's ISR is cleared; an acked ExtINT is dropped
        vcpu.guest_if = False
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from self.vcpu_reset(vcpu, init_event)

    def kvm_arch_vcpu_ioctl_set_mpstate(self, vcpu: VCpu, mp_state: MpState) -> Kfunc:
        """x86.c KVM_SET_MP_STATE: refused for INIT_RECEIVED while INIT is blocked
        (GIF=0); otherwise kvm_set_mp_state() and KVM_REQ_EVENT. Nothing is reset."""
        if mp_state == MpState.INIT_RECEIVED and not self.kvm_apic_init_sipi_allowed(vcpu):
            return
        yield wr(f"kvm_set_mp_state({mp_state.name})", f"{vcpu.name}.mp_state")
        vcpu.mp_state = mp_state
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)

    def userspace_reset(self, vcpu: VCpu) -> Kfunc:
        """What a VMM's system reset does to a vCPU between two KVM_RUNs (QEMU's
        kvm_arch_put_registers(KVM_PUT_RESET_STATE)), in its order: KVM_SET_REGS
        (RFLAGS.IF=0), KVM_SET_SREGS (APIC base: xAPIC mode), KVM_SET_LAPIC (IRR/ISR
        clear, LVT0 ExtINT on the BSP only), KVM_SET_VCPU_EVENTS (no queued
        interrupt), KVM_SET_NESTED_STATE (L1, GIF=1), KVM_SET_MP_STATE
        (INIT_RECEIVED for an AP). No vendor reset runs: the VMCB keeps V_IRQ and
        avic_irq_window."""
        yield wr("KVM_SET_REGS: RFLAGS = 2", f"{vcpu.name}.vmcb")
        vcpu.guest_if = False
        yield from self.kvm_apic_set_base(vcpu, x2apic=False)  # KVM_SET_SREGS: apic_base
        yield from self.kvm_vcpu_ioctl_set_lapic(vcpu)
        yield wr("KVM_SET_VCPU_EVENTS: interrupt.injected = 0", f"{vcpu.name}.vmcb")
        vcpu.injected = False
        if self.vm.vendor == "svm":
            yield from self.svm_set_nested_state(vcpu)
        yield from self.kvm_arch_vcpu_ioctl_set_mpstate(
            vcpu, MpState.RUNNABLE if vcpu.id == 0 else MpState.INIT_RECEIVED
        )

    def kvm_vcpu_ioctl_set_lapic(self, vcpu: VCpu) -> Kfunc:
        """KVM_SET_LAPIC with the VMM's reset state: kvm_apic_set_state() (IRR/ISR
        clear, TASKPRI 0, LVT0 ExtINT on the BSP only; KVM_REQ_EVENT), then
        update_cr8_intercept(). A host write of the TPR: only the next
        sync_lapic_to_cr8() tells the CPU."""
        yield wr("KVM_SET_LAPIC: kvm_apic_set_state", f"{vcpu.name}.lapic")
        vcpu.lvt0_extint = vcpu.id == 0
        vcpu.lapic_irr = False
        vcpu.in_service = False
        vcpu.tpr_high = False
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        self.update_cr8_intercept(vcpu)


def set_or_clear_apicv_inhibit(reasons: int, reason: Reason, set: bool) -> int:
    return reasons | bit(reason) if set else reasons & ~bit(reason)
