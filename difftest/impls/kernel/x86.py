"""arch/x86/kvm/x86.c (and the userspace-facing callers of the inhibit API).

Only what the IRQ-window patches leave alone is here; the functions they change
(``__kvm_set_or_clear_apicv_inhibit`` and the SVM window functions) are in
``difftest/impls/prepatch.py`` and are overridden by each later version.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, Points, rd, wr
from difftest.engine.sync import down_read, down_write, up_read, up_write
from difftest.model.state import (
    KVM_REQ_APICV_UPDATE,
    KVM_REQ_EVENT,
    KVM_REQ_UNBLOCK,
    Mode,
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
        return self._kvm_vcpu_update_apicv(vcpu)

    def _kvm_vcpu_update_apicv(self, vcpu: VCpu) -> Kfunc:
        vm = self.vm
        yield from down_read(vm.apicv_update_lock)
        yield rd("kvm_vcpu_apicv_activated", "kvm.apicv_inhibit_reasons")
        activate = self.kvm_vcpu_apicv_activated(vcpu) and vcpu.apic_enabled
        if vcpu.apicv_active != activate:
            vcpu.apicv_active = activate
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
            req_immediate_exit = yield from self.kvm_check_and_inject_events(vcpu)
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
        exit_reason, done = yield from self.vcpu_run(vcpu, op)
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
        if reason == Reason.PIT_REINJ:
            return self.kvm_pit_set_reinject(set)
        if reason == Reason.BLOCKIRQ:
            return self.kvm_arch_vcpu_guestdbg_update_apicv_inhibit(set)
        return self.kvm_set_or_clear_apicv_inhibit(reason, set)

    def kvm_pit_set_reinject(self, reinject: bool) -> Kfunc:
        """i8254.c, KVM_REINJECT_CONTROL."""
        if reinject:
            yield from self.kvm_set_apicv_inhibit(Reason.PIT_REINJ)
        else:
            yield from self.kvm_clear_apicv_inhibit(Reason.PIT_REINJ)

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


def set_or_clear_apicv_inhibit(reasons: int, reason: Reason, set: bool) -> int:
    return reasons | bit(reason) if set else reasons & ~bit(reason)
