"""perf-eager-irqwin: the merged counter without its lockless peek.

kvm-x86 6563ddadd169 ("Fix IRQ window inhibit handling across multiple vCPUs")
before 5617dddcfa30 added the peek: kvm_inc_or_dec_irq_window_inhibit() takes
apicv_update_lock for write on every window, also while another reason already
inhibits APICv. Correct, but it claims the lazy behaviour of ``final``
(``lazy_irqwin``), so its one divergence is a perf finding: the half-applied
series only the write-lock oracle sees.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.engine.sync import atomic_add_return, down_write, up_write
from difftest.impls.final import Final
from difftest.model.state import Reason


class PerfEagerIrqwin(Final):
    name = "perf-eager-irqwin"

    def kvm_inc_or_dec_irq_window_inhibit(self, inc: bool) -> Kfunc:
        vm = self.vm
        add = 1 if inc else -1
        if not vm.enable_apicv:
            return
        # mutation: no READ_ONCE(apicv_inhibit_reasons) peek, no read-locked path
        yield from down_write(vm.apicv_update_lock, self.current)  # guard(rwsem_write)
        yield wr("atomic_add_return(&apicv_nr_irq_window_req)", "kvm.irq_window_count")
        if atomic_add_return(add, vm.apicv_nr_irq_window_req) == int(inc):
            yield from self._kvm_set_or_clear_apicv_inhibit(Reason.IRQWIN, inc)
        yield from up_write(vm.apicv_update_lock)
