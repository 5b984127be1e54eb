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
from difftest.impls.kernel.tpr import Tpr
from difftest.impls.kernel.vmx import VMX_EXIT_HANDLERS, Vmx
from difftest.impls.kernel.world import World
from difftest.impls.kernel.x86 import X86, X86ApicBase, X86Reset, set_or_clear_apicv_inhibit
from difftest.model.scenario import Scenario


class Kernel(X86, X86ApicBase, X86Reset, Irq, KvmMain, Mmu, Svm, Vmx, Tpr, Hardware, World):
    """kvm_x86_ops dispatch by vendor; everything else is inherited."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        svm = scenario.vendor == "svm"
        self.exit_handlers = SVM_EXIT_HANDLERS if svm else VMX_EXIT_HANDLERS
        self.enable_irq_window = self.svm_enable_irq_window if svm else self.vmx_enable_irq_window
        self.inject_irq = self.svm_inject_irq if svm else self.vmx_inject_irq
        self.interrupt_allowed = self.svm_interrupt_allowed if svm else self.vmx_interrupt_allowed
        self.cancel_injection = self.svm_cancel_injection if svm else self.vmx_cancel_injection
        self.vcpu_reset = self.svm_vcpu_reset if svm else self.vmx_vcpu_reset
        self.leave_nested = self.svm_leave_nested if svm else self.vmx_leave_nested
        self.update_cr8_intercept_vendor = (
            self.svm_update_cr8_intercept if svm else self.vmx_update_cr8_intercept
        )
        self.refresh_apicv_exec_ctrl = (
            self.avic_refresh_apicv_exec_ctrl if svm else self.vmx_refresh_apicv_exec_ctrl
        )
        # svm_hardware_setup(): AVIC on a host without x2AVIC (the model's AMD host)
        # keeps AVIC for the doorbell while a vCPU is in x2APIC mode.
        self.allow_apicv_in_x2apic_without_x2apic_virtualization = svm and scenario.enable_apicv
        self.apic_init_signal_blocked = (
            self.svm_apic_init_signal_blocked if svm else self.vmx_apic_init_signal_blocked
        )


__all__ = ["Kernel", "set_or_clear_apicv_inhibit"]
