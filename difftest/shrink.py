"""Shrinking a finding that some other search found (random, fuzzing).

Two passes, both deterministic:

1. the scenario, greedily: drop threads, operations and initial state while
   some seeded random schedule still shows the same kind of finding (the
   reduced scenario makes that interleaving common);
2. the schedule, with Hypothesis: on the reduced scenario, search and shrink a
   lazily drawn preemption schedule (``difftest.strategies``) with the fewest
   preemptions, each as early as it can be.

Failures that Hypothesis found are already shrunk jointly; the passes still
help there, because Hypothesis only moves locally: deleting an operation that
needs a differently placed preemption is two moves at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from hypothesis import settings

from difftest.impls.kernel.world import World
from difftest.model.scenario import VCPU_IOCTLS, Scenario, ScenarioError, VcpuSpec
from difftest.oracle.findings import Kind
from difftest.property import SEARCH_SETTINGS, minimal_failure
from difftest.report.explain import preemptions
from difftest.runner import Result, run
from difftest.schedulers.random import RandomScheduler

# Small candidates get a Hypothesis schedule search as well: its sparse,
# well-placed preemptions hit windows a step wide that uniform random
# schedules reach once in thousands of runs.
SMALL = 4
SMALL_SEARCH = settings(SEARCH_SETTINGS, max_examples=1000)


def find_schedule(
    impl: type[World], scenario: Scenario, kind: Kind, tries: int, seed: int = 0
) -> Result | None:
    for k in range(tries):
        r = run(impl, scenario, RandomScheduler(seed * 7919 + k))
        if r.first_bug is not None and r.first_bug.kind == kind:
            return r
    if scenario.n_ops <= SMALL:
        return minimal_failure(impl, scenario=scenario, kinds={kind}, config=SMALL_SEARCH).result
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
                    f"{op.split()[0]} {renum(int(op.split()[1]))}"
                    if op.split()[0] in VCPU_IOCTLS
                    else op
                    for op in p
                    if not (op.split()[0] in VCPU_IOCTLS and op.split()[1] == str(i))
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


# Called with each smaller result found and the pass that found it, so that a
# front-end can show progress, and keep the best so far if the user interrupts.
Progress = Callable[[Result, str], None]


def shrink(
    impl: type[World], result: Result, *, tries: int = 300, progress: Progress | None = None
) -> Result:
    """A smaller scenario with the same first-bug kind, and a schedule with the
    fewest preemptions that shows it."""
    best = shrink_scenario(impl, result, tries=tries, progress=progress)
    assert best.first_bug is not None
    if progress is not None:
        progress(best, "schedule")
    found = minimal_failure(impl, scenario=best.scenario, kinds={best.first_bug.kind}).result
    if found is not None and (preemptions(impl, found), found.execution.steps) < (
        preemptions(impl, best),
        best.execution.steps,
    ):
        return found
    return best


def shrink_scenario(
    impl: type[World], result: Result, *, tries: int = 300, progress: Progress | None = None
) -> Result:
    """Pass 1: a smaller scenario with the same first-bug kind."""
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
                if progress is not None:
                    progress(best, "scenario")
                break
    return best
