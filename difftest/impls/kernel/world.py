"""The runtime every implementation shares: threads, findings, the oracle's observer.

Nothing here is kernel code, and plugins do not override it. Kernel functions
live in the sibling modules, named as in the kernel; Python mangles a leading
``__``, so the kernel's ``__foo`` is ``_foo`` here (reports print it back as
``__foo``).
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from difftest.engine.points import Kfunc, Point
from difftest.model.scenario import Scenario, parse_ioctl
from difftest.model.state import (
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
from difftest.oracle.observer import Observer, class_taps


class World(Observer):
    """A VM built from a scenario, with one thread per vCPU and per ioctl program."""

    # Written by the executor at every step (and read by kernel code as the lock
    # owner): slots, not entries of the large instance dictionary.
    __slots__ = ("current", "now")

    #: Short name shown in reports; set by each implementation.
    name = "?"
    #: The implementation keeps an IRQ-window counter the oracle can check.
    has_counter = False
    #: The implementation claims not to take apicv_update_lock for write for
    #: IRQWIN while another reason inhibits APICv.
    lazy_irqwin = False
    #: kvm_x86_ops by vendor: generic name -> the vendor's function (``Kernel``).
    X86_OPS: ClassVar[dict[str, dict[str, str]]] = {}

    def __new__(cls, scenario: Scenario, *args: Any, **kwargs: Any) -> World:
        """A world is an instance of ``cls``'s class for the scenario's vendor
        (``vendor_class``): its vendor dispatch and the observer's taps are
        methods of that class, not bound methods in the instance, so a world
        refers back to itself only through what ``retire`` drops and is freed as
        soon as its run's result is, not by the cycle collector."""
        sub = _VENDOR_CLASSES.get((cls, scenario.vendor))
        if sub is None:
            sub = vendor_class(cls, scenario.vendor)
        return object.__new__(sub)

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        vcpus = [VCpu(i, v.apic_enabled, v.guest_if) for i, v in enumerate(scenario.vcpus)]
        self.vm = VM(scenario.vendor, scenario.enable_apicv, vcpus, scenario.irq_source)
        vm = self.vm
        vm.vgif = scenario.vgif
        # kvm_create_pit() starts in reinject mode; a VMM that turned it off
        # before the run starts without PIT_REINJ.
        vm.pit_reinject = "PIT_REINJ" in scenario.initial
        if scenario.enable_apicv:
            for r in scenario.initial:
                vm.apicv_inhibit_reasons |= bit(Reason[r]) & vm.required
        else:
            vm.apicv_inhibit_reasons = bit(Reason.DISABLED)
        self.initial_reasons = vm.apicv_inhibit_reasons
        for v, vs in zip(vcpus, scenario.vcpus, strict=True):
            v.apicv_active = spec.vcpu_should_be_active(vm, v)
            # init_vmcb() intercepts CR8 writes; avic_init_vmcb() lifts it with AVIC.
            v.cr8_intercept = (
                vm.vendor == "svm" and vm.irq_source != "legacy" and not v.apicv_active
            )
            v.lvt0_extint = vs.lvt0
            v.intercept_intr = vs.intercept_intr
            if v.id not in scenario.extint or vm.irq_source == "pic":
                continue
            v.requests |= KVM_REQ_EVENT  # raised when the interrupt arrived
            if vm.irq_source == "xen":
                v.xen_upcall = True
            else:
                v.extint_pending = True
        if vm.irq_source == "pic" and scenario.extint:
            # The line went up before the run: pic_unlock() woke the first vCPU
            # whose LVT0 accepts ExtINT.
            vm.pic_irr = vm.pic_output = True
            for v in vcpus:
                if v.lvt0_extint or not v.apic_enabled:
                    v.requests |= KVM_REQ_EVENT
                    break
        self.findings: list[Finding] = []
        self.now = 0
        self.current = 0
        self.thread_names = scenario.thread_names
        n = len(self.thread_names)
        self.idle = [False] * n
        self.finished = [False] * n
        # Threads neither idle nor finished (kept by _set_idle/_set_finished): while
        # any is left, an idle vCPU wakes only for its own work.
        self.busy = n
        # Operations each thread has completed: lets a scheduler run a program
        # one operation at a time (difftest.stateful).
        self.ops_done = [0] * n
        # Inhibit updates userspace asked for, as (reason, set), after the vendor
        # mask: what the committed log must contain.
        self.ghost_issued: list[tuple[Reason, bool]] = []
        self._bug = False
        self._observe()

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

    def retire(self) -> None:
        """The run is over: the observer stops watching the primitives and the
        locks drop their scheduling points, the only references from the world's
        objects back to themselves (the world stays readable; no kernel code may
        run on it afterwards)."""
        vm = self.vm
        vm.apicv_update_lock.on_write = None
        vm.apicv_nr_irq_window_req.on_store = None
        for lock in (vm.apicv_update_lock, vm.mmu_lock, vm.pit_lock, vm.slots_lock):
            lock.points = ()
        self._untap()

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

    # -- threads -------------------------------------------------------------

    def kvm_arch_vcpu_ioctl_run(self, vcpu: VCpu, program: tuple[str, ...]) -> Kfunc:
        """The vCPU thread: KVM_RUN until the guest has carried out each action of
        its program (vcpu_run()'s loop around ``vcpu_enter_guest``), then idle."""
        for op in program:
            if op == "reset":
                # Not a guest action: the vCPU's userspace thread leaves KVM_RUN,
                # resets the vCPU through its ioctls and enters KVM_RUN again.
                yield from self.userspace_reset(vcpu)
            else:
                while True:
                    if not self.kvm_vcpu_running(vcpu):
                        # vcpu_run(): wait-for-SIPI blocks; without an INIT or a
                        # SIPI the rest of the program never runs.
                        if not (yield from self.vcpu_block(vcpu)):
                            self._set_finished(vcpu.id)
                            return
                        continue
                    self._saw_entry(vcpu)
                    if (yield from self.vcpu_enter_guest(vcpu, op)):
                        break
            self.ops_done[vcpu.id] += 1
        yield from self.vcpu_idle(vcpu, vcpu.id)

    def _ioctl_thread(self, tid: int, program: tuple[str, ...]) -> Kfunc:
        for op in program:
            kind, arg, set = parse_ioctl(op, len(self.vm.vcpus))
            if kind in ("init", "sipi"):
                mode = "INIT" if kind == "init" else "STARTUP"
                yield from self._apic_accept_irq(self.vm.vcpus[arg], mode)
            elif kind == "extint" and self.vm.irq_source == "xen":
                yield from self.kvm_xen_set_evtchn(self.vm.vcpus[arg])
            elif kind == "extint":
                yield from self.kvm_pic_set_irq(self.vm.vcpus[arg])
            elif kind == "lapic":
                yield from self.kvm_apic_set_irq(self.vm.vcpus[arg])
            elif kind == "pic":
                yield from self.kvm_i8259_op(str(arg))
            else:
                reason = Reason(arg)
                if self.vm.enable_apicv and self.vm.required & bit(reason):
                    self.ghost_issued.append((reason, set))
                yield from self.kvm_ioctl_set_or_clear(reason, set)
            self.ops_done[tid] += 1
        self._set_finished(tid)

    def vcpu_idle(self, vcpu: VCpu, tid: int) -> Kfunc:
        """After its program the vCPU stays in KVM_RUN only to service requests.

        It finishes once every thread is finished or idle and no vCPU has a request
        pending: from then on nothing can make a new request, so the run is
        quiescent.
        """
        runnable = MpState.RUNNABLE

        def wake() -> bool:
            """``_wake(vcpu)``, asked by the executor at every step while the vCPU
            idles: its own requests, then (mostly) some busy thread answers it."""
            if (vcpu.requests or vcpu.nested_run_pending) and vcpu.mp_state == runnable:
                return True
            if self.busy and not (vcpu.init_pending or vcpu.sipi_pending):
                return False
            return self._wake(vcpu)

        woken = Point("idle", f"{vcpu.name}.requests", False, wake)
        self._set_idle(tid, True)
        while True:
            yield woken
            # A VMRUN that L1 executed last is completed by entering L2 at once
            # (vcpu_run() loops): only then can L2 halt.
            if vcpu.mp_state == MpState.RUNNABLE and (vcpu.requests or vcpu.nested_run_pending):
                self._set_idle(tid, False)
                self._saw_entry(vcpu)
                yield from self.vcpu_enter_guest(vcpu, "run")
                self._set_idle(tid, True)
                continue
            if self._wfs_wakeup(vcpu):
                # kvm_vcpu_has_events(): a pending INIT/SIPI wakes a halted vCPU
                # too (an INIT latched while GIF was 0, once vGIF sets it again).
                self._set_idle(tid, False)
                yield from self.kvm_apic_accept_events(vcpu)  # vcpu_block()
                self._set_idle(tid, True)
                continue
            assert vcpu.mode == Mode.OUTSIDE_GUEST_MODE
            self._set_finished(tid)
            return

    def vcpu_block(self, vcpu: VCpu) -> Kfunc:
        """x86.c vcpu_block() for a vCPU in wait-for-SIPI: sleep until
        kvm_arch_vcpu_runnable() (an INIT or SIPI pending and allowed), then accept
        it. Returns False if none ever comes: the run is over, the vCPU sleeps on.
        Runtime, like vcpu_idle(): the sleep is the scheduler's business."""
        self._set_idle(vcpu.id, True)  # bookkeeping: quiescence detection
        yield Point("kvm_vcpu_block", f"{vcpu.name}.apic", False, lambda: self._wake(vcpu))
        self._set_idle(vcpu.id, False)
        if not self._wfs_wakeup(vcpu):
            return False
        yield from self.kvm_apic_accept_events(vcpu)
        return True

    def _set_idle(self, tid: int, idle: bool) -> None:
        if self.idle[tid] != idle:
            if not self.finished[tid]:
                self.busy += -1 if idle else 1
            self.idle[tid] = idle

    def _set_finished(self, tid: int) -> None:
        if not self.finished[tid]:
            if not self.idle[tid]:
                self.busy -= 1
            self.finished[tid] = True

    def _wake(self, vcpu: VCpu) -> bool:
        """Work for ``vcpu``, or nothing left for anyone. A vCPU in wait-for-SIPI
        serves no request: only an INIT or a SIPI wakes it (and a pending, allowed
        INIT or SIPI wakes a runnable one too)."""
        # Polled at every step while the vCPU idles: the cheapest tests first.
        if (vcpu.requests or vcpu.nested_run_pending) and vcpu.mp_state == MpState.RUNNABLE:
            return True
        if (vcpu.init_pending or vcpu.sipi_pending) and self._wfs_wakeup(vcpu):
            return True
        if self.busy:  # some thread is neither idle nor finished
            return False
        for v in self.vm.vcpus:
            if (v.requests or v.nested_run_pending) and v.mp_state == MpState.RUNNABLE:
                return False
            if (v.init_pending or v.sipi_pending) and self._wfs_wakeup(v):
                return False
        return True


# (implementation class, vendor) -> the class its worlds for that vendor have.
_VENDOR_CLASSES: dict[tuple[type, str], type] = {}


def vendor_class(cls: type[World], vendor: str) -> type[World]:
    """``cls`` for ``vendor``: a subclass of the same name whose generic
    kvm_x86_ops entries (``X86_OPS``) are the vendor's functions, and whose
    observed entry points are the observer's taps (``class_taps``). Made once
    per class and vendor; classes are not changed once they run."""
    ns: dict[str, Any] = {"__slots__": (), "__module__": cls.__module__, "__doc__": cls.__doc__}
    ns.update(class_taps(cls))
    for generic, fn in cls.X86_OPS.get(vendor, {}).items():
        # the attribute as the class holds it (a staticmethod stays one)
        ns[generic] = ns[fn] if fn in ns else inspect.getattr_static(cls, fn)
    sub = type(cls.__name__, (cls,), ns)
    sub.__qualname__ = cls.__qualname__
    _VENDOR_CLASSES[cls, vendor] = sub
    return sub
