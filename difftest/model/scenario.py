"""Scenarios: the initial VM and the program of every thread.

A vCPU program is a list of guest actions, one per VM entry; an ioctl program is a
list of userspace calls. Operations are plain strings so that a reproducer reads
like a test case: ``sti``, ``apic``, ``set PIT_REINJ``, ``extint 1``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from random import Random
from typing import TypeVar

from difftest.errors import UsageError
from difftest.model.state import Reason
from difftest.schedulers.base import ChoiceSource

# Guest actions (what L1 or L2 does between one VM entry and the next exit).
VCPU_OPS = (
    "run",
    "cli",
    "sti",
    "apic",
    "vmrun",
    "sti_vmrun",
    "vmexit",
    "clgi",
    "stgi",
    "reset",
    "x2apic",
)
VCPU_OP_HELP = {
    "run": "run and exit (nothing interrupt-related)",
    "cli": "L1 clears RFLAGS.IF",
    "sti": "L1 sets RFLAGS.IF: an armed V_IRQ window opens",
    "apic": "access the APIC page (0xfee00000)",
    "vmrun": "L1 executes VMRUN and enters L2",
    "sti_vmrun": "L1 executes STI; VMRUN (VMRUN in the STI shadow)",
    "vmexit": "L2 exits to L1 (#VMEXIT); outside the legacy source GIF=0 after it, and the "
    "next entry runs L1's STGI (in L1 with GIF=0: that STGI; otherwise nothing)",
    "clgi": "L1 executes CLGI (GIF=0; intercepted unless vGIF)",
    "stgi": "L1 executes STGI (GIF=1; intercepted unless vGIF)",
    "reset": "userspace resets the vCPU between KVM_RUNs (QEMU's reset: KVM_SET_REGS/LAPIC/"
    "VCPU_EVENTS/NESTED_STATE, KVM_SET_MP_STATE: INIT_RECEIVED for an AP, RUNNABLE for "
    "vCPU 0, the BSP)",
    "x2apic": "L1 sets X2APIC_ENABLE in IA32_APIC_BASE (WRMSR, intercepted); with AVIC "
    "and no x2AVIC the next entry deletes the APIC access page's memslot for good",
}
# vCPU operations of the wider model only (a legacy scenario has none).
GIF_OPS = ("clgi", "stgi")
RESET_OPS = ("reset",)
X2APIC_OPS = ("x2apic",)

# Inhibit reasons userspace can change, and how.
SETTABLE = {
    Reason.PIT_REINJ: ("set", "clear"),
    Reason.BLOCKIRQ: ("set", "clear"),
    Reason.HYPERV: ("set", "clear"),
    Reason.ABSENT: ("clear",),
    Reason.APIC_ID_MODIFIED: ("set",),
    Reason.APIC_BASE_MODIFIED: ("set",),
    Reason.LOGICAL_ID_ALIASED: ("set", "clear"),
}
# Where ExtINTs come from (issue 9). "legacy" is the narrow model that reproducers
# of format version 1 were recorded on: one ExtINT per vCPU, never withdrawn, no L1
# interrupts into L2, no requeue of a cancelled injection, no LAPIC interrupts.
IRQ_SOURCES = ("legacy", "pic", "split", "xen")
IRQ_SOURCE_HELP = {
    "legacy": "the narrow model of old reproducers (per-vCPU ExtINT, nothing else)",
    "pic": "in-kernel i8259: one VM-wide output, gated per vCPU by LVT0, acked once",
    "split": "split irqchip: userspace PIC, KVM_INTERRUPT sets one vCPU's ExtINT",
    "xen": "Xen upcall vector: evtchn_upcall_pending per vCPU, cleared by the guest",
}
# Interrupt operations of the wider model, by source ("extint N" is per-vCPU:
# legacy, split, xen; the PIC line is VM-wide).
PIC_OPS = ("pic raise", "pic mask", "pic unmask")

INITIAL_REASONS = (
    Reason.ABSENT,
    Reason.PIT_REINJ,
    Reason.HYPERV,
    Reason.BLOCKIRQ,
    Reason.APIC_ID_MODIFIED,
    Reason.APIC_BASE_MODIFIED,
    Reason.LOGICAL_ID_ALIASED,
    # Set once at AVIC setup when the largest APIC ID exceeds the physical ID table
    # (avic.c): initial only, never changed by userspace afterwards.
    Reason.PHYSICAL_ID_TOO_BIG,
)
# ioctl operations that name a vCPU: ``extint N``, ``lapic N``, and ``init N`` /
# ``sipi N`` (an INIT or a SIPI IPI arrives, as from a vCPU outside the scenario).
VCPU_IOCTLS = ("extint", "lapic", "init", "sipi")


_F = TypeVar("_F")


class ScenarioError(UsageError):
    """A scenario that does not describe a valid run."""


@dataclass(frozen=True)
class VcpuSpec:
    program: tuple[str, ...]
    guest_if: bool = False  # L1's RFLAGS.IF at the start
    apic_enabled: bool = True
    lvt0: bool = True  # LVT0 unmasked in ExtINT mode: accepts PIC interrupts
    intercept_intr: bool = True  # L1 intercepts INTR in vmcb12 (False: L1 IRQs go into L2)


@dataclass(frozen=True)
class Scenario:
    vcpus: tuple[VcpuSpec, ...]
    ioctls: tuple[tuple[str, ...], ...] = ()
    initial: tuple[str, ...] = ()  # inhibit reasons set at the start
    vendor: str = "svm"
    enable_apicv: bool = True
    extint: tuple[int, ...] = field(default=())  # vCPUs with an ExtINT pending at start
    irq_source: str = "legacy"  # IRQ_SOURCES; "pic": a listed vCPU means the line is raised
    vgif: bool = True  # kvm_amd.vgif (only vgif=0 is written to JSON)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def thread_names(self) -> list[str]:
        return list(_thread_names(len(self.vcpus), len(self.ioctls)))

    @property
    def n_ops(self) -> int:
        n = sum(map(len, self.ioctls))
        for v in self.vcpus:
            n += len(v.program)
        return n

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {
            "vendor": self.vendor,
            "enable_apicv": self.enable_apicv,
            "initial": list(self.initial),
            "extint": list(self.extint),
            "vcpus": [_vcpu_json(v, self.irq_source != "legacy") for v in self.vcpus],
            "ioctls": [list(p) for p in self.ioctls],
        }
        if self.irq_source != "legacy":  # a legacy scenario's JSON stays as it was
            d["irq_source"] = self.irq_source
        if not self.vgif:
            d["vgif"] = False
        return d

    @classmethod
    def from_json(cls, d: object) -> Scenario:
        if not isinstance(d, dict):
            raise ScenarioError("scenario must be an object")
        try:
            vcpus = tuple(
                VcpuSpec(
                    program=tuple(_strs(v["program"], "vcpu program")),
                    guest_if=_bool(v.get("guest_if", False), "guest_if"),
                    apic_enabled=_bool(v.get("apic_enabled", True), "apic_enabled"),
                    lvt0=_bool(v.get("lvt0", True), "lvt0"),
                    intercept_intr=_bool(v.get("intercept_intr", True), "intercept_intr"),
                )
                for v in d["vcpus"]
            )
            return cls(
                vcpus=vcpus,
                ioctls=tuple(tuple(_strs(p, "ioctl program")) for p in d.get("ioctls", [])),
                initial=tuple(_strs(d.get("initial", []), "initial")),
                vendor=str(d.get("vendor", "svm")),
                enable_apicv=_bool(d.get("enable_apicv", True), "enable_apicv"),
                extint=tuple(_int(x, "extint") for x in d.get("extint", [])),
                irq_source=str(d.get("irq_source", "legacy")),
                vgif=_bool(d.get("vgif", True), "vgif"),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise ScenarioError(f"malformed scenario: {e!r}") from None


@cache
def _thread_names(vcpus: int, ioctls: int) -> tuple[str, ...]:
    """``vcpu0``, ..., then ``ioctl0``, ...: formatted once per shape."""
    return tuple([f"vcpu{i}" for i in range(vcpus)] + [f"ioctl{i}" for i in range(ioctls)])


def _vcpu_json(v: VcpuSpec, wide: bool) -> dict[str, object]:
    d: dict[str, object] = {
        "program": list(v.program),
        "guest_if": v.guest_if,
        "apic_enabled": v.apic_enabled,
    }
    if wide:
        d["lvt0"] = v.lvt0
        d["intercept_intr"] = v.intercept_intr
    return d


def _bool(x: object, what: str) -> bool:
    if not isinstance(x, bool):
        raise ScenarioError(f"{what} must be true or false, not {x!r}")
    return x


def _int(x: object, what: str) -> int:
    if type(x) is not int:
        raise ScenarioError(f"{what} must hold vCPU numbers, not {x!r}")
    return x


def _strs(x: object, what: str) -> list[str]:
    if not isinstance(x, list) or not all(isinstance(s, str) for s in x):
        raise ScenarioError(f"{what} must be a list of strings")
    return x


@lru_cache(maxsize=1024)  # a pure function of a few strings, parsed twice per run
def parse_ioctl(op: str, n_vcpus: int) -> tuple[str, Reason | int | str, bool]:
    """``"set PIT_REINJ"`` -> ("inhibit", Reason.PIT_REINJ, True); ``"extint 1"`` ->
    ("extint", 1, True); ``"lapic 0"``, ``"init 0"``, ``"sipi 0"`` likewise;
    ``"pic mask"`` -> ("pic", "mask", True)."""
    parts = op.split()
    if len(parts) == 2 and parts[0] in VCPU_IOCTLS:
        if not (parts[1].isascii() and parts[1].isdigit()) or int(parts[1]) >= n_vcpus:
            raise ScenarioError(f"ioctl {op!r}: no such vCPU")
        return parts[0], int(parts[1]), True
    if op in PIC_OPS:
        return "pic", parts[1], True
    if len(parts) == 2 and parts[0] in ("set", "clear"):
        try:
            reason = Reason[parts[1]]
        except KeyError:
            raise ScenarioError(f"ioctl {op!r}: unknown inhibit reason") from None
        if parts[0] not in SETTABLE.get(reason, ()):
            raise ScenarioError(f"ioctl {op!r}: userspace cannot {parts[0]} {reason.name}")
        return "inhibit", reason, parts[0] == "set"
    raise ScenarioError(f"unknown ioctl operation {op!r}")


_VCPU_OP_SET = frozenset(VCPU_OPS)
_LEGACY_VCPU_OPS = _VCPU_OP_SET - frozenset(GIF_OPS + RESET_OPS + X2APIC_OPS)
_INITIAL_NAMES = frozenset(r.name for r in INITIAL_REASONS)


def validate(s: Scenario) -> None:
    if s.vendor not in ("svm", "vmx"):
        raise ScenarioError(f"unknown vendor {s.vendor!r} (svm or vmx)")
    if not s.vcpus:
        raise ScenarioError("a scenario needs at least one vCPU")
    allowed = _LEGACY_VCPU_OPS if s.irq_source == "legacy" else _VCPU_OP_SET
    for v in s.vcpus:
        try:
            if allowed.issuperset(v.program):
                continue
        except TypeError:  # an unhashable operation: named below
            pass
        for op in v.program:  # the first operation at fault, by name
            if op not in VCPU_OPS:
                raise ScenarioError(f"unknown vCPU operation {op!r}")
            if op in GIF_OPS + RESET_OPS + X2APIC_OPS and s.irq_source == "legacy":
                raise ScenarioError(f"vCPU operation {op!r} needs an irq_source other than legacy")
    if s.irq_source not in IRQ_SOURCES:
        raise ScenarioError(f"unknown irq_source {s.irq_source!r} ({', '.join(IRQ_SOURCES)})")
    if not s.vgif and s.irq_source == "legacy":
        raise ScenarioError("vgif=0 needs an irq_source other than legacy")
    n = len(s.vcpus)
    for p in s.ioctls:
        for op in p:
            kind = parse_ioctl(op, n)[0]
            if kind == "inhibit":
                continue
            if kind == "pic" and s.irq_source != "pic":
                raise ScenarioError(f"ioctl {op!r} needs irq_source pic")
            if kind == "extint" and s.irq_source == "pic":
                raise ScenarioError(f"ioctl {op!r}: with the in-kernel PIC use 'pic raise'")
            if kind in ("lapic", "init", "sipi") and s.irq_source == "legacy":
                raise ScenarioError(f"ioctl {op!r} needs an irq_source other than legacy")
    for r in s.initial:
        if r not in _INITIAL_NAMES:
            raise ScenarioError(f"initial reason {r!r} is not one userspace can set")
    for x in s.extint:
        if not 0 <= x < n:
            raise ScenarioError(f"extint vCPU {x} does not exist")


# Operations the random generator draws from, weighted by repetition: windows and
# APIC accesses are what the inhibit logic races on.
_GEN_VCPU_OPS = ("run", "cli", "cli", "sti", "sti", "apic", "apic", "vmrun", "sti_vmrun", "vmexit")
_GEN_IOCTL_OPS = (
    "set PIT_REINJ",
    "clear PIT_REINJ",
    "set BLOCKIRQ",
    "clear BLOCKIRQ",
    "set HYPERV",
    "clear HYPERV",
    "extint",
    "extint",
    "extint",
)


# CLGI/STGI in the wider model (STGI twice: an L1 hypervisor's GIF=0 spans are short).
_GEN_GIF_OPS = ("clgi", "stgi", "stgi")
# The wider model adds interrupt operations per source; "extint" and "lapic" name a
# vCPU drawn next.
_GEN_IRQ_OPS = {
    "pic": ("pic raise", "pic raise", "pic mask", "pic unmask", "lapic", "lapic"),
    "split": ("extint", "extint", "extint", "lapic", "lapic", "lapic"),
    "xen": ("extint", "extint", "extint", "lapic", "lapic", "lapic"),
}
#: What ``generate(irq_source=ANY)`` draws the source from.
ANY = "any"
GEN_IRQ_SOURCES = ("pic", "split", "xen")


@cache
def _vcpu_alphabet(wide: bool, resets: bool, nested: bool, x2apic: bool) -> tuple[str, ...]:
    """The vCPU operations ``generate`` draws from, repetitions included."""
    nested_ops = ("vmrun", "sti_vmrun", "vmexit") + (GIF_OPS if wide else ())
    alphabet_v = _GEN_VCPU_OPS + (_GEN_GIF_OPS if wide else ())
    alphabet_v += X2APIC_OPS if x2apic else ()
    alphabet_v += RESET_OPS if wide and resets else ()
    return tuple(o for o in alphabet_v if nested or o not in nested_ops)


def _drawer(src: ChoiceSource) -> Callable[[int], int]:
    """``src.draw``, or for a source whose draws are ``rng.randrange(n)`` (a
    ``RandomSource``) the same draws from the same stream without the method's
    wrapper: k = n.bit_length() bits, redrawn while >= n, as ``Random._randbelow``."""
    uniform = getattr(src, "uniform_rng", None)
    rng = uniform() if uniform is not None else None
    if rng is None or type(rng)._randbelow is not Random._randbelow_with_getrandbits:  # type: ignore[attr-defined]
        return src.draw
    bits = rng.getrandbits
    slow = src.draw

    def draw(n: int) -> int:
        if n > 0:
            k = n.bit_length()
            r = bits(k)
            while r >= n:
                r = bits(k)
            return r
        return slow(n)

    return draw


def _frozen(cls: type[_F], fields: dict[str, object]) -> _F:
    """An instance of the frozen dataclass ``cls`` with every field given, built
    without its ``__init__`` (one ``object.__setattr__`` call per field, and
    ``__post_init__``): ``generate`` makes four per run and validates itself."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def generate(
    src: ChoiceSource,
    *,
    vcpus: int = 3,
    ioctls: int = 1,
    ops: int = 4,
    nested: bool = True,
    vendor: str = "svm",
    irq_source: str = "legacy",
    resets: bool = False,
) -> Scenario:
    """Draw a scenario from ``src``: ``ops`` operations per thread.

    Every draw goes through ``src``, so a Hypothesis or Atheris source explores
    (and a shrinker reduces) scenarios with the same code. ``irq_source="legacy"``
    draws exactly what it always drew, so old (seed, run) pairs name the same
    runs; ``ANY`` draws the source first. The wider sources also draw CLGI/STGI
    (with nested operations), the guest's switch to x2APIC mode (in one run in 8),
    vGIF off (one run in 4) and enable_apicv=0 (one in 16); ``resets`` adds
    userspace resets and INIT/SIPI IPIs.
    """
    draw = _drawer(src)
    if irq_source == ANY:
        irq_source = GEN_IRQ_SOURCES[draw(len(GEN_IRQ_SOURCES))]
    wide = irq_source != "legacy"
    # A guest switches to x2APIC mode once, and then the APIC page is gone for the
    # VM's lifetime (its MMU races with it): one run in 8 may do it.
    x2apic = wide and draw(8) == 0
    vops = _vcpu_alphabet(wide, resets, nested, x2apic)
    nv = len(vops)
    vspecs = []
    for i in range(vcpus):
        prog = tuple([vops[draw(nv)] for _ in range(ops)])
        guest_if = bool(draw(2))
        if wide:
            # vCPU 0 is the BSP, whose LVT0 takes ExtINT; the others half the time.
            lvt0 = i == 0 or draw(2) == 0
            intercept = bool(draw(2)) if nested else True
        else:
            lvt0 = intercept = True
        vspecs.append(
            _frozen(
                VcpuSpec,
                {
                    "program": prog,
                    "guest_if": guest_if,
                    "apic_enabled": True,
                    "lvt0": lvt0,
                    "intercept_intr": intercept,
                },
            )
        )
    # Inhibit toggles keep the share they have in the legacy alphabet (two thirds).
    alphabet = _GEN_IOCTL_OPS if not wide else _GEN_IOCTL_OPS[:6] * 2 + _GEN_IRQ_OPS[irq_source]
    if wide and resets:
        alphabet += ("init", "sipi")
    na = len(alphabet)
    iprogs = []
    for _ in range(ioctls):
        prog = []
        for _ in range(ops):
            op = alphabet[draw(na)]
            if op in VCPU_IOCTLS:
                op = f"{op} {draw(vcpus)}"
            prog.append(op)
        iprogs.append(tuple(prog))
    initial = ("PIT_REINJ",) if draw(2) else ()
    extint = tuple([i for i in range(vcpus) if draw(3) == 0])
    enable_apicv = vgif = True
    if wide and vendor == "svm":
        # Module parameters: vGIF off in one run of 4, enable_apicv=0 in one of 16.
        vgif = draw(4) != 0
        enable_apicv = draw(16) != 0
    elif wide:
        enable_apicv = draw(16) != 0
    scenario = _frozen(
        Scenario,
        {
            "vcpus": tuple(vspecs),
            "ioctls": tuple(iprogs),
            "initial": initial,
            "vendor": vendor,
            "enable_apicv": enable_apicv,
            "extint": extint,
            "irq_source": irq_source,
            "vgif": vgif,
        },
    )
    validate(scenario)
    return scenario
