"""Scenarios: the initial VM and the program of every thread.

A vCPU program is a list of guest actions, one per VM entry; an ioctl program is a
list of userspace calls. Operations are plain strings so that a reproducer reads
like a test case: ``sti``, ``apic``, ``set PIT_REINJ``, ``extint 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
)
VCPU_OP_HELP = {
    "run": "run and exit (nothing interrupt-related)",
    "cli": "L1 clears RFLAGS.IF",
    "sti": "L1 sets RFLAGS.IF: an armed V_IRQ window opens",
    "apic": "access the APIC page (0xfee00000)",
    "vmrun": "L1 executes VMRUN and enters L2",
    "sti_vmrun": "L1 executes STI; VMRUN (VMRUN in the STI shadow)",
    "vmexit": "L2 exits to L1 (#VMEXIT, GIF=0), then L1 executes STGI as every L1 "
    "hypervisor does after VMRUN (in L1 with GIF=0: that STGI; otherwise nothing)",
    "clgi": "L1 executes CLGI (GIF=0; intercepted unless vGIF)",
    "stgi": "L1 executes STGI (GIF=1; intercepted unless vGIF)",
    "reset": "userspace resets the vCPU between KVM_RUNs (KVM_SET_MP_STATE: "
    "INIT_RECEIVED for an AP, RUNNABLE for vCPU 0, the BSP)",
}

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
INITIAL_REASONS = (
    Reason.ABSENT,
    Reason.PIT_REINJ,
    Reason.HYPERV,
    Reason.BLOCKIRQ,
    Reason.APIC_ID_MODIFIED,
    Reason.APIC_BASE_MODIFIED,
    Reason.LOGICAL_ID_ALIASED,
    Reason.PHYSICAL_ID_TOO_BIG,
)
# ioctl operations that name a vCPU: ``extint N`` (the PIC raises INTR), ``init N``
# and ``sipi N`` (an INIT or a SIPI IPI arrives, as from a vCPU outside the scenario).
VCPU_IOCTLS = ("extint", "init", "sipi")


class ScenarioError(UsageError):
    """A scenario that does not describe a valid run."""


@dataclass(frozen=True)
class VcpuSpec:
    program: tuple[str, ...]
    guest_if: bool = False  # L1's RFLAGS.IF at the start
    apic_enabled: bool = True


@dataclass(frozen=True)
class Scenario:
    vcpus: tuple[VcpuSpec, ...]
    ioctls: tuple[tuple[str, ...], ...] = ()
    initial: tuple[str, ...] = ()  # inhibit reasons set at the start
    vendor: str = "svm"
    enable_apicv: bool = True
    extint: tuple[int, ...] = field(default=())  # vCPUs with an ExtINT pending at start
    vgif: bool = True  # kvm_amd.vgif

    def __post_init__(self) -> None:
        validate(self)

    @property
    def thread_names(self) -> list[str]:
        return [f"vcpu{i}" for i in range(len(self.vcpus))] + [
            f"ioctl{i}" for i in range(len(self.ioctls))
        ]

    @property
    def n_ops(self) -> int:
        return sum(len(v.program) for v in self.vcpus) + sum(len(p) for p in self.ioctls)

    def to_json(self) -> dict[str, object]:
        return {
            "vendor": self.vendor,
            "enable_apicv": self.enable_apicv,
            "initial": list(self.initial),
            "extint": list(self.extint),
            "vgif": self.vgif,
            "vcpus": [
                {"program": list(v.program), "guest_if": v.guest_if, "apic_enabled": v.apic_enabled}
                for v in self.vcpus
            ],
            "ioctls": [list(p) for p in self.ioctls],
        }

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
                vgif=_bool(d.get("vgif", True), "vgif"),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise ScenarioError(f"malformed scenario: {e!r}") from None


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


def parse_ioctl(op: str, n_vcpus: int) -> tuple[str, Reason | int, bool]:
    """``"set PIT_REINJ"`` -> ("inhibit", Reason.PIT_REINJ, True); ``"extint 1"`` ->
    ("extint", 1, True); ``"init 1"``, ``"sipi 1"`` likewise."""
    parts = op.split()
    if len(parts) == 2 and parts[0] in VCPU_IOCTLS:
        if not (parts[1].isascii() and parts[1].isdigit()) or int(parts[1]) >= n_vcpus:
            raise ScenarioError(f"ioctl {op!r}: no such vCPU")
        return parts[0], int(parts[1]), True
    if len(parts) == 2 and parts[0] in ("set", "clear"):
        try:
            reason = Reason[parts[1]]
        except KeyError:
            raise ScenarioError(f"ioctl {op!r}: unknown inhibit reason") from None
        if parts[0] not in SETTABLE.get(reason, ()):
            raise ScenarioError(f"ioctl {op!r}: userspace cannot {parts[0]} {reason.name}")
        return "inhibit", reason, parts[0] == "set"
    raise ScenarioError(f"unknown ioctl operation {op!r}")


def validate(s: Scenario) -> None:
    if s.vendor not in ("svm", "vmx"):
        raise ScenarioError(f"unknown vendor {s.vendor!r} (svm or vmx)")
    if not s.vcpus:
        raise ScenarioError("a scenario needs at least one vCPU")
    for v in s.vcpus:
        for op in v.program:
            if op not in VCPU_OPS:
                raise ScenarioError(f"unknown vCPU operation {op!r}")
    for p in s.ioctls:
        for op in p:
            parse_ioctl(op, len(s.vcpus))
    for r in s.initial:
        if r not in Reason.__members__ or Reason[r] not in INITIAL_REASONS:
            raise ScenarioError(f"initial reason {r!r} is not one userspace can set")
    for x in s.extint:
        if not 0 <= x < len(s.vcpus):
            raise ScenarioError(f"extint vCPU {x} does not exist")


# Operations the random generator draws from, weighted by repetition: windows and
# APIC accesses are what the inhibit logic races on.
_GEN_VCPU_OPS = (
    "run",
    "cli",
    "cli",
    "sti",
    "sti",
    "apic",
    "apic",
    "vmrun",
    "sti_vmrun",
    "vmexit",
    "clgi",
    "stgi",
    "stgi",
    "reset",
)
NESTED_OPS = ("vmrun", "sti_vmrun", "vmexit", "clgi", "stgi")
RESET_OPS = ("reset", "init", "sipi")
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
    "init",
    "sipi",
)


def generate(
    src: ChoiceSource,
    *,
    vcpus: int = 3,
    ioctls: int = 1,
    ops: int = 4,
    nested: bool = True,
    vendor: str = "svm",
    resets: bool = False,
) -> Scenario:
    """Draw a scenario from ``src``: ``ops`` operations per thread.

    Every draw goes through ``src``, so a Hypothesis or Atheris source explores
    (and a shrinker reduces) scenarios with the same code.
    """
    vops = [o for o in _GEN_VCPU_OPS if (nested or o not in NESTED_OPS)]
    if not resets:
        vops = [o for o in vops if o not in RESET_OPS]
    iops = [o for o in _GEN_IOCTL_OPS if resets or o not in RESET_OPS]
    vspecs = []
    for _ in range(vcpus):
        prog = tuple(vops[src.draw(len(vops))] for _ in range(ops))
        vspecs.append(VcpuSpec(program=prog, guest_if=bool(src.draw(2))))
    iprogs = []
    for _ in range(ioctls):
        prog = []
        for _ in range(ops):
            op = iops[src.draw(len(iops))]
            if op in VCPU_IOCTLS:
                op = f"{op} {src.draw(vcpus)}"
            prog.append(op)
        iprogs.append(tuple(prog))
    initial = ("PIT_REINJ",) if src.draw(2) else ()
    extint = tuple(i for i in range(vcpus) if src.draw(3) == 0)
    # Module parameters: enable_apicv=0 in one run of 16, vGIF off in one of 4.
    enable_apicv = src.draw(16) != 0
    vgif = src.draw(4) != 0
    return Scenario(
        vcpus=tuple(vspecs),
        ioctls=tuple(iprogs),
        initial=initial,
        vendor=vendor,
        extint=extint,
        enable_apicv=enable_apicv,
        vgif=vgif,
    )
