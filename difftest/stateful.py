"""The sequential differential test: a Hypothesis state machine whose every
rule is one operation, run to completion before the next.

After each rule the program so far is run from the start, one operation at a
time in rule order, on the implementation and on ``reference``; the oracle
must stay silent and the guest-visible outcome must be the same. No race is
explored, so the search space is tiny and sequential bugs (a counter that
double counts, a leaked inhibit) fall out in a few examples; the shrunk
failure prints as a short program of rule calls.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from difftest.impls.kernel.world import World
from difftest.impls.reference import Reference
from difftest.model.scenario import Scenario, VcpuSpec
from difftest.model.state import IRQWIN_BIT
from difftest.property import Divergence, check
from difftest.runner import Result, run
from difftest.strategies import DEFAULT_BOUNDS, INITIAL_CHOICES, Bounds


class SequentialScheduler:
    """Runs the thread that owns the next operation until that operation is
    done; once all are done, lets the rest drain (idle vCPUs serve requests)."""

    def __init__(self, order: Sequence[int]) -> None:
        self.order = list(order)
        # need[k]: how many operations thread order[k] has done once rule k is done
        self.need = [self.order[: k + 1].count(t) for k, t in enumerate(self.order)]
        self.k = 0
        self.world: World | None = None

    def attach(self, world: World) -> None:
        self.world = world

    def new_execution(self) -> None:
        self.k = 0

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        assert self.world is not None
        done = self.world.ops_done
        while self.k < len(self.order) and done[self.order[self.k]] >= self.need[self.k]:
            self.k += 1
        if self.k < len(self.order) and self.order[self.k] in runnable:
            return self.order[self.k]
        return current if current in runnable else runnable[0]


def observe(world: World) -> dict[str, object]:
    """What the guest and userspace can tell apart, version-independently."""
    vm = world.vm
    out: dict[str, object] = {"other_inhibits": vm.apicv_inhibit_reasons & ~IRQWIN_BIT}
    for v in vm.vcpus:
        out[v.name] = (v.delivered, v.extint_pending, v.injected, v.guest_if, v.guest_mode)
    return out


class Mismatch(AssertionError):
    """Same program, same order, different outcome than ``reference``."""


def machine(impl: type[World], bounds: Bounds = DEFAULT_BOUNDS) -> type[RuleBasedStateMachine]:
    """A state machine comparing ``impl`` with ``reference``, operation by operation."""
    vcpu_ops = bounds.vcpu_alphabet()
    ioctl_ops = bounds.ioctl_alphabet(bounds.max_vcpus)

    class Sequential(RuleBasedStateMachine):
        @initialize(
            n=st.integers(1, bounds.max_vcpus),
            # an ExtINT pending on most vCPUs (a draw of 0, where shrinking goes, is none)
            extint=st.lists(
                st.integers(0, 3).map(bool), min_size=bounds.max_vcpus, max_size=bounds.max_vcpus
            ),
            # no reason most of the time: any initial reason hides IRQWIN's effects
            initial=st.sampled_from(((), (), ()) + tuple((r,) for r in INITIAL_CHOICES)),
        )
        def boot(self, n: int, extint: list[bool], initial: tuple[str, ...]) -> None:
            self.n = n
            self.extint = tuple(i for i in range(n) if extint[i])
            self.initial = initial
            self.guest_if = [False] * n  # L1 starts with IF=0; ``sti`` sets it
            self.programs: list[list[str]] = [[] for _ in range(n)]
            self.ioctls: list[str] = []
            self.order: list[int] = []  # thread of each rule; the ioctl thread is n
            self.last: Result | None = None

        @rule(i=st.integers(0, bounds.max_vcpus - 1), op=st.sampled_from(vcpu_ops))
        def vcpu(self, i: int, op: str) -> None:
            i %= self.n
            self.programs[i].append(op)
            self.order.append(i)
            self._compare()

        if ioctl_ops:

            @rule(op=st.sampled_from(ioctl_ops))
            def ioctl(self, op: str) -> None:
                if op.startswith("extint "):
                    op = f"extint {int(op.split()[1]) % self.n}"
                self.ioctls.append(op)
                self.order.append(self.n)
                self._compare()

        def _scenario(self) -> Scenario:
            return Scenario(
                vcpus=tuple(
                    VcpuSpec(tuple(p), g) for p, g in zip(self.programs, self.guest_if, strict=True)
                ),
                ioctls=(tuple(self.ioctls),) if self.ioctls else (),
                initial=self.initial,
                vendor=bounds.vendor,
                extint=self.extint,
            )

        def _compare(self) -> None:
            s = self._scenario()
            r = run(impl, s, SequentialScheduler(self.order))
            self.last = r
            check(impl, r)
            ref = run(Reference, s, SequentialScheduler(self.order))
            if ref.first_bug is None and observe(r.world) != observe(ref.world):
                raise Mismatch(
                    f"{impl.name} ends in {observe(r.world)}, reference in {observe(ref.world)}"
                )

        @invariant()
        def quiescent(self) -> None:
            r = getattr(self, "last", None)
            if r is not None and r.execution.outcome != "done":
                raise Divergence(impl, r)

    Sequential.__name__ = f"Sequential_{impl.__name__}"
    return Sequential
