"""The oracle: checks at every guest access and at quiescence.

The quiescence checks compare the kernel state with the specification
(``spec``) evaluated on the ghost state: the non-IRQWIN reasons folded from the
updates in the order the implementation committed them (so two threads racing a
set and a clear of one reason are judged by the order they really took effect),
and the set of vCPUs with an L1 IRQ window outstanding.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from difftest.model.state import IRQWIN_BIT, VM, Reason, VCpu, reasons_str
from difftest.oracle import spec
from difftest.oracle.findings import Kind


class Checked(Protocol):
    vm: VM
    has_counter: bool
    initial_reasons: int
    ghost_issued: list[tuple[Reason, bool]]

    def finding(self, kind: Kind, message: str, *, where: str, expected: str = "") -> None: ...


def check_apic_access(w: Checked, v: VCpu) -> None:
    """An L1 access through the present APIC-page SPTE must come from a vCPU whose
    APICv is active; otherwise KVM failed to intercept it."""
    if not v.apicv_active:
        w.finding(
            Kind.MISSED_INTERCEPT,
            f"{v.name} accessed the APIC page through a present SPTE with apicv_active=0 "
            f"(inhibits={reasons_str(w.vm.apicv_inhibit_reasons)})",
            where="svm_vcpu_run",
            expected="no SPTE maps the APIC page while any vCPU's APICv is off: "
            "the access traps and is emulated",
        )


def check_quiescent(w: Checked) -> None:
    """Record every divergence of the final state; the most specific come first."""
    vm = w.vm
    for v in vm.vcpus:
        _check_lost_window(w, v)
        _check_lost_interrupt(w, v)
    if vm.irq_source == "pic":
        _check_lost_pic(w)
    committed = Counter(vm.ghost_committed)
    issued = Counter(w.ghost_issued)
    if committed != issued:
        w.finding(
            Kind.LOST_UPDATE,
            f"updates issued {_updates(issued)} but committed {_updates(committed)}",
            where="quiescence",
            expected="every inhibit update committed exactly once",
        )
    others = spec.fold_commits(w.initial_reasons, vm.ghost_committed)
    actual = vm.apicv_inhibit_reasons
    if actual & ~IRQWIN_BIT != others:
        w.finding(
            Kind.WRONG_INHIBITS,
            f"inhibits={reasons_str(actual)}",
            where="quiescence",
            expected=f"non-IRQWIN reasons {reasons_str(others)} (updates in commit order)",
        )
    outstanding = [v for v in vm.vcpus if spec.window_outstanding(vm, v)]
    # A window whose interrupt vanished before KVM injected it (acked by another
    # vCPU, masked in the PIC or LVT0, a Xen upcall the guest already took) stays
    # counted until that vCPU's next svm_inject_irq(): KVM cannot know earlier.
    # That is a latency finding, not a window served and never retired.
    withdrawn = [
        v
        for v in vm.vcpus
        if w.has_counter and v.irq_window and v.ghost_window and v not in outstanding
    ]
    if withdrawn and spec.irqwin_applies(vm):
        w.finding(
            Kind.STALE_WINDOW,
            f"{', '.join(v.name for v in withdrawn)}: IRQ window still counted after its "
            f"interrupt went away (inhibits={reasons_str(actual)})",
            where="quiescence",
            expected="retired at that vCPU's next injected interrupt",
        )
    waiting = [v.name for v in outstanding + withdrawn]
    if spec.irqwin_applies(vm) and not others:
        irqwin = bool(actual & IRQWIN_BIT)
        # A window outstanding while the vCPU runs L2 cannot be served there (V_IRQ
        # was dropped at VMRUN and is re-armed on the way back to L1), and AVIC is
        # off on that vCPU anyway: only L1 waiters need the VM-wide inhibit now.
        waiting_l1 = [v.name for v in outstanding if not v.guest_mode]
        if waiting_l1 and not irqwin:
            w.finding(
                Kind.MISSING_INHIBIT,
                f"inhibits={reasons_str(actual)} while {', '.join(waiting_l1)} waits "
                "for an IRQ window in L1",
                where="quiescence",
                expected="IRQWIN",
            )
        elif irqwin and not waiting:
            w.finding(
                Kind.STUCK_INHIBIT,
                f"inhibits={reasons_str(actual)} with no IRQ window outstanding "
                f"(counter={vm.irq_window_count})"
                if w.has_counter
                else f"inhibits={reasons_str(actual)} with no IRQ window outstanding",
                where="quiescence",
                expected="0: APICv active",
            )
    if w.has_counter and spec.irqwin_applies(vm) and vm.irq_window_count != len(waiting):
        w.finding(
            Kind.COUNTER,
            f"IRQ-window counter={vm.irq_window_count}, outstanding windows="
            f"{len(waiting)} ({', '.join(waiting) or 'none'})",
            where="quiescence",
            expected=f"counter={len(waiting)}",
        )
    for v in vm.vcpus:
        should = spec.vcpu_should_be_active(vm, v)
        if v.apicv_active != should:
            w.finding(
                Kind.STALE_APICV,
                f"{v.name}.apicv_active={int(v.apicv_active)} with inhibits="
                f"{reasons_str(actual)}{', in L2' if v.guest_mode else ''}",
                where="quiescence",
                expected=f"apicv_active={int(should)}",
            )


def _honoured(w: Checked, v: VCpu) -> bool:
    """V_IRQ armed and intercepted, and not ignored by an active AVIC."""
    return v.v_irq and v.vintr_intercept and not (w.vm.vendor == "svm" and v.apicv_active)


def _check_lost_window(w: Checked, v: VCpu) -> None:
    """An interrupt still pending for L1 at the end must have a window that hardware
    will report: V_IRQ armed and intercepted, and honoured (AVIC off on SVM).

    Per source: a per-vCPU ExtINT (legacy, split) or a LAPIC interrupt that KVM
    must inject is lost; a Xen upcall is only delayed, because vcpu_enter_guest()
    re-evaluates kvm_xen_has_interrupt() on every entry. The in-kernel PIC is
    VM-wide and judged once, by ``_check_lost_pic``.
    """
    if v.guest_mode or v.injected:
        return
    vm = w.vm
    accepts = v.lvt0_extint or not v.apic_enabled
    per_vcpu_extint = vm.irq_source != "pic" and accepts and v.extint_pending
    lapic = v.lapic_irr and v.apic_enabled and not v.apicv_active
    if not (per_vcpu_extint or lapic or v.xen_upcall) or _honoured(w, v):
        return
    armed = v.v_irq and v.vintr_intercept
    why = "V_IRQ is armed but AVIC is active and ignores it" if armed else "no window is armed"
    what = "an ExtINT" if per_vcpu_extint else "a LAPIC interrupt" if lapic else "a Xen upcall"
    if not (per_vcpu_extint or lapic):
        w.finding(
            Kind.DELAYED_WINDOW,
            f"{v.name} has a Xen upcall pending (IF={int(v.guest_if)}) and {why}; the "
            "next VM entry of any cause re-evaluates it",
            where="quiescence",
            expected="a VINTR exit when the guest enables interrupts",
        )
        return
    w.finding(
        Kind.LOST_WINDOW,
        f"{v.name} has {what} pending (IF={int(v.guest_if)}) and {why}",
        where="quiescence",
        expected="a VINTR exit when the guest enables interrupts",
    )


def _check_lost_pic(w: Checked) -> None:
    """The i8259's output is VM-wide: its ExtINT is lost only if no vCPU that accepts
    it (LVT0) will take it: none has it queued, waits in L2, or has an honoured
    window. If no vCPU accepts PIC interrupts the guest masked them: not lost."""
    vm = w.vm
    if not vm.pic_output:
        return
    takers = [v for v in vm.vcpus if v.lvt0_extint or not v.apic_enabled]
    if not takers or any(v.injected or v.guest_mode or _honoured(w, v) for v in takers):
        return
    names = ", ".join(v.name for v in takers)
    w.finding(
        Kind.LOST_WINDOW,
        f"the PIC output is raised and no vCPU that accepts it ({names}) has a window "
        "that hardware will report",
        where="quiescence",
        expected="a VINTR exit on a vCPU whose LVT0 accepts ExtINT",
    )


def _check_lost_interrupt(w: Checked, v: VCpu) -> None:
    """An interrupt KVM acknowledged (ISR set) must be queued or delivered."""
    if v.in_service and not v.injected:
        w.finding(
            Kind.LOST_INTERRUPT,
            f"{v.name}: an acknowledged {v.interrupt_nr or 'ExtINT'} is neither queued "
            "for injection nor delivered",
            where="quiescence",
            expected="re-injected after a cancelled entry (svm_complete_interrupts)",
        )


def _updates(c: Counter[tuple[Reason, bool]]) -> str:
    return (
        "{"
        + ", ".join(f"{'set' if s else 'clear'} {r.name} x{n}" for (r, s), n in sorted(c.items()))
        + "}"
    )
