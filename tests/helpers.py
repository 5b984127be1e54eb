"""Shared helpers for the difftest test suite (not a test module)."""

from __future__ import annotations

from collections import Counter

from difftest.impls import load
from difftest.model.scenario import Scenario, VcpuSpec
from difftest.oracle.findings import Kind
from difftest.runner import Result, run
from difftest.schedulers import RandomScheduler


def impl_cls(impl):
    return load(impl) if isinstance(impl, str) else impl


def search(impl, scenario: Scenario, kind: Kind, seeds: int = 400, *, first: bool = True):
    """First seeded random schedule whose first bug (or, with first=False, any
    finding) has ``kind``; None if none of ``seeds`` schedules shows it."""
    cls = impl_cls(impl)
    for k in range(seeds):
        r = run(cls, scenario, RandomScheduler(k))
        if first:
            if r.first_bug is not None and r.first_bug.kind == kind:
                return r
        elif any(f.kind == kind for f in r.findings):
            return r
    return None


def bug_kinds(impl, scenario: Scenario, seeds: int = 300) -> Counter:
    """first-bug kind (or None) -> number of seeds."""
    cls = impl_cls(impl)
    c: Counter = Counter()
    for k in range(seeds):
        r = run(cls, scenario, RandomScheduler(k))
        c[r.first_bug.kind if r.first_bug else None] += 1
    return c


def all_kinds(impl, scenario: Scenario, seeds: int = 300) -> set[Kind]:
    """Every finding kind (any severity) seen over ``seeds`` schedules."""
    cls = impl_cls(impl)
    out: set[Kind] = set()
    for k in range(seeds):
        out |= {f.kind for f in run(cls, scenario, RandomScheduler(k)).findings}
    return out


def assert_clean(impl, scenario: Scenario, seeds: int = 300, *, soft_ok: bool = True) -> None:
    cls = impl_cls(impl)
    for k in range(seeds):
        r: Result = run(cls, scenario, RandomScheduler(k))
        assert r.execution.outcome == "done", (k, r.execution.outcome, r.findings)
        if soft_ok:
            assert r.first_bug is None, (k, r.findings)
        else:
            assert r.findings == [], (k, r.findings)


def V(*program: str, guest_if: bool = False, apic_enabled: bool = True) -> VcpuSpec:  # noqa: N802
    return VcpuSpec(program=tuple(program), guest_if=guest_if, apic_enabled=apic_enabled)


# Hand-written scenarios, named after what they show.
SEAN = Scenario(vcpus=(V("sti"), V("run", "sti")), extint=(0, 1))
SEAN_BOTH_RUN = Scenario(vcpus=(V("run", "sti"), V("run", "sti")), extint=(0, 1))
# #VMEXIT leaves GIF=0; without vGIF, L1's STGI exits and svm_set_gif(true) makes
# KVM inject the ExtINT directly, with IRQWIN still set (prepatch).
NESTED_LEAK = Scenario(vcpus=(V("sti_vmrun", "vmexit", "stgi", "run"),), extint=(0,), vgif=False)
NESTED_LEAK_VGIF = Scenario(vcpus=(V("sti_vmrun", "vmexit", "stgi", "run"),), extint=(0,))
SEED_REREQUEST = Scenario(vcpus=(V("sti", "run"),), extint=(0,))
SEED_IDLE_WAIT = Scenario(vcpus=(V(),), extint=(0,))
PER_VCPU_APIC = Scenario(vcpus=(V("run", "apic"), V("apic", guest_if=True)), extint=(0,))
PER_VCPU_APIC_1 = Scenario(vcpus=(V("apic"),), extint=(0,))
IRQWIN_FROM_SET = Scenario(
    vcpus=(V("run", "run", "sti"),),
    ioctls=(("clear PIT_REINJ",),),
    initial=("PIT_REINJ",),
    extint=(0,),
)
IRQWIN_FROM_SET_WARN = Scenario(
    vcpus=(V(),), ioctls=(("set PIT_REINJ", "clear PIT_REINJ"),), extint=(0,)
)
ZAP_NO_SEQ = Scenario(vcpus=(V("apic", "apic"), V("apic", "apic")), ioctls=(("set PIT_REINJ",),))
PERF_LAZY = Scenario(vcpus=(V("run", "sti", "run"),), initial=("PIT_REINJ",), extint=(0,))
MISSING_INHIBIT = Scenario(vcpus=(V(), V("sti")), ioctls=(("extint 0",),), extint=(1,))
STALE_APICV = Scenario(vcpus=(V(),), ioctls=(("extint 0",),))
DELAYED = Scenario(
    vcpus=(V(guest_if=True), V("cli", "sti", guest_if=True)),
    ioctls=(("extint 0", "extint 1"),),
    extint=(0,),
)
VMX_WINDOWS = Scenario(
    vcpus=(V("run", "sti"), V("run", "sti"), V("sti_vmrun", "vmexit", "run")),
    ioctls=(("set HYPERV", "clear HYPERV", "extint 0"),),
    initial=("PIT_REINJ",),
    vendor="vmx",
    extint=(0, 1, 2),
)
FOUR_THREADS = Scenario(
    vcpus=(V("sti", "apic"), V("run", "sti"), V("apic", "sti_vmrun", "vmexit")),
    ioctls=(("set PIT_REINJ", "clear PIT_REINJ", "extint 2"),),
    initial=("PIT_REINJ",),
    extint=(0, 1),
)
