"""The runtime every implementation shares: threads, findings, ghost bookkeeping.

Nothing here is kernel code. Kernel functions live in the sibling modules, named
as in the kernel; Python mangles a leading ``__``, so the kernel's ``__foo`` is
``_foo`` here (reports print it back as ``__foo``).
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, Point
from difftest.model.scenario import Scenario, parse_ioctl
from difftest.model.state import (
    IRQWIN_BIT,
    KVM_REQ_EVENT,
    VM,
    Mode,
    MpState,
    Reason,
    VCpu,
    bit,
    snapshot,
)
from difftest.oracle import spec
from difftest.oracle.findings import SEVERITY, Finding, Kind


class World:
    """A VM built from a scenario, with one thread per vCPU and per ioctl program."""

    #: Short name shown in reports; set by each implementation.
    name = "?"
    #: The implementation keeps an IRQ-window counter the oracle can check.
    has_counter = False
    #: The implementation claims not to take apicv_update_lock for write for
    #: IRQWIN while another reason inhibits APICv.
    lazy_irqwin = False

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        vcpus = [VCpu(i, v.apic_enabled, v.guest_if) for i, v in enumerate(scenario.vcpus)]
        self.vm = VM(scenario.vendor, scenario.enable_apicv, vcpus, scenario.vgif)
        vm = self.vm
        vm.pit_reinject = "PIT_REINJ" in scenario.initial
        if scenario.enable_apicv:
            for r in scenario.initial:
                vm.apicv_inhibit_reasons |= bit(Reason[r]) & vm.required
        else:
            vm.apicv_inhibit_reasons = bit(Reason.DISABLED)
        self.initial_reasons = vm.apicv_inhibit_reasons
        for v in vcpus:
            v.apicv_active = spec.vcpu_should_be_active(vm, v)
            v.extint_pending = v.id in scenario.extint
            if v.extint_pending:
                v.requests |= KVM_REQ_EVENT  # raised when the PIC output went up
        self.findings: list[Finding] = []
        self.now = 0
        self.current = 0
        self.thread_names = scenario.thread_names
        n = len(self.thread_names)
        self.idle = [False] * n
        self.finished = [False] * n
        # Operations each thread has completed: lets a scheduler run a program
        # one operation at a time (difftest.stateful).
        self.ops_done = [0] * n
        # Inhibit updates userspace asked for, as (reason, set), after the vendor
        # mask: what the committed log must contain.
        self.ghost_issued: list[tuple[Reason, bool]] = []
        self._bug = False
        self._entry_state = [(0, 0)] * len(vcpus)

    # -- executor protocol -------------------------------------------------

    def threads(self) -> list[tuple[str, Kfunc]]:
        ts: list[tuple[str, Kfunc]] = []
        for v, vs in zip(self.vm.vcpus, self.scenario.vcpus, strict=True):
            ts.append((v.name, self.kvm_arch_vcpu_ioctl_run(v, vs.program)))
        for i, prog in enumerate(self.scenario.ioctls):
            ts.append((f"ioctl{i}", self._ioctl_thread(len(self.vm.vcpus) + i, prog)))
        return ts

    def halted(self) -> bool:
        return self._bug

    def on_stuck(self, kind: str, detail: str) -> None:
        k = Kind.DEADLOCK if kind == "deadlock" else Kind.STEP_BUDGET
        self.finding(k, f"{kind}: {detail}", where="executor")

    def snapshot(self) -> dict[str, object]:
        return snapshot(self.vm)

    # -- findings ----------------------------------------------------------

    def finding(self, kind: Kind, message: str, *, where: str, expected: str = "") -> None:
        thread = self.thread_names[self.current] if where != "quiescence" else "-"
        self.findings.append(Finding(kind, message, self.now, thread, where, expected))
        if SEVERITY[kind] == "bug":
            self._bug = True

    def WARN_ON(self, cond: bool, where: str, what: str) -> None:  # noqa: N802
        if cond:
            self.finding(Kind.WARN, f"WARN_ON({what})", where=where)

    # -- ghost bookkeeping (specification state, not kernel state) ----------

    def ghost_commit(self, reason: Reason, set: bool) -> None:
        """The locked body committed a change of a non-IRQWIN reason."""
        if reason != Reason.IRQWIN:
            self.vm.ghost_committed.append((reason, set))

    def count_write_lock(self, reason: Reason) -> None:
        """apicv_update_lock was just taken for write to update ``reason``."""
        vm = self.vm
        vm.write_locks[reason.name] = vm.write_locks.get(reason.name, 0) + 1
        if reason == Reason.IRQWIN and vm.apicv_inhibit_reasons & ~IRQWIN_BIT:
            vm.irqwin_write_locks_inhibited += 1
            if self.lazy_irqwin and self._inhibited_throughout():
                self.finding(
                    Kind.IRQWIN_WRITE_LOCK,
                    "down_write(apicv_update_lock) for IRQWIN while "
                    f"{spec.others_str(vm)} already inhibits",
                    where="down_write",
                )

    def ghost_entry(self, vcpu: VCpu) -> None:
        """A vCPU starts an entry: remember which other reasons inhibit now."""
        vm = self.vm
        self._entry_state[vcpu.id] = (
            vm.apicv_inhibit_reasons & ~IRQWIN_BIT,
            len(vm.ghost_committed),
        )

    def _inhibited_throughout(self) -> bool:
        """Some reason set when the current vCPU's entry began is still set and
        was not touched since: the lazy path certainly applied. (A reason set in
        the window between final's lockless peek and its down_write is a race
        the kernel accepts, not a missed optimisation.)"""
        if self.current >= len(self.vm.vcpus):
            return False
        others, mark = self._entry_state[self.current]
        touched = 0
        for r, _ in self.vm.ghost_committed[mark:]:
            touched |= bit(r)
        return bool(others & self.vm.apicv_inhibit_reasons & ~touched)

    def irq_window_add(self, delta: int) -> int:
        """atomic_add_return() on the IRQ-window counter, checked for underflow."""
        vm = self.vm
        vm.irq_window_count += delta
        if vm.irq_window_count < 0:
            self.finding(
                Kind.COUNTER,
                f"IRQ-window counter went negative ({vm.irq_window_count})",
                where="atomic_dec",
                expected="counter >= 0",
            )
        return vm.irq_window_count

    # -- threads -------------------------------------------------------------

    def _ioctl_thread(self, tid: int, program: tuple[str, ...]) -> Kfunc:
        for op in program:
            kind, arg, set = parse_ioctl(op, len(self.vm.vcpus))
            if kind == "extint":
                yield from self.kvm_pic_set_irq(self.vm.vcpus[arg])
            elif kind in ("init", "sipi"):
                mode = "INIT" if kind == "init" else "STARTUP"
                yield from self._apic_accept_irq(self.vm.vcpus[arg], mode)
            else:
                reason = Reason(arg)
                if self.vm.enable_apicv and self.vm.required & bit(reason):
                    self.ghost_issued.append((reason, set))
                yield from self.kvm_ioctl_set_or_clear(reason, set)
            self.ops_done[tid] += 1
        self.finished[tid] = True

    def vcpu_idle(self, vcpu: VCpu, tid: int) -> Kfunc:
        """After its program the vCPU stays in KVM_RUN only to service requests.

        It finishes once every thread is finished or idle and no vCPU has a request
        pending: from then on nothing can make a new request, so the run is
        quiescent.
        """
        self.idle[tid] = True
        while True:
            yield Point("idle", f"{vcpu.name}.requests", False, lambda: self._wake(vcpu))
            if vcpu.mp_state == MpState.RUNNABLE and vcpu.requests:
                self.idle[tid] = False
                yield from self.vcpu_enter_guest(vcpu, "run")
                self.idle[tid] = True
                continue
            if self.kvm_apic_has_pending_init_or_sipi(vcpu):
                self.idle[tid] = False
                yield from self.kvm_apic_accept_events(vcpu)
                self.idle[tid] = True
                continue
            assert vcpu.mode == Mode.OUTSIDE_GUEST_MODE
            self.finished[tid] = True
            return

    def _wake(self, vcpu: VCpu) -> bool:
        """Work for ``vcpu``, or nothing left for anyone. A vCPU in wait-for-SIPI
        serves no request: only an INIT or SIPI wakes it."""
        if vcpu.mp_state == MpState.RUNNABLE:
            if vcpu.requests:
                return True
        elif self.kvm_apic_has_pending_init_or_sipi(vcpu):
            return True
        idle, finished = self.idle, self.finished
        for i in range(len(idle)):  # plain loops: this is polled at every step
            if not (idle[i] or finished[i]):
                return False
        for v in self.vm.vcpus:  # noqa: SIM110 (a generator costs more here)
            if v.requests and v.mp_state == MpState.RUNNABLE:
                return False
        return True
