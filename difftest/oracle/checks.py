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

from difftest.model.state import (
    IRQWIN_BIT,
    KVM_REQ_APICV_UPDATE,
    VM,
    MpState,
    Reason,
    VCpu,
    bit,
    reasons_str,
)
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
    # KVM_REINJECT_CONTROL is a no-op when the mode is unchanged: PIT_REINJ is
    # judged by _check_pit, every other reason is committed exactly once.
    pit = Reason.PIT_REINJ
    committed = Counter(u for u in vm.ghost_committed if u[0] != pit)
    issued = Counter(u for u in w.ghost_issued if u[0] != pit)
    if committed != issued:
        w.finding(
            Kind.LOST_UPDATE,
            f"updates issued {_updates(issued)} but committed {_updates(committed)}",
            where="quiescence",
            expected="every inhibit update committed exactly once",
        )
    _check_pit(w)
    others = spec.fold_commits(w.initial_reasons, vm.ghost_committed)
    actual = vm.apicv_inhibit_reasons
    if actual & ~IRQWIN_BIT != others:
        w.finding(
            Kind.WRONG_INHIBITS,
            f"inhibits={reasons_str(actual)}",
            where="quiescence",
            expected=f"non-IRQWIN reasons {reasons_str(others)} (updates in commit order)",
        )
    waiting = [v.name for v in vm.vcpus if spec.window_outstanding(vm, v)]
    parked = [v.name for v in vm.vcpus if spec.window_parked(vm, v)]
    if spec.irqwin_applies(vm) and not others:
        irqwin = bool(actual & IRQWIN_BIT)
        # A window outstanding while the vCPU runs L2 cannot be served there (V_IRQ
        # was dropped at VMRUN and is re-armed on the way back to L1), and AVIC is
        # off on that vCPU anyway: only L1 waiters need the VM-wide inhibit now.
        waiting_l1 = [
            v.name for v in vm.vcpus if spec.window_outstanding(vm, v) and not v.guest_mode
        ]
        if waiting_l1 and not irqwin:
            w.finding(
                Kind.MISSING_INHIBIT,
                f"inhibits={reasons_str(actual)} while {', '.join(waiting_l1)} waits "
                "for an IRQ window in L1",
                where="quiescence",
                expected="IRQWIN",
            )
        elif irqwin and not waiting and not parked:
            w.finding(
                Kind.STUCK_INHIBIT,
                f"inhibits={reasons_str(actual)} with no IRQ window outstanding "
                f"(counter={vm.irq_window_count})"
                if w.has_counter
                else f"inhibits={reasons_str(actual)} with no IRQ window outstanding",
                where="quiescence",
                expected="0: APICv active",
            )
    if (
        w.has_counter
        and spec.irqwin_applies(vm)
        and not (len(waiting) <= vm.irq_window_count <= len(waiting) + len(parked))
    ):
        w.finding(
            Kind.COUNTER,
            f"IRQ-window counter={vm.irq_window_count}, outstanding windows="
            f"{len(waiting)} ({', '.join(waiting) or 'none'})",
            where="quiescence",
            expected=f"counter={len(waiting)}",
        )
    for v in vm.vcpus:
        should = spec.vcpu_should_be_active(vm, v)
        if v.mp_state != MpState.RUNNABLE and v.requests & KVM_REQ_APICV_UPDATE:
            continue  # asleep in wait-for-SIPI: it updates when it next runs
        if v.apicv_active != should:
            w.finding(
                Kind.STALE_APICV,
                f"{v.name}.apicv_active={int(v.apicv_active)} with inhibits="
                f"{reasons_str(actual)}{', in L2' if v.guest_mode else ''}",
                where="quiescence",
                expected=f"apicv_active={int(should)}",
            )


def _check_lost_window(w: Checked, v: VCpu) -> None:
    """An ExtINT still pending for L1 at the end must have a window that hardware
    will report: V_IRQ armed and intercepted, and honoured (AVIC off on SVM)."""
    if v.guest_mode or v.injected or not v.extint_pending or v.mp_state != MpState.RUNNABLE:
        return
    if not v.gif and not w.vm.vgif:
        return  # the STGI intercept is the window: KVM re-evaluates at STGI
    armed = v.v_irq and v.vintr_intercept
    honoured = armed and not (w.vm.vendor == "svm" and v.apicv_active)
    if honoured:
        return
    why = "V_IRQ is armed but AVIC is active and ignores it" if armed else "no window is armed"
    w.finding(
        Kind.LOST_WINDOW,
        f"{v.name} has an ExtINT pending (IF={int(v.guest_if)}) and {why}",
        where="quiescence",
        expected="a VINTR exit when the guest enables interrupts",
    )


def _check_pit(w: Checked) -> None:
    """PIT_REINJ follows the PIT's reinject mode: every commit changes it (the
    ioctl returns early when the mode is unchanged), no more commits than
    requests, and after the last one the inhibit and the mode agree."""
    vm = w.vm
    pit = Reason.PIT_REINJ
    if not (vm.enable_apicv and vm.required & bit(pit)):
        return
    state = bool(w.initial_reasons & bit(pit))
    for reason, set in vm.ghost_committed:
        if reason == pit:
            if set == state:
                w.finding(
                    Kind.LOST_UPDATE,
                    f"{'set' if set else 'clear'} PIT_REINJ committed while already "
                    f"{'set' if state else 'clear'}",
                    where="quiescence",
                    expected="kvm_pit_set_reinject() returns early when unchanged",
                )
                return
            state = set
    n_committed = sum(1 for r, _ in vm.ghost_committed if r == pit)
    n_issued = sum(1 for r, _ in w.ghost_issued if r == pit)
    if n_committed > n_issued or state != vm.pit_reinject:
        w.finding(
            Kind.LOST_UPDATE,
            f"PIT_REINJ: {n_committed} commits for {n_issued} requests, inhibit "
            f"{'set' if state else 'clear'} with reinject={int(vm.pit_reinject)}",
            where="quiescence",
            expected="the PIT_REINJ inhibit equals the PIT's reinject mode",
        )


def _updates(c: Counter[tuple[Reason, bool]]) -> str:
    return (
        "{"
        + ", ".join(f"{'set' if s else 'clear'} {r.name} x{n}" for (r, s), n in sorted(c.items()))
        + "}"
    )
