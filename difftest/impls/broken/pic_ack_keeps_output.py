"""broken-pic-ack-keeps-output: kvm_pic_read_irq() does not lower the output.

Bug class: a VM-wide line treated as if it were the acking vCPU's alone.

Changes the in-kernel i8259 (``irq_source`` pic) in kvm_pic_read_irq() only: the
intack clears IRR but skips pic_update_irq(), so kvm_pic.output stays raised for
every vCPU whose LVT0 accepts ExtINT. The interrupt that one vCPU acknowledged is
still visible to the others (and to itself) and is taken again and again.

Breaks with one vCPU and IF=1: the ExtINT is injected, the output is still up, so
the next entry injects a phantom copy, forever (step budget).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, wr
from difftest.impls.final import Final


class PicAckKeepsOutput(Final):
    name = "broken-pic-ack-keeps-output"

    def kvm_pic_read_irq(self) -> Kfunc:
        yield wr("kvm_pic_read_irq: pic_lock; intack", "kvm.pic")
        self.vm.pic_irr = False
        # mutation: no pic_update_irq(): the output stays raised
        yield from self.pic_unlock()
