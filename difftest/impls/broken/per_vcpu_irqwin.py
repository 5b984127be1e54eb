"""broken-per-vcpu-irqwin: IRQWIN as a per-vCPU inhibit (the idea Sean warns
about in the seed mail).

Changes ``final``: the waiting vCPU turns off its own APICv (the vendor hook
reports IRQWIN for it, a KVM_REQ_APICV_UPDATE to itself applies it) and the
VM-wide bitmap never sees IRQWIN, so nothing zaps the APIC-page SPTE, which is
shared by every L1 vCPU.

Breaks with: any vCPU maps the APIC page while APICv is active (``apic``), then
vCPU A asks for a window and deactivates its own APICv, then A accesses the APIC
page: the access goes through the SPTE to the backing page and KVM never sees it
(missed APIC-page intercept).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, rd
from difftest.impls.final import Final
from difftest.impls.prepatch import Prepatch
from difftest.model.state import KVM_REQ_APICV_UPDATE, Reason, VCpu, bit


class PerVcpuIrqwin(Final):
    name = "broken-per-vcpu-irqwin"
    has_counter = False

    def vcpu_get_apicv_inhibit_reasons(self, vcpu: VCpu) -> int:
        reasons = super().vcpu_get_apicv_inhibit_reasons(vcpu)
        return reasons | (bit(Reason.IRQWIN) if vcpu.irq_window else 0)

    def svm_enable_irq_window(self, vcpu: VCpu) -> Kfunc:
        if self.vm.vgif or vcpu.gif:
            if self.vm.enable_apicv and not vcpu.irq_window and not vcpu.guest_mode:
                vcpu.irq_window = True
                yield from self.kvm_make_request(KVM_REQ_APICV_UPDATE, vcpu)
            yield from self.svm_set_vintr(vcpu)

    def svm_inject_irq(self, vcpu: VCpu, reinjected: bool) -> Kfunc:
        yield rd("kvm_cpu_has_injectable_intr", f"{vcpu.name}.ExtINT")
        if vcpu.irq_window and (not self.kvm_cpu_has_injectable_intr(vcpu) or vcpu.guest_mode):
            vcpu.irq_window = False
            yield from self.kvm_make_request(KVM_REQ_APICV_UPDATE, vcpu)
        yield from Prepatch.svm_inject_irq(self, vcpu, reinjected)
