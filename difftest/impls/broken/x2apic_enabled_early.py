"""broken-x2apic-enabled-early: kvm_inhibit_apic_access_page() clears
apic_access_memslot_enabled before it deletes the memslot instead of after.

Bug class: a "done" flag published before the work it stands for, read by
others without the lock.

Changes ``final`` in kvm_inhibit_apic_access_page() only. The kernel clears the
flag after __x86_set_memory_region() so that "a different vCPU doesn't get a
false negative when checking the flag out of slots_lock" (lapic.c).

Breaks with: vCPU A and vCPU B switch to x2APIC mode on AVIC without x2AVIC,
with an SPTE mapping the APIC page. A takes slots_lock, clears the flag and is
preempted before the zap; B's kvm_vcpu_update_apicv() sees the flag clear,
skips the deletion, enters the guest and reaches the vAPIC page by MMIO through
the SPTE (missed APIC-page intercept).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.engine.sync import lock, unlock
from difftest.impls.final import Final
from difftest.model.state import VCpu


class X2apicEnabledEarly(Final):
    name = "broken-x2apic-enabled-early"

    def kvm_inhibit_apic_access_page(self, vcpu: VCpu) -> Kfunc:
        vm = self.vm
        yield rd("apic_access_memslot_enabled", "kvm.apic_memslot")
        if not vm.apic_access_memslot_enabled:
            return
        yield from lock(vm.slots_lock, self.current)
        yield rd("apic_access_memslot_enabled", "kvm.apic_memslot")
        if vm.apic_access_memslot_enabled:
            # mutation: the flag is cleared before the memslot is deleted
            yield wr("apic_access_memslot_enabled = false; inhibited = true", "kvm.apic_memslot")
            vm.apic_access_memslot_enabled = False
            vm.apic_access_memslot_inhibited = True
            yield from self.kvm_set_memslot_delete()
        yield from unlock(vm.slots_lock)
