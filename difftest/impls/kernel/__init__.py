"""The kernel code every modelled version shares, assembled into one base class.

``Kernel`` is v6.13 minus the functions the IRQ-window patches change; those come
from ``difftest.impls.prepatch``.
"""

from __future__ import annotations

from difftest.impls.kernel.hw import Hardware
from difftest.impls.kernel.irq import Irq
from difftest.impls.kernel.kvm_main import KvmMain
from difftest.impls.kernel.mmu import Mmu
from difftest.impls.kernel.svm import SVM_EXIT_HANDLERS, Svm
from difftest.impls.kernel.vmx import VMX_EXIT_HANDLERS, Vmx
from difftest.impls.kernel.world import World
from difftest.impls.kernel.x86 import X86, X86ApicBase, X86Reset, set_or_clear_apicv_inhibit
from difftest.model.scenario import Scenario


class Kernel(X86, X86ApicBase, X86Reset, Irq, KvmMain, Mmu, Svm, Vmx, Hardware, World):
    """kvm_x86_ops dispatch by vendor; everything else is inherited."""

    # svm_x86_ops / vmx_x86_ops: each world's class for its vendor (``World``)
    # has the vendor's function under the generic name, as a method of its own.
    X86_OPS = {
        "svm": {
            "enable_irq_window": "svm_enable_irq_window",
            "inject_irq": "svm_inject_irq",
            "interrupt_allowed": "svm_interrupt_allowed",
            "cancel_injection": "svm_cancel_injection",
            "vcpu_reset": "svm_vcpu_reset",
            "leave_nested": "svm_leave_nested",
            "apic_init_signal_blocked": "svm_apic_init_signal_blocked",
        },
        "vmx": {
            "enable_irq_window": "vmx_enable_irq_window",
            "inject_irq": "vmx_inject_irq",
            "interrupt_allowed": "vmx_interrupt_allowed",
            "cancel_injection": "vmx_cancel_injection",
            "vcpu_reset": "vmx_vcpu_reset",
            "leave_nested": "vmx_leave_nested",
            "apic_init_signal_blocked": "vmx_apic_init_signal_blocked",
        },
    }

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        svm = scenario.vendor == "svm"
        self.exit_handlers = SVM_EXIT_HANDLERS if svm else VMX_EXIT_HANDLERS
        # svm_hardware_setup(): AVIC on a host without x2AVIC (the model's AMD host)
        # keeps AVIC for the doorbell while a vCPU is in x2APIC mode.
        self.allow_apicv_in_x2apic_without_x2apic_virtualization = svm and scenario.enable_apicv


__all__ = ["Kernel", "set_or_clear_apicv_inhibit"]
