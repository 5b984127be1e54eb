"""Where interrupts come from: arch/x86/kvm/irq.c, i8259.c, lapic.c, xen.c.

An ExtINT has three sources in the kernel (``kvm_cpu_has_extint``): the Xen
upcall vector (per vCPU, level: ``evtchn_upcall_pending`` stays set until the
guest clears it), the in-kernel i8259 (one VM-wide output, seen by every vCPU
whose LVT0 accepts ExtINT, lowered for all by one ack) and the split irqchip's
``KVM_INTERRUPT`` (per vCPU, gated by LVT0 too). Fixed LAPIC interrupts go to the
IRR; AVIC delivers them itself while it is active, KVM injects them otherwise.
The scenario's ``irq_source`` says which source the VM uses.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.model.state import KVM_REQ_EVENT, KVM_REQ_UNBLOCK, VCpu


class Irq:
    # -- irq.c -----------------------------------------------------------------

    def kvm_cpu_has_extint(self, vcpu: VCpu) -> bool:
        """An interrupt from a non-APIC source, without intack."""
        if self.kvm_xen_has_interrupt(vcpu):
            return True
        if not self.kvm_apic_accept_pic_intr(vcpu):
            return False
        if self.vm.irq_source == "pic":
            return self.vm.pic_output  # v->kvm->arch.vpic->output
        return vcpu.extint_pending  # pending_userspace_extint() (legacy: per-vCPU PIC)

    def kvm_cpu_has_injectable_intr(self, vcpu: VCpu) -> bool:
        """With APICv active in L1, LAPIC interrupts are the hardware's business."""
        if self.kvm_cpu_has_extint(vcpu):
            return True
        if not vcpu.guest_mode and vcpu.apicv_active:
            return False
        return self.kvm_apic_has_interrupt(vcpu)

    def kvm_cpu_has_interrupt(self, vcpu: VCpu) -> bool:
        return self.kvm_cpu_has_extint(vcpu) or self.kvm_apic_has_interrupt(vcpu)

    def kvm_cpu_get_interrupt(self, vcpu: VCpu) -> Kfunc:
        """Read the pending vector and intack. Returns what was taken."""
        if self.kvm_cpu_has_extint(vcpu):
            return (yield from self.kvm_cpu_get_extint(vcpu))
        yield wr("kvm_get_apic_interrupt: IRR -> ISR", f"{vcpu.name}.lapic")
        vcpu.lapic_irr = False
        vcpu.in_service = True
        return "lapic"

    def kvm_cpu_get_extint(self, vcpu: VCpu) -> Kfunc:
        if self.kvm_xen_has_interrupt(vcpu):
            # kvm->arch.xen.upcall_vector; nothing is acknowledged.
            return "xen"
        if self.vm.irq_source == "pic":
            yield from self.kvm_pic_read_irq()
        else:
            yield wr("kvm_cpu_get_interrupt", f"{vcpu.name}.ExtINT")
            vcpu.extint_pending = False  # pending_external_vector = -1
        vcpu.in_service = True
        return "extint"

    # -- lapic.c ---------------------------------------------------------------

    def kvm_lapic_reset(self, vcpu: VCpu, init_event: bool) -> Kfunc:
        """Every LVT entry masked, IRR and ISR cleared, TASKPRI 0; with
        KVM_X86_QUIRK_LINT0_REENABLED the BSP's LINT0 is ExtINT again."""
        yield wr("kvm_lapic_reset: LVTs masked, IRR/ISR cleared", f"{vcpu.name}.lapic")
        vcpu.lvt0_extint = vcpu.id == 0  # kvm_vcpu_is_reset_bsp()
        vcpu.lapic_irr = False
        vcpu.tpr_high = False

    def _apic_accept_irq(self, vcpu: VCpu, delivery_mode: str) -> Kfunc:
        """__apic_accept_irq(), its APIC_DM_INIT and APIC_DM_STARTUP cases (an IPI
        from a vCPU outside the scenario)."""
        yield wr(f"pending_events |= {delivery_mode}", f"{vcpu.name}.apic")
        if delivery_mode == "INIT":
            # apic->pending_events = (1UL << KVM_APIC_INIT)
            vcpu.init_pending, vcpu.sipi_pending = True, False
        else:
            vcpu.sipi_pending = True  # set_bit(KVM_APIC_SIPI, &apic->pending_events)
        yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
        yield from self.kvm_vcpu_kick(vcpu)

    def kvm_apic_accept_pic_intr(self, vcpu: VCpu) -> bool:
        """LVT0 unmasked in ExtINT mode, or the local APIC hardware-disabled."""
        return vcpu.lvt0_extint or not vcpu.apic_enabled

    def kvm_apic_has_interrupt(self, vcpu: VCpu) -> bool:
        """The highest IRR vector above PPR: here, the vector unless TASKPRI masks
        it (apic_has_interrupt_for_ppr(); the ISR does not raise PPR in the model)."""
        return vcpu.lapic_irr and vcpu.apic_enabled and not vcpu.tpr_high

    def kvm_apic_set_irq(self, vcpu: VCpu) -> Kfunc:
        """A fixed interrupt for ``vcpu`` (IPI, timer, MSI): __apic_accept_irq()."""
        yield from self.svm_deliver_interrupt(vcpu)

    def svm_deliver_interrupt(self, vcpu: VCpu) -> Kfunc:
        """svm_deliver_interrupt() + svm_complete_interrupt_delivery() (VMX's
        posted-interrupt path has the same shape: IRR, then REQ_EVENT and a kick
        only if APICv is off on the target)."""
        yield wr("kvm_lapic_set_irr; smp_mb__after_atomic", f"{vcpu.name}.lapic")
        vcpu.lapic_irr = True
        yield rd("smp_load_acquire(&vcpu->mode); READ_ONCE(apicv_active)", f"{vcpu.name}.mode")
        if not vcpu.apicv_active:
            # Process the interrupt via kvm_check_and_inject_events().
            yield from self.kvm_make_request(KVM_REQ_EVENT, vcpu)
            yield from self.kvm_vcpu_kick(vcpu)
            return
        # avic_ring_doorbell() if IN_GUEST_MODE, else kvm_vcpu_wake_up(): either
        # way the hardware processes the vIRR (now, or at the next VMRUN).

    # -- i8259.c -----------------------------------------------------------------

    def pic_update_irq(self) -> None:
        """pic_irq_request(): the output follows IRR & ~IMR; a rising edge needs a wakeup."""
        vm = self.vm
        level = vm.pic_irr and not vm.pic_imr
        if not vm.pic_output and level:
            vm.pic_wakeup_needed = True
        vm.pic_output = level

    def pic_unlock(self) -> Kfunc:
        """Kick the first vCPU that accepts PIC interrupts, and only that one."""
        vm = self.vm
        wakeup, vm.pic_wakeup_needed = vm.pic_wakeup_needed, False
        if not wakeup:
            return
        for v in vm.vcpus:
            if self.kvm_apic_accept_pic_intr(v):
                yield from self.kvm_make_request(KVM_REQ_EVENT, v)
                yield from self.kvm_vcpu_kick(v)
                return

    def kvm_pic_read_irq(self) -> Kfunc:
        """The intack: IRR -> ISR (edge), and the output drops for every vCPU."""
        yield wr("kvm_pic_read_irq: pic_lock; intack; pic_update_irq", "kvm.pic")
        self.vm.pic_irr = False
        self.pic_update_irq()
        yield from self.pic_unlock()

    def kvm_i8259_op(self, op: str) -> Kfunc:
        """``raise``: kvm_pic_set_irq() on an edge IRQ; ``mask``/``unmask``: a
        guest OCW1 write (pic_ioport_write) from a vCPU outside the scenario."""
        vm = self.vm
        yield wr(f"pic {op}: pic_lock; pic_update_irq", "kvm.pic")
        if op == "raise":
            vm.pic_irr = True
        else:
            vm.pic_imr = op == "mask"
        self.pic_update_irq()
        yield from self.pic_unlock()

    # -- xen.c -------------------------------------------------------------------

    def kvm_xen_has_interrupt(self, vcpu: VCpu) -> bool:
        """The global upcall vector is pending while evtchn_upcall_pending is set."""
        return vcpu.xen_upcall

    def kvm_xen_set_evtchn(self, vcpu: VCpu) -> Kfunc:
        """kvm_xen_set_evtchn_fast(): set evtchn_upcall_pending, then
        KVM_REQ_UNBLOCK and a kick; no KVM_REQ_EVENT (vcpu_enter_guest() checks
        kvm_xen_has_interrupt() on every entry)."""
        yield wr("vcpu_info->evtchn_upcall_pending = 1", f"{vcpu.name}.ExtINT")
        vcpu.xen_upcall = True
        yield from self.kvm_make_request(KVM_REQ_UNBLOCK, vcpu)
        yield from self.kvm_vcpu_kick(vcpu)
