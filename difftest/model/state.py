"""The state KVM keeps for a VM and its vCPUs, restricted to what the APICv inhibit
logic reads or writes (``struct kvm_arch``, ``struct kvm_vcpu``, ``struct vcpu_svm``).

Fields named ``ghost_*`` (and the write-lock counts) are not kernel state: the
oracle's observer (``difftest/oracle/observer.py``) writes them from what it sees
the kernel do (which windows are outstanding, which inhibit changes were
committed) so that the quiescence checks can judge the kernel state against them.
Kernel code never touches them.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar

from difftest.engine.sync import Atomic, Mutex, RwSem

_E = TypeVar("_E", bound=type[IntEnum])


class _Members(type):
    """The metaclass of ``members(E)``: calling, indexing, iterating and
    ``isinstance`` go to the enum ``E`` itself."""

    _enum: type[IntEnum]

    def __call__(cls, *args: Any) -> Any:
        return cls._enum(*args)

    def __getitem__(cls, name: str) -> Any:
        return cls._enum[name]

    def __iter__(cls) -> Iterator[Any]:
        return iter(cls._enum)

    def __len__(cls) -> int:
        return len(cls._enum)

    def __contains__(cls, value: object) -> bool:
        return value in cls._enum

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls._enum)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._enum)

    def __repr__(cls) -> str:
        return repr(cls._enum)


def members(enum: _E) -> _E:
    """``enum`` as seen by kernel code: a class of the same name whose members
    are plain class attributes, the very members of ``enum``. (Python 3.11's
    ``EnumType`` defines ``__getattr__``, so every ``Mode.IN_GUEST_MODE`` goes
    through a generic attribute hook, about 15 times as slow as a plain class
    attribute; kernel code reads these constants at almost every step.)"""
    ns: dict[str, Any] = {
        "_enum": enum,
        "__doc__": enum.__doc__,
        "__module__": enum.__module__,
        "__members__": enum.__members__,
        **enum.__members__,
    }
    twin = _Members(enum.__name__, (), ns)
    twin.__qualname__ = enum.__qualname__

    def reduce(member: IntEnum, proto: int) -> tuple[Any, ...]:
        return getattr, (twin, member.name)  # pickled by the module's name for it

    enum.__reduce_ex__ = reduce  # type: ignore[assignment,method-assign]
    return twin  # type: ignore[return-value]


class Reason(IntEnum):
    """``enum kvm_apicv_inhibit`` (arch/x86/include/asm/kvm_host.h)."""

    DISABLED = 0
    HYPERV = 1
    ABSENT = 2
    BLOCKIRQ = 3
    PHYSICAL_ID_ALIASED = 4
    APIC_ID_MODIFIED = 5
    APIC_BASE_MODIFIED = 6
    NESTED = 7
    IRQWIN = 8
    PIT_REINJ = 9
    SEV = 10
    LOGICAL_ID_ALIASED = 11
    PHYSICAL_ID_TOO_BIG = 12


if not TYPE_CHECKING:
    Reason = members(Reason)


def bit(reason: Reason) -> int:
    return 1 << reason


IRQWIN_BIT = bit(Reason.IRQWIN)

# The vendors' required_apicv_inhibits masks (vmx.c VMX_REQUIRED_APICV_INHIBITS,
# svm.h AVIC_REQUIRED_APICV_INHIBITS).
VMX_REQUIRED = sum(
    bit(r)
    for r in (
        Reason.DISABLED,
        Reason.ABSENT,
        Reason.HYPERV,
        Reason.BLOCKIRQ,
        Reason.PHYSICAL_ID_ALIASED,
        Reason.APIC_ID_MODIFIED,
        Reason.APIC_BASE_MODIFIED,
    )
)
SVM_REQUIRED = VMX_REQUIRED | sum(
    bit(r)
    for r in (
        Reason.NESTED,
        Reason.IRQWIN,
        Reason.PIT_REINJ,
        Reason.SEV,
        Reason.LOGICAL_ID_ALIASED,
        Reason.PHYSICAL_ID_TOO_BIG,
    )
)
REQUIRED = {"svm": SVM_REQUIRED, "vmx": VMX_REQUIRED}


def reasons_str(bitmap: int) -> str:
    """``0`` or ``PIT_REINJ|IRQWIN``: how inhibit bitmaps appear in reports."""
    if not bitmap:
        return "0"
    return "|".join(r.name for r in Reason if bitmap & bit(r))


class Mode(IntEnum):
    """``vcpu->mode`` (include/linux/kvm_host.h)."""

    OUTSIDE_GUEST_MODE = 0
    IN_GUEST_MODE = 1
    EXITING_GUEST_MODE = 2


if not TYPE_CHECKING:
    Mode = members(Mode)


# Request bits (arch/x86/include/asm/kvm_host.h); only those the model needs.
KVM_REQ_EVENT = 1
KVM_REQ_APICV_UPDATE = 2
KVM_REQ_UNBLOCK = 4  # a wake-up only: vcpu_run() clears it after every entry
REQ_NAMES = {
    KVM_REQ_EVENT: "EVENT",
    KVM_REQ_APICV_UPDATE: "APICV_UPDATE",
    KVM_REQ_UNBLOCK: "UNBLOCK",
}


class MpState(IntEnum):
    """``vcpu->arch.mp_state`` (include/uapi/linux/kvm.h), the two states the model reaches."""

    RUNNABLE = 0
    INIT_RECEIVED = 2  # wait-for-SIPI


if not TYPE_CHECKING:
    MpState = members(MpState)


# The APIC access page's memslot as kvm_vcpu_gfn_to_memslot() returns it.
MEMSLOT_VALID = "valid"
MEMSLOT_INVALID = "invalid"  # KVM_MEMSLOT_INVALID: being deleted, faults retry
MEMSLOT_NONE = "none"  # deleted: the gfn is emulated MMIO


class VCpu:
    """One vCPU: the kernel's fields, the guest's, and the oracle's ghosts."""

    __slots__ = (
        "id",
        "name",
        "mode",
        "requests",
        "ipi_pending",
        "guest_mode",
        "apic_enabled",
        "apicv_active",
        "v_irq",
        "vintr_intercept",
        "irq_window",
        "extint_pending",
        "injected",
        "guest_if",
        "ghost_window",
        "ghost_blind_since",
        "delivered",
        "lvt0_extint",
        "intercept_intr",
        "lapic_irr",
        "xen_upcall",
        "interrupt_nr",
        "in_service",
        "gif",
        "mp_state",
        "init_pending",
        "sipi_pending",
        "ghost_unevaluated",
        "x2apic",
        "nested_run_pending",
        "tpr_high",
        "v_tpr_high",
        "cr8_intercept",
        "exit_cr8_high",
        "ghost_tpr_high",
    )

    def __init__(self, vid: int, apic_enabled: bool, guest_if: bool) -> None:
        self.id = vid
        self.name = f"vcpu{vid}"
        self.mode = Mode.OUTSIDE_GUEST_MODE
        self.requests = 0
        # A KVM_REQUEST_WAIT kick sent to this vCPU and not yet acknowledged: the
        # IPI is handled once the vCPU is outside guest mode with IRQs enabled.
        self.ipi_pending = False
        self.guest_mode = False  # is_guest_mode(): running L2
        self.apic_enabled = apic_enabled  # kvm_get_apic_mode() != LAPIC_MODE_DISABLED
        self.apicv_active = False  # vcpu->arch.apic->apicv_active
        self.v_irq = False  # V_IRQ in vmcb01's int_ctl
        self.vintr_intercept = False  # INTERCEPT_VINTR
        self.irq_window = False  # per-vCPU window flag of the versions that have one
        self.extint_pending = False  # split: pending_external_vector != -1 (legacy: per-vCPU PIC)
        self.injected = False  # vcpu->arch.interrupt.injected: EVENTINJ programmed
        self.guest_if = guest_if  # L1's RFLAGS.IF
        # Ghosts: KVM asked for an L1 IRQ window and the interrupt is not injected
        # yet; the step at which the guest opened a window that hardware ignored.
        self.ghost_window = False
        self.ghost_blind_since: int | None = None
        self.delivered = 0
        # Interrupt sources (difftest.model.scenario.IRQ_SOURCES). LVT0 unmasked in
        # ExtINT mode: kvm_apic_accept_pic_intr().
        self.lvt0_extint = True
        self.intercept_intr = True  # vmcb12 intercepts INTR: nested_exit_on_intr()
        self.lapic_irr = False  # a fixed interrupt in the local APIC's IRR (vIRR under AVIC)
        self.xen_upcall = False  # vcpu_info->evtchn_upcall_pending (level: the guest clears it)
        # What vcpu->arch.interrupt holds: "extint", "xen" or "lapic".
        self.interrupt_nr = ""
        # KVM acknowledged the interrupt (PIC or LAPIC ISR set, userspace PIC's
        # intack done) and the guest has not yet received it and EOI'd it.
        self.in_service = False
        # GIF: svm->guest_gif, or V_GIF in int_ctl with vGIF (gif_set()).
        self.gif = True
        self.mp_state = MpState.RUNNABLE
        # apic->pending_events: KVM_APIC_INIT / KVM_APIC_SIPI latched for the vCPU.
        self.init_pending = False
        self.sipi_pending = False
        # Ghost: a nested #VMEXIT to an L1 that intercepts INTR happened and KVM
        # has not evaluated this vCPU's events since.
        self.ghost_unevaluated = False
        # X2APIC_ENABLE in vcpu->arch.apic_base (apic_x2apic_mode()).
        self.x2apic = False
        # svm->nested.nested_run_pending: VMRUN was emulated and L2 has not been
        # entered yet; new events wait for that entry (-EBUSY).
        self.nested_run_pending = False
        # TPR, for the model's one LAPIC vector: "high" masks it. The local APIC's
        # TASKPRI (what KVM decides with; on VMX also what the CPU uses), VMCB
        # int_ctl's V_TPR (what an SVM CPU uses: CR8, and AVIC's delivery),
        # INTERCEPT_CR8_WRITE (VMX: an armed TPR_THRESHOLD), and the operand of an
        # intercepted MOV to CR8 (decoded by cr_interception()).
        self.tpr_high = False
        self.v_tpr_high = False
        self.cr8_intercept = False
        self.exit_cr8_high = False
        # Ghost: the TPR the guest last wrote (0 after INIT or a reset).
        self.ghost_tpr_high = False


class VM:
    """``struct kvm`` / ``struct kvm_arch`` fields of the inhibit logic."""

    __slots__ = (
        "vendor",
        "required",
        "enable_apicv",
        "apicv_inhibit_reasons",
        "apicv_update_lock",
        "apicv_nr_irq_window_req",
        "mmu_lock",
        "mmu_invalidate_seq",
        "mmu_invalidate_in_progress",
        "apic_spte",
        "vcpus",
        "ghost_committed",
        "write_locks",
        "irqwin_write_locks_inhibited",
        "irq_source",
        "pic_irr",
        "pic_imr",
        "pic_output",
        "pic_wakeup_needed",
        "vgif",
        "pit_reinject",
        "pit_lock",
        "slots_lock",
        "apic_access_memslot_enabled",
        "apic_access_memslot_inhibited",
        "apic_memslot",
        "apic_memslot_readers",
    )

    def __init__(
        self, vendor: str, enable_apicv: bool, vcpus: list[VCpu], irq_source: str = "legacy"
    ) -> None:
        self.vendor = vendor
        # Where ExtINTs come from: "pic" (in-kernel i8259, one VM-wide output),
        # "split" (KVM_INTERRUPT per vCPU), "xen" (upcall vector per vCPU), or
        # "legacy": the narrow model of format-1 reproducers.
        self.irq_source = irq_source
        # The in-kernel i8259 reduced to one edge-triggered line: IRR, IMR and the
        # INTR output every vCPU whose LVT0 accepts ExtINT sees (kvm_pic.output).
        self.pic_irr = False
        self.pic_imr = False
        self.pic_output = False
        self.pic_wakeup_needed = False
        self.required = REQUIRED[vendor]
        self.enable_apicv = enable_apicv
        self.apicv_inhibit_reasons = 0
        self.apicv_update_lock = RwSem("apicv_update_lock")
        # atomic_t apicv_nr_irq_window_req (final); the seed calls it apicv_irq_window.
        self.apicv_nr_irq_window_req = Atomic("apicv_nr_irq_window_req")
        self.mmu_lock = RwSem("mmu_lock")
        self.mmu_invalidate_seq = 0
        self.mmu_invalidate_in_progress = 0
        self.apic_spte = False  # an SPTE maps the APIC access page (VM-wide)
        self.vcpus = vcpus
        # Non-IRQWIN inhibit changes in the order the locked body committed them.
        self.ghost_committed: list[tuple[Reason, bool]] = []
        # apicv_update_lock write acquisitions, by the reason being updated.
        self.write_locks: dict[str, int] = {}
        # Of those for IRQWIN: taken although another reason already inhibited.
        self.irqwin_write_locks_inhibited = 0
        self.vgif = True  # kvm_amd.vgif: CLGI/STGI run in hardware, V_GIF holds GIF
        # kvm->arch.vpit->pit_state.reinject and pit_state.lock (i8254.c).
        self.pit_reinject = False
        self.pit_lock = Mutex("pit_state.lock")
        # The APIC access page's private memslot (kvm_alloc_apic_access_page() at
        # vCPU creation, with APICv): the kvm_arch flags, and the memslot as a page
        # fault finds it: MEMSLOT_VALID, MEMSLOT_INVALID (being deleted) or
        # MEMSLOT_NONE (deleted), and how many faults hold the valid one under SRCU.
        self.slots_lock = Mutex("slots_lock")
        self.apic_access_memslot_enabled = enable_apicv
        self.apic_access_memslot_inhibited = False
        self.apic_memslot = MEMSLOT_VALID if enable_apicv else MEMSLOT_NONE
        self.apic_memslot_readers = 0

    @property
    def apicv_irq_window(self) -> Atomic:
        """The seed's name for the same counter."""
        return self.apicv_nr_irq_window_req

    @property
    def irq_window_count(self) -> int:
        """The counter's value, for reports and the oracle."""
        return self.apicv_nr_irq_window_req.counter

    @irq_window_count.setter
    def irq_window_count(self, value: int) -> None:
        """Set the value outside a run (tests, tools): no store is observed."""
        self.apicv_nr_irq_window_req.counter = value


def snapshot(vm: VM) -> dict[str, object]:
    """The observable state as flat ``name -> value`` pairs, for trace diffs."""
    s: dict[str, object] = {
        "inhibits": reasons_str(vm.apicv_inhibit_reasons),
        "irq_window_count": vm.irq_window_count,
        "apicv_lock": _sem_str(vm.apicv_update_lock),
        "mmu_lock": _sem_str(vm.mmu_lock),
        "mmu_seq": vm.mmu_invalidate_seq,
        "mmu_in_progress": vm.mmu_invalidate_in_progress,
        "apic_spte": int(vm.apic_spte),
    }
    for v in vm.vcpus:
        p = f"v{v.id}"
        s[f"{p}.mode"] = ("OUT", "IN_GUEST", "EXITING")[v.mode]
        s[f"{p}.req"] = "+".join(n for b, n in REQ_NAMES.items() if v.requests & b) or "-"
        s[f"{p}.L2"] = int(v.guest_mode)
        s[f"{p}.apicv"] = int(v.apicv_active)
        s[f"{p}.V_IRQ"] = int(v.v_irq)
        s[f"{p}.irq_window"] = int(v.irq_window)
        s[f"{p}.IF"] = int(v.guest_if)
        s[f"{p}.ExtINT"] = int(v.extint_pending)
        s[f"{p}.injected"] = int(v.injected)
        if vm.irq_source != "legacy":
            s[f"{p}.LAPIC"] = int(v.lapic_irr)
            s[f"{p}.xen"] = int(v.xen_upcall)
            s[f"{p}.ISR"] = int(v.in_service)
            s[f"{p}.TPR"] = int(v.tpr_high)
            s[f"{p}.V_TPR"] = int(v.v_tpr_high)
            s[f"{p}.CR8w"] = int(v.cr8_intercept)
            s[f"{p}.GIF"] = int(v.gif)
            s[f"{p}.mp"] = "RUN" if v.mp_state == MpState.RUNNABLE else "WFS"
    if vm.irq_source != "legacy":
        s["apic_memslot"] = vm.apic_memslot
        for v in vm.vcpus:
            s[f"v{v.id}.x2apic"] = int(v.x2apic)
    if vm.irq_source == "pic":
        s["pic"] = f"irr={int(vm.pic_irr)} imr={int(vm.pic_imr)} out={int(vm.pic_output)}"
    return s


def _sem_str(sem: RwSem) -> str:
    if sem.writer is not None:
        return f"W(t{sem.writer})"
    return f"R{sem.readers}" if sem.readers else "-"
