"""broken-pit-reinject-twice: kvm_pit_set_reinject() without its early return.

Bug class: a state transition applied although the state is unchanged (in the
kernel the ack and mask notifiers would be registered twice).

Changes ``final`` in kvm_pit_set_reinject() only: the ``if
(atomic_read(&ps->reinject) == reinject) return;`` is dropped, so a repeated
KVM_REINJECT_CONTROL sets (or clears) PIT_REINJ again. Caught at quiescence as a
lost-update: a PIT_REINJ commit that does not change the PIT's mode.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc
from difftest.impls.final import Final
from difftest.model.state import Reason


class PitReinjectTwice(Final):
    name = "broken-pit-reinject-twice"

    def kvm_pit_set_reinject(self, reinject: bool) -> Kfunc:
        # mutation: no "if (atomic_read(&ps->reinject) == reinject) return;"
        if reinject:
            yield from self.kvm_set_apicv_inhibit(Reason.PIT_REINJ)
        else:
            yield from self.kvm_clear_apicv_inhibit(Reason.PIT_REINJ)
        self.vm.pit_reinject = reinject
