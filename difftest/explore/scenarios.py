"""Every scenario within a bound, once up to renaming vCPUs and ioctl threads."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from difftest.model.scenario import VCPU_IOCTLS, Scenario, ScenarioError, VcpuSpec, parse_ioctl


@dataclass(frozen=True)
class Bound:
    vcpus: int = 2
    ops: int = 1  # operations per vCPU
    ioctls: int = 0  # ioctl threads
    ioctl_len: int = 1  # operations per ioctl thread
    vcpu_ops: tuple[str, ...] = ("sti", "apic", "run")
    ioctl_ops: tuple[str, ...] = ("set PIT_REINJ",)
    extint: str = "all"  # all | none | any: which vCPUs start with an ExtINT
    initial: tuple[str, ...] = ()
    vendor: str = "svm"
    irq_source: str = "legacy"  # IRQ_SOURCES
    intercept_intr: bool = True  # False: L1 does not intercept INTR, its IRQs go into L2
    vgif: bool = True  # kvm_amd.vgif
    enable_apicv: bool = True


def _rename(s: Scenario, perm: tuple[int, ...]) -> Scenario:
    """vCPU i becomes vCPU perm[i]."""
    vcpus = [s.vcpus[0]] * len(s.vcpus)
    for i, v in enumerate(s.vcpus):
        vcpus[perm[i]] = v

    def op(o: str) -> str:
        parts = o.split()
        return f"{parts[0]} {perm[int(parts[1])]}" if parts[0] in VCPU_IOCTLS else o

    return Scenario(
        vcpus=tuple(vcpus),
        ioctls=tuple(sorted(tuple(op(o) for o in p) for p in s.ioctls)),
        initial=s.initial,
        vendor=s.vendor,
        extint=tuple(sorted(perm[x] for x in s.extint)),
        irq_source=s.irq_source,
        vgif=s.vgif,
        enable_apicv=s.enable_apicv,
    )


def canonical(s: Scenario) -> str:
    """The least JSON form over vCPU permutations: symmetric scenarios coincide."""
    return min(repr(_rename(s, p).to_json()) for p in itertools.permutations(range(len(s.vcpus))))


def scenarios(b: Bound) -> Iterator[Scenario]:
    """In a fixed order; a scenario symmetric to an earlier one is skipped."""
    if b.vcpus < 1 or b.ops < 0 or b.ioctls < 0 or b.ioctl_len < 1:
        raise ScenarioError("bound: --vcpus >= 1, --ops >= 0, --ioctls >= 0")
    if b.extint not in ("all", "none", "any"):
        raise ScenarioError(f"--extint {b.extint!r}: all, none or any")
    ioctl_alphabet: list[str] = []
    for o in b.ioctl_ops:
        if o in VCPU_IOCTLS:
            ioctl_alphabet += [f"{o} {i}" for i in range(b.vcpus)]
        else:
            parse_ioctl(o, b.vcpus)
            ioctl_alphabet.append(o)
    programs = list(itertools.product(b.vcpu_ops, repeat=b.ops))
    iprogs = list(itertools.product(ioctl_alphabet, repeat=b.ioctl_len))
    n = b.vcpus
    extints = {
        "all": [tuple(range(n))],
        "none": [()],
        "any": [tuple(i for i in range(n) if m >> i & 1) for m in range(1 << n)],
    }[b.extint]
    seen: set[str] = set()
    for vprogs in itertools.product(programs, repeat=n):
        for ip in itertools.combinations_with_replacement(iprogs, b.ioctls):
            for ext in extints:
                s = Scenario(
                    vcpus=tuple(
                        VcpuSpec(program=p, intercept_intr=b.intercept_intr) for p in vprogs
                    ),
                    ioctls=ip,
                    initial=b.initial,
                    vendor=b.vendor,
                    extint=ext,
                    irq_source=b.irq_source,
                    vgif=b.vgif,
                    enable_apicv=b.enable_apicv,
                )
                key = canonical(s)
                if key in seen:
                    continue
                seen.add(key)
                yield s
