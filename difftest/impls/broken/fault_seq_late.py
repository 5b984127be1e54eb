"""broken-fault-seq-late: the APIC-page fault snapshots mmu_invalidate_seq after
its unlocked APICv check instead of before it.

Bug class: check-then-snapshot (a validity token taken after the check it is
meant to validate).

Changes ``final`` in kvm_mmu_page_fault() only (the kvm_mmu_faultin_pfn() part):
kvm_apicv_activated() is read first, fault->mmu_seq second. The kernel takes
the snapshot before anything else in kvm_mmu_faultin_pfn() (since "KVM:
x86/mmu: Grab mmu_invalidate_seq in kvm_faultin_pfn()", ba6e3fe25543, and the
later move of the snapshot to the top of that function): the unlocked APICv
check is safe only because a zap that follows it bumps the sequence the fault
already holds ("KVM: x86/mmu: Use vCPU's APICv status when handling APIC_ACCESS
memslot": the mmu_notifier_seq mechanism is required for correctness).

Breaks with: vCPU A faults and sees APICv activated; an inhibit update stores
the bitmap and zaps (sequence bumped); A only now snapshots the sequence, finds
the fault fresh and installs the SPTE. A deactivates APICv as requested and
accesses the APIC page through it (missed APIC-page intercept).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, Point, rd, wr
from difftest.engine.sync import down_read, up_read
from difftest.impls.final import Final
from difftest.model.state import MEMSLOT_INVALID, MEMSLOT_NONE, MEMSLOT_VALID, VCpu


class FaultSeqLate(Final):
    name = "broken-fault-seq-late"

    def kvm_mmu_page_fault(self, vcpu: VCpu) -> Kfunc:
        vm = self.vm
        slot = MEMSLOT_VALID
        if vm.irq_source != "legacy":
            yield rd("fault.slot = kvm_vcpu_gfn_to_memslot", "kvm.apic_memslot")
            slot = vm.apic_memslot
        held = slot == MEMSLOT_VALID and vm.irq_source != "legacy"
        if held:
            vm.apic_memslot_readers += 1
        if slot == MEMSLOT_NONE:
            return True
        if slot == MEMSLOT_INVALID:
            yield Point(
                "RET_PF_RETRY while the memslot is invalid",
                "kvm.apic_memslot",
                False,
                lambda: vm.apic_memslot != MEMSLOT_INVALID,
            )
            return False
        yield rd("kvm_apicv_activated", "kvm.apicv_inhibit_reasons")
        if not self.kvm_apicv_activated():
            if held:
                vm.apic_memslot_readers -= 1
            return True
        # mutation: the snapshot comes after the APICv check
        yield rd("fault->mmu_seq = mmu_invalidate_seq", "kvm.mmu_invalidate")
        mmu_seq = vm.mmu_invalidate_seq
        yield from down_read(vm.mmu_lock)
        yield rd("is_page_fault_stale", "kvm.mmu_invalidate")
        if not (vm.mmu_invalidate_in_progress or vm.mmu_invalidate_seq != mmu_seq):
            yield wr("kvm_tdp_mmu_map: install SPTE", "kvm.apic_spte")
            vm.apic_spte = True
        yield from up_read(vm.mmu_lock)
        if held:
            vm.apic_memslot_readers -= 1
        return False
