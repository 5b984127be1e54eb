"""broken-counter-plain-add: the IRQ-window counter is updated with a plain
load and store instead of atomic_add().

Bug class: a non-atomic read-modify-write under a shared lock (the read side of
an rwsem excludes writers, not other readers).

Changes ``final`` in kvm_inc_or_dec_irq_window_inhibit() only: on the lazy path,
under apicv_update_lock held for read, the counter is read and written back in
two steps. apicv_nr_irq_window_req is an atomic_t exactly because several vCPUs
update it concurrently under the read lock.

Breaks with: PIT_REINJ set; vCPUs A and B both ask for a window, both load the
counter as 0 and both store 1: one window is forgotten, and when both windows
close the second decrement takes the counter to -1 (counter underflow).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.engine.sync import (
    atomic_add_return,
    atomic_read,
    atomic_set,
    down_read,
    down_write,
    up_read,
    up_write,
)
from difftest.impls.final import Final
from difftest.model.state import IRQWIN_BIT, Reason


class CounterPlainAdd(Final):
    name = "broken-counter-plain-add"

    def kvm_inc_or_dec_irq_window_inhibit(self, inc: bool) -> Kfunc:
        vm = self.vm
        add = 1 if inc else -1
        if not vm.enable_apicv:
            return
        yield rd("READ_ONCE(apicv_inhibit_reasons) & ~IRQWIN", "kvm.apicv_inhibit_reasons")
        if vm.apicv_inhibit_reasons & ~IRQWIN_BIT:
            yield from down_read(vm.apicv_update_lock)
            yield rd("READ_ONCE(apicv_inhibit_reasons) & ~IRQWIN", "kvm.apicv_inhibit_reasons")
            if vm.apicv_inhibit_reasons & ~IRQWIN_BIT:
                # mutation: nr = apicv_nr_irq_window_req; apicv_nr_irq_window_req = nr + add
                yield rd("nr = apicv_nr_irq_window_req", "kvm.irq_window_count")
                nr = atomic_read(vm.apicv_nr_irq_window_req)
                yield wr("apicv_nr_irq_window_req = nr + add", "kvm.irq_window_count")
                atomic_set(vm.apicv_nr_irq_window_req, nr + add)
                yield from up_read(vm.apicv_update_lock)
                return
            yield from up_read(vm.apicv_update_lock)
        yield from down_write(vm.apicv_update_lock, self.current)
        yield wr("atomic_add_return(&apicv_nr_irq_window_req)", "kvm.irq_window_count")
        if atomic_add_return(add, vm.apicv_nr_irq_window_req) == int(inc):
            yield from self._kvm_set_or_clear_apicv_inhibit(Reason.IRQWIN, inc)
        yield from up_write(vm.apicv_update_lock)
