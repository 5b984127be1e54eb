"""Greedy scenario reduction for a finding: drop threads, operations and
initial state while some schedule still shows the same kind of finding.

Each candidate is searched with a fixed number of seeded random schedules, so
the result is deterministic. (Joint shrinking of operations and schedule is the
Hypothesis front-end's job; this makes the CLI's first reproducer short.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario, ScenarioError, VcpuSpec
from difftest.oracle.findings import Kind
from difftest.runner import Result, run
from difftest.schedulers.random import RandomScheduler


def find_schedule(
    impl: type[World], scenario: Scenario, kind: Kind, tries: int, seed: int = 0
) -> Result | None:
    for k in range(tries):
        r = run(impl, scenario, RandomScheduler(seed * 7919 + k))
        if r.first_bug is not None and r.first_bug.kind == kind:
            return r
    return None


def _candidates(s: Scenario) -> Iterator[dict[str, object]]:
    """Field changes that make ``s`` smaller, most drastic first."""
    n = len(s.vcpus)
    for i in range(len(s.ioctls)):
        yield {"ioctls": s.ioctls[:i] + s.ioctls[i + 1 :]}
    if n > 1:
        for i in range(n):
            # Dropping a vCPU renumbers the others: fix extint targets.
            def renum(x: int, i: int = i) -> int:
                return x - 1 if x > i else x

            ioctls = tuple(
                tuple(
                    f"extint {renum(int(op.split()[1]))}" if op.startswith("extint") else op
                    for op in p
                    if op != f"extint {i}"
                )
                for p in s.ioctls
            )
            yield {
                "vcpus": s.vcpus[:i] + s.vcpus[i + 1 :],
                "ioctls": ioctls,
                "extint": tuple(renum(x) for x in s.extint if x != i),
            }
    for i, p in enumerate(s.ioctls):
        for j in range(len(p)):
            yield {"ioctls": s.ioctls[:i] + (p[:j] + p[j + 1 :],) + s.ioctls[i + 1 :]}
    for i, v in enumerate(s.vcpus):
        for j in range(len(v.program)):
            nv = VcpuSpec(v.program[:j] + v.program[j + 1 :], v.guest_if, v.apic_enabled)
            yield {"vcpus": s.vcpus[:i] + (nv,) + s.vcpus[i + 1 :]}
    if s.initial:
        yield {"initial": ()}
    for x in s.extint:
        yield {"extint": tuple(y for y in s.extint if y != x)}


def shrink(impl: type[World], result: Result, *, tries: int = 300) -> Result:
    """A smaller scenario with the same first-bug kind, and a schedule showing it."""
    assert result.first_bug is not None
    kind = result.first_bug.kind
    best = result
    improved = True
    while improved:
        improved = False
        for changes in _candidates(best.scenario):
            try:
                cand = replace(best.scenario, **changes)  # validates in __post_init__
            except ScenarioError:
                continue
            r = find_schedule(impl, cand, kind, tries)
            if r is not None:
                best = r
                improved = True
                break
    return best
