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
    APICv is active and in xAPIC mode; otherwise KVM failed to intercept it. (On
    AVIC without x2AVIC an x2APIC vCPU keeps AVIC for the doorbell, so only the
    deleted memslot keeps it from the vAPIC page.)"""
    if v.x2apic and w.vm.vendor == "svm":
        w.finding(
            Kind.MISSED_INTERCEPT,
            f"{v.name} in x2APIC mode accessed the vAPIC page by MMIO through a present SPTE",
            where="svm_vcpu_run",
            expected="with AVIC and no x2AVIC, the APIC access page's memslot is deleted "
            "before a vCPU in x2APIC mode enters the guest (kvm_inhibit_apic_access_page)",
        )
    elif not v.apicv_active:
        w.finding(
            Kind.MISSED_INTERCEPT,
            f"{v.name} accessed the APIC page through a present SPTE with apicv_active=0 "
            f"(inhibits={reasons_str(w.vm.apicv_inhibit_reasons)})",
            where="svm_vcpu_run",
            expected="no SPTE maps the APIC page while any vCPU's APICv is off: "
            "the access traps and is emulated",
        )


def check_tpr(w: Checked, v: VCpu) -> None:
    """At VMRUN into L1 the CPU's TPR (V_TPR) is the one the guest last wrote (0
    after INIT or a VMM's reset): AVIC delivers by it, and CR8 reads return it."""
    if v.v_tpr_high != v.ghost_tpr_high:
        w.finding(
            Kind.TPR_DESYNC,
            f"{v.name} enters L1 with V_TPR {'masking' if v.v_tpr_high else 'not masking'} "
            f"the LAPIC vector; the guest's TPR {'masks' if v.ghost_tpr_high else 'does not mask'} "
            "it",
            where="svm_vcpu_run",
            expected="sync_lapic_to_cr8() copies TASKPRI to V_TPR before every VMRUN",
        )


def check_cr8_exit(w: Checked, v: VCpu) -> None:
    """A CR8 write that exits while AVIC is active costs a #VMEXIT for nothing:
    KVM intercepts CR8 only to learn of a TPR drop for an interrupt it injects."""
    if v.apicv_active:
        w.finding(
            Kind.CR8_INTERCEPT,
            f"{v.name}'s CR8 write exited with AVIC active (INTERCEPT_CR8_WRITE left set)",
            where="svm_vcpu_run",
            expected="avic_activate_vmcb() clears INTERCEPT_CR8_WRITE",
        )


def check_quiescent(w: Checked) -> None:
    """Record every divergence of the final state; the most specific come first."""
    vm = w.vm
    for v in vm.vcpus:
        _check_lost_window(w, v)
        _check_lost_interrupt(w, v)
    if vm.irq_source == "pic":
        _check_lost_pic(w)
    committed_l, issued_l = vm.ghost_committed, w.ghost_issued
    if vm.irq_source != "legacy":
        # KVM_REINJECT_CONTROL does nothing when the mode is unchanged: PIT_REINJ
        # is judged by _check_pit, every other reason is committed exactly once.
        pit = Reason.PIT_REINJ
        committed_l = [u for u in committed_l if u[0] != pit]
        issued_l = [u for u in issued_l if u[0] != pit]
        _check_pit(w)
    # The same multiset: compared as lists first (mostly in the same order).
    if committed_l != issued_l and Counter(committed_l) != Counter(issued_l):
        committed, issued = Counter(committed_l), Counter(issued_l)
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
    # (A vCPU in wait-for-SIPI is no such case: its next injected interrupt may
    # never come; a window still counted for it is judged as a counter error.)
    withdrawn = [
        v
        for v in vm.vcpus
        if w.has_counter
        and v.irq_window
        and v.ghost_window
        and v not in outstanding
        and v.mp_state == MpState.RUNNABLE
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
        # Nor does a window parked behind GIF=0 without vGIF: STGI's intercept is
        # the window there.
        waiting_l1 = [
            v.name for v in outstanding if not v.guest_mode and not spec.window_parked(vm, v)
        ]
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
    # A parked window may be counted or not (seed's svm_clear_vintr() drops it at
    # svm_set_gif(false), final keeps one requested in L1 until the injection).
    parked = sum(1 for v in outstanding if spec.window_parked(vm, v))
    if (
        w.has_counter
        and spec.irqwin_applies(vm)
        and not len(waiting) - parked <= vm.irq_window_count <= len(waiting)
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
    if v.guest_mode or v.injected or v.mp_state != MpState.RUNNABLE:
        return
    vm = w.vm
    if not (v.gif or vm.vgif):
        return  # STGI's intercept is the window: svm_set_gif(true) re-evaluates
    accepts = v.lvt0_extint or not v.apic_enabled
    per_vcpu_extint = vm.irq_source != "pic" and accepts and v.extint_pending
    lapic = v.lapic_irr and v.apic_enabled and not v.apicv_active and not v.ghost_tpr_high
    if not (per_vcpu_extint or lapic or v.xen_upcall) or _honoured(w, v):
        return
    armed = v.v_irq and v.vintr_intercept
    why = "V_IRQ is armed but AVIC is active and ignores it" if armed else "no window is armed"
    what = "an ExtINT" if per_vcpu_extint else "a LAPIC interrupt" if lapic else "a Xen upcall"
    if v.ghost_unevaluated:
        _delayed_after_vmexit(w, v, what, why)
        return
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


def _delayed_after_vmexit(w: Checked, v: VCpu, what: str, why: str) -> None:
    """In L2 with L1's RFLAGS.IF=0 KVM requests no window (svm_set_vintr() returns
    early), and a #VMEXIT to an L1 that intercepts INTR raises no KVM_REQ_EVENT
    (nested_svm_vmexit()): the interrupt waits for the next event evaluation,
    whatever raises it. The same in every version: a latency, not a lost window."""
    w.finding(
        Kind.DELAYED_WINDOW,
        f"{v.name} has {what} pending (IF={int(v.guest_if)}){' and ' + why if why else ''}; "
        "KVM has not evaluated its events since a #VMEXIT to an L1 that intercepts INTR",
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
    takers = [
        v
        for v in vm.vcpus
        if (v.lvt0_extint or not v.apic_enabled) and v.mp_state == MpState.RUNNABLE
    ]
    if not takers or any(
        v.injected or v.guest_mode or _honoured(w, v) or not (v.gif or vm.vgif) for v in takers
    ):
        return
    names = ", ".join(v.name for v in takers)
    if any(v.ghost_unevaluated for v in takers):
        _delayed_after_vmexit(w, next(v for v in takers if v.ghost_unevaluated), "an ExtINT", "")
        return
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


def _check_pit(w: Checked) -> None:
    """PIT_REINJ follows the PIT's reinject mode: every commit changes it (the
    ioctl returns early when the mode is unchanged), there are no more commits
    than requests, and after the last one the inhibit and the mode agree."""
    vm = w.vm
    pit = Reason.PIT_REINJ
    if not (vm.enable_apicv and vm.required & bit(pit)):
        return
    state = bool(w.initial_reasons & bit(pit))
    for reason, set in vm.ghost_committed:
        if reason != pit:
            continue
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
