"""arch/x86/kvm/mmu/mmu.c and the invalidation bookkeeping of kvm_main.c,
reduced to the one gfn that matters: the APIC access page."""

from __future__ import annotations

from difftest.engine.points import Kfunc, Point, rd, wr
from difftest.engine.sync import down_read, down_write, up_read, up_write
from difftest.model.state import MEMSLOT_INVALID, MEMSLOT_NONE, MEMSLOT_VALID, VCpu


class Mmu:
    def kvm_zap_gfn_range(self) -> Kfunc:
        """Zap the APIC gfn in every root, wrapped in an MMU invalidation."""
        vm = self.vm
        yield from down_write(vm.mmu_lock, self.current)  # write_lock(&kvm->mmu_lock)
        yield from self.kvm_mmu_invalidate_begin()
        yield wr("kvm_tdp_mmu_zap_leafs + flush", "kvm.apic_spte")
        vm.apic_spte = False
        yield from self.kvm_mmu_invalidate_end()
        yield from up_write(vm.mmu_lock)

    def kvm_mmu_invalidate_begin(self) -> Kfunc:
        yield wr("mmu_invalidate_in_progress++", "kvm.mmu_invalidate")
        self.vm.mmu_invalidate_in_progress += 1

    def kvm_mmu_invalidate_end(self) -> Kfunc:
        yield wr("mmu_invalidate_seq++; in_progress--", "kvm.mmu_invalidate")
        self.vm.mmu_invalidate_seq += 1
        self.vm.mmu_invalidate_in_progress -= 1

    def kvm_arch_flush_shadow_memslot(self) -> Kfunc:
        """kvm_mmu_zap_memslot(): zap the memslot's SPTEs under the write lock. No
        invalidation sequence: faults on the memslot retry or have finished (SRCU)."""
        vm = self.vm
        yield from down_write(vm.mmu_lock, self.current)
        yield wr("kvm_unmap_gfn_range + flush", "kvm.apic_spte")
        vm.apic_spte = False
        yield from up_write(vm.mmu_lock)

    def kvm_mmu_page_fault(self, vcpu: VCpu) -> Kfunc:
        """NPF on the APIC gfn from L1. Returns True if the access was emulated
        (done), False if the guest must retry it (SPTE installed, or stale fault).

        kvm_mmu_do_page_fault() looks up the memslot under SRCU (the legacy model's
        never changes); kvm_mmu_faultin_pfn() snapshots the invalidation sequence
        before anything else, emulates without a memslot and retries on one being
        deleted; the APIC check reads the VM-wide state without the lock. A fault
        that found the valid memslot holds it (SRCU) until it returns.
        """
        vm = self.vm
        slot = MEMSLOT_VALID
        if vm.irq_source != "legacy":
            yield rd("fault.slot = kvm_vcpu_gfn_to_memslot", "kvm.apic_memslot")
            slot = vm.apic_memslot
        held = slot == MEMSLOT_VALID and vm.irq_source != "legacy"
        if held:
            vm.apic_memslot_readers += 1
        yield rd("fault->mmu_seq = mmu_invalidate_seq", "kvm.mmu_invalidate")
        mmu_seq = vm.mmu_invalidate_seq
        if slot == MEMSLOT_NONE:
            return True  # kvm_handle_noslot_fault(): MMIO, emulated
        if slot == MEMSLOT_INVALID:
            # RET_PF_RETRY until kvm_delete_memslot(): the guest spins on the access
            # while the deleter runs on another CPU. Modelled as a wait, so that a
            # schedule starving the deleter is not a livelock of the kernel's.
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
            return True  # RET_PF_EMULATE: the access is intercepted and emulated
        yield from down_read(vm.mmu_lock)  # read_lock(&kvm->mmu_lock), TDP MMU
        yield rd("is_page_fault_stale", "kvm.mmu_invalidate")
        if not (vm.mmu_invalidate_in_progress or vm.mmu_invalidate_seq != mmu_seq):
            yield wr("kvm_tdp_mmu_map: install SPTE", "kvm.apic_spte")
            vm.apic_spte = True
        yield from up_read(vm.mmu_lock)
        if held:
            vm.apic_memslot_readers -= 1
        return False  # RET_PF_RETRY / RET_PF_FIXED: the guest re-executes the access
