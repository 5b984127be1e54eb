"""Shrinking a finding that some other search found (random, fuzzing).

Passes, all deterministic, repeated until none makes the reproducer smaller:

1. the scenario, greedily: drop threads, operations and initial state while
   the current schedule (replayed forgivingly: entries for a thread that cannot
   run are skipped) or else some seeded random schedule still shows the same
   kind of finding;
2. the schedule: move runs of steps so that a preempted thread keeps running
   (each preemption removed in turn) while the finding stays;
3. Hypothesis on the fixed, reduced scenario: search and shrink a lazily drawn
   preemption schedule (``difftest.strategies``) with the fewest preemptions,
   each as early as it can be; its result goes through pass 2 again.

Failures that Hypothesis found are already shrunk jointly; the passes still
help there, because Hypothesis only moves locally: deleting an operation that
needs a differently placed preemption is two moves at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from hypothesis import settings

from difftest.impls.kernel.world import World
from difftest.model.scenario import VCPU_IOCTLS, Scenario, ScenarioError, VcpuSpec
from difftest.oracle.findings import SEVERITY, Kind
from difftest.property import SEARCH_SETTINGS, minimal_failure
from difftest.report.explain import preemptions
from difftest.runner import Result, run
from difftest.schedulers.random import RandomScheduler
from difftest.strategies import Bounds

# Small candidates get a Hypothesis schedule search as well: its sparse,
# well-placed preemptions hit windows a step wide that uniform random
# schedules reach once in thousands of runs.
SMALL = 4
SMALL_SEARCH = settings(SEARCH_SETTINGS, max_examples=1000)


class Forgiving:
    """Follows ``schedule`` but skips entries whose thread cannot run now; past
    its end the running thread keeps going (no preemption). Counts preemptions."""

    def __init__(self, schedule: list[int]) -> None:
        self.schedule = schedule
        self.pos = 0
        self.preemptions = 0

    def new_execution(self) -> None:
        self.pos = 0
        self.preemptions = 0

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        t = None
        while self.pos < len(self.schedule):
            cand = self.schedule[self.pos]
            self.pos += 1
            if cand in runnable:
                t = cand
                break
        if t is None:
            t = current if current in runnable else runnable[0]
        if current in runnable and t != current:
            self.preemptions += 1
        return t


def shows(r: Result, kind: Kind) -> bool:
    """Whether ``kind`` is what fails ``r``: its first bug, or for a perf kind
    (``--fail-on-perf``) its first perf finding when it has no bug."""
    f = r.first_failure(perf=SEVERITY[kind] == "perf")
    return f is not None and f.kind == kind


def replay_kind(
    impl: type[World], scenario: Scenario, schedule: list[int], kind: Kind
) -> tuple[Result, int] | None:
    """The forgiving replay of ``schedule`` if it shows ``kind`` first, with its preemptions."""
    sched = Forgiving(schedule)
    r = run(impl, scenario, sched)
    if shows(r, kind):
        return r, sched.preemptions
    return None


def size(impl: type[World], r: Result) -> tuple[int, int, int, int]:
    """What "smaller" means: operations, threads, preemptions, steps."""
    return (
        r.scenario.n_ops,
        len(r.scenario.thread_names),
        preemptions(impl, r),
        r.execution.steps,
    )


def _runs(schedule: list[int]) -> list[tuple[int, int, int]]:
    """(thread, first, last position) of each run of consecutive steps."""
    out: list[tuple[int, int, int]] = []
    for i, t in enumerate(schedule):
        if out and out[-1][0] == t:
            out[-1] = (t, out[-1][1], i)
        else:
            out.append((t, i, i))
    return out


def fewer_preemptions(impl: type[World], result: Result) -> Result:
    """Pass 2: at each switch, let the thread that was running continue (its
    next run moved up to the switch) while the first bug keeps its kind."""
    first = result.first_failure(perf=True)
    assert first is not None
    kind = first.kind
    best, best_p = result, preemptions(impl, result)
    improved = True
    while improved and best_p > 0:
        improved = False
        sched = best.execution.schedule
        runs = _runs(sched)
        for k in range(1, len(runs)):
            got = _better(impl, best, best_p, _switch_candidates(sched, runs, k), kind)
            if got is not None:
                best, best_p = got
                improved = True
                break
    return best


def _switch_candidates(
    sched: list[int], runs: list[tuple[int, int, int]], k: int
) -> list[list[int]]:
    """Schedules without the switch into run ``k``: the running thread's next run
    moved up to it; run ``k`` dropped (its steps come when nothing else can run);
    everything from it on left to the non-preemptive default."""
    out = []
    a, s0 = runs[k - 1][0], runs[k][1]
    nxt = next((j for j in range(k + 1, len(runs)) if runs[j][0] == a), None)
    if nxt is not None:
        j0, j1 = runs[nxt][1], runs[nxt][2]
        out.append(sched[:s0] + sched[j0 : j1 + 1] + sched[s0:j0] + sched[j1 + 1 :])
    out.append(sched[:s0] + sched[runs[k][2] + 1 :])
    out.append(sched[:s0])
    return out


def _better(
    impl: type[World], best: Result, best_p: int, cands: list[list[int]], kind: Kind
) -> tuple[Result, int] | None:
    for cand in cands:
        got = replay_kind(impl, best.scenario, cand, kind)
        if got is not None and (got[1], got[0].execution.steps) < (
            best_p,
            best.execution.steps,
        ):
            return got
    return None


def _mapped(schedule: list[int], s: Scenario, changes: dict[str, object]) -> list[int]:
    """The schedule with a dropped thread's entries removed and the rest renumbered."""
    dropped: int | None = None
    if "vcpus" in changes and len(changes["vcpus"]) < len(s.vcpus):  # type: ignore[arg-type]
        kept = changes["vcpus"]
        dropped = next(
            (i for i in range(len(s.vcpus)) if i >= len(kept) or kept[i] is not s.vcpus[i]),  # type: ignore[arg-type,index]
            len(s.vcpus) - 1,
        )
    elif "ioctls" in changes and len(changes["ioctls"]) < len(s.ioctls):  # type: ignore[arg-type]
        kept_io = changes["ioctls"]
        i = next(
            (i for i in range(len(s.ioctls)) if i >= len(kept_io) or kept_io[i] != s.ioctls[i]),  # type: ignore[arg-type,index]
            len(s.ioctls) - 1,
        )
        dropped = len(s.vcpus) + i
    if dropped is None:
        return schedule
    return [t - (t > dropped) for t in schedule if t != dropped]


def find_schedule(
    impl: type[World], scenario: Scenario, kind: Kind, tries: int, seed: int = 0
) -> Result | None:
    for k in range(tries):
        r = run(impl, scenario, RandomScheduler(seed * 7919 + k))
        if shows(r, kind):
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
            # Dropping a vCPU renumbers the others: fix the targets of the
            # operations that name one (extint, lapic, init, sipi).
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
            if p[j].startswith("extint "):
                # the ExtINT raised at the start instead: one operation fewer
                v = int(p[j].split()[1])
                if v not in s.extint and v < n:
                    yield {
                        "ioctls": s.ioctls[:i] + (p[:j] + p[j + 1 :],) + s.ioctls[i + 1 :],
                        "extint": tuple(sorted((*s.extint, v))),
                    }
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
    first = result.first_failure(perf=True)
    assert first is not None
    kind = first.kind
    best = result
    while True:
        before = size(impl, best)
        best = shrink_scenario(impl, best, tries=tries, progress=progress)
        smaller = fewer_preemptions(impl, best)
        if smaller is not best:
            best = smaller
            if progress is not None:
                progress(best, "preemptions")
        if size(impl, best) >= before:
            break
    if progress is not None:
        progress(best, "schedule")
    found = minimal_failure(impl, scenario=best.scenario, kinds={kind}).result
    if found is not None:
        found = fewer_preemptions(impl, found)
        if size(impl, found) < size(impl, best):
            best = found
    if best.scenario.n_ops > 1:
        # Greedy deletion can stop at a local minimum whose smaller neighbours need
        # a different scenario shape: a joint Hypothesis search within its bounds.
        joint = minimal_failure(impl, _bounds(best.scenario), kinds={kind}).result
        if joint is not None:
            joint = fewer_preemptions(impl, joint)
            if size(impl, joint) < size(impl, best):
                best = joint
                if progress is not None:
                    progress(best, "joint")
    return best


def _bounds(s: Scenario) -> Bounds:
    """Hypothesis bounds no larger than ``s``: its threads, its longest program."""
    longest = max([len(v.program) for v in s.vcpus] + [len(p) for p in s.ioctls] + [1])
    nested = any(op in ("vmrun", "sti_vmrun", "vmexit") for v in s.vcpus for op in v.program)
    return Bounds(
        max_vcpus=len(s.vcpus),
        max_ioctl_threads=len(s.ioctls),
        max_ops=longest,
        nested=nested,
        vendor=s.vendor,
    )


def shrink_scenario(
    impl: type[World], result: Result, *, tries: int = 300, progress: Progress | None = None
) -> Result:
    """Pass 1: a smaller scenario with the same first-bug kind."""
    first = result.first_failure(perf=True)
    assert first is not None
    kind = first.kind
    best = result
    improved = True
    while improved:
        improved = False
        for changes in _candidates(best.scenario):
            try:
                cand = replace(best.scenario, **changes)  # validates in __post_init__
            except ScenarioError:
                continue
            got = replay_kind(
                impl, cand, _mapped(best.execution.schedule, best.scenario, changes), kind
            )
            r = got[0] if got is not None else find_schedule(impl, cand, kind, tries)
            if r is not None:
                best = r
                improved = True
                if progress is not None:
                    progress(best, "scenario")
                break
    return best
