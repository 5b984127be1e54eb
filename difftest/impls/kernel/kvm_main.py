"""virt/kvm/kvm_main.c: requests and kicks, and the deletion of a memslot."""

from __future__ import annotations

from difftest.engine.points import Kfunc, Point, Points, rd, wr
from difftest.model.state import MEMSLOT_INVALID, MEMSLOT_NONE, REQ_NAMES, Mode, VCpu

# The scheduling points of the functions below, by (request, vCPU name) or vCPU
# name: made once, then looked up at each step (see ``Points``).
MAKE_REQUEST = Points(lambda req, v: wr(f"make_request({REQ_NAMES[req]})", f"{v}.requests"))
CHECK_REQUEST = Points(lambda req, v: wr(f"check_request({REQ_NAMES[req]})", f"{v}.requests"))
KICK = Points(lambda v: wr(f"kick {v}", f"{v}.mode"))
EXIT_REQUEST = Points(lambda v: rd("kvm_vcpu_exit_request", f"{v}.requests"))


class KvmMain:
    vm: object

    def kvm_make_request(self, req: int, vcpu: VCpu) -> Kfunc:
        yield MAKE_REQUEST[req, vcpu.name]
        vcpu.requests |= req

    def kvm_check_request(self, req: int, vcpu: VCpu) -> Kfunc:
        yield CHECK_REQUEST[req, vcpu.name]
        if vcpu.requests & req:
            vcpu.requests &= ~req
            return True
        return False

    def kvm_vcpu_exiting_guest_mode(self, vcpu: VCpu) -> Kfunc:
        """cmpxchg(&vcpu->mode, IN_GUEST_MODE, EXITING_GUEST_MODE); returns the old mode."""
        yield KICK[vcpu.name]
        old = vcpu.mode
        if old == Mode.IN_GUEST_MODE:
            vcpu.mode = Mode.EXITING_GUEST_MODE
        return old

    def kvm_vcpu_kick(self, vcpu: VCpu) -> Kfunc:
        """Kick without waiting: the IPI makes a running vCPU exit the guest."""
        yield from self.kvm_vcpu_exiting_guest_mode(vcpu)

    def kvm_make_all_cpus_request(self, req: int) -> Kfunc:
        """kvm_make_vcpus_request_mask() + kvm_kick_many_cpus(wait=true).

        ``req`` carries KVM_REQUEST_WAIT: every vCPU whose mode was not
        OUTSIDE_GUEST_MODE gets an IPI and the caller spins until each has
        handled it, i.e. has left guest mode with interrupts enabled.
        """
        targets = []
        for v in self.vm.vcpus:
            yield from self.kvm_make_request(req, v)
            # kvm_request_needs_ipi(); smp_mb__after_atomic() orders the two.
            if (yield from self.kvm_vcpu_exiting_guest_mode(v)) != Mode.OUTSIDE_GUEST_MODE:
                v.ipi_pending = True
                targets.append(v)
        for v in targets:
            yield Point(
                "wait for IPI ack",
                f"{v.name}.mode",
                False,
                lambda v=v: not v.ipi_pending,
            )

    @staticmethod
    def ack_ipi(vcpu: VCpu) -> None:
        """The vCPU is outside guest mode with IRQs on: a pending kick IPI is handled."""
        vcpu.ipi_pending = False

    def kvm_request_pending(self, vcpu: VCpu) -> Kfunc:
        yield EXIT_REQUEST[vcpu.name]
        return vcpu.mode == Mode.EXITING_GUEST_MODE or vcpu.requests != 0

    def kvm_set_memslot_delete(self) -> Kfunc:
        """kvm_set_memslot(KVM_MR_DELETE) of the APIC access page's memslot:
        kvm_invalidate_memslot() installs a KVM_MEMSLOT_INVALID copy (new faults
        retry), waits for the SRCU readers of the old one (faults in flight), and
        zaps its SPTEs; kvm_delete_memslot() then removes it (faults emulate).
        Only the page fault reads this memslot, so only faults holding the valid
        one are waited for: any other SRCU reader could only delay the deletion."""
        vm = self.vm
        yield wr("kvm_invalidate_memslot: KVM_MEMSLOT_INVALID", "kvm.apic_memslot")
        vm.apic_memslot = MEMSLOT_INVALID
        yield Point(
            "synchronize_srcu", "kvm.apic_memslot", False, lambda: vm.apic_memslot_readers == 0
        )
        yield from self.kvm_arch_flush_shadow_memslot()
        yield wr("kvm_delete_memslot", "kvm.apic_memslot")
        vm.apic_memslot = MEMSLOT_NONE
