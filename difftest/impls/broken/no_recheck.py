"""broken-no-recheck: the lazy path trusts its lockless peek and does not
re-check under apicv_update_lock.

Bug class: check outside the lock, act inside it (time-of-check to time-of-use).

Changes ``final`` in kvm_inc_or_dec_irq_window_inhibit() only: when the lockless
READ_ONCE() sees another reason set, it takes the read lock and adds to the
counter without looking again. The merged patch re-checks under the read lock
because the other reason may have been cleared in between, and the clear
recomputed IRQWIN from the counter before this increment landed.

Breaks with: PIT_REINJ set; vCPU A asks for a window and peeks PIT_REINJ;
userspace clears PIT_REINJ (the locked body recomputes IRQWIN from a counter of
0, the bitmap goes to 0); A adds 1 under the read lock and arms V_IRQ with AVIC
active: nothing will ever inhibit for A (missing inhibit, lost window).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd, wr
from difftest.engine.sync import (
    atomic_add,
    atomic_add_return,
    down_read,
    down_write,
    up_read,
    up_write,
)
from difftest.impls.final import Final
from difftest.model.state import IRQWIN_BIT, Reason


class NoRecheck(Final):
    name = "broken-no-recheck"

    def kvm_inc_or_dec_irq_window_inhibit(self, inc: bool) -> Kfunc:
        vm = self.vm
        add = 1 if inc else -1
        if not vm.enable_apicv:
            return
        yield rd("READ_ONCE(apicv_inhibit_reasons) & ~IRQWIN", "kvm.apicv_inhibit_reasons")
        if vm.apicv_inhibit_reasons & ~IRQWIN_BIT:
            yield from down_read(vm.apicv_update_lock)
            # mutation: no second READ_ONCE() under the lock
            yield wr("atomic_add(&apicv_nr_irq_window_req)", "kvm.irq_window_count")
            atomic_add(add, vm.apicv_nr_irq_window_req)
            yield from up_read(vm.apicv_update_lock)
            return
        yield from down_write(vm.apicv_update_lock, self.current)
        yield wr("atomic_add_return(&apicv_nr_irq_window_req)", "kvm.irq_window_count")
        if atomic_add_return(add, vm.apicv_nr_irq_window_req) == int(inc):
            yield from self._kvm_set_or_clear_apicv_inhibit(Reason.IRQWIN, inc)
        yield from up_write(vm.apicv_update_lock)
