"""The causal slice of an execution: the steps a divergence depends on.

A traced replay records each step's dynamic footprint (``explore.track``: every
location it really read and wrote, lock state included). Starting from what the
finding looked at (the finding's own step, or the state the quiescence check
read), the slice adds, transitively, the last step that wrote each location a
kept step read. Lock hand-offs are among those writes (an acquisition reads the
lock word its predecessor's release wrote), and so are requests and kicks (a
request check reads the bit ``kvm_make_request`` set) and the store a re-check
saw.

Values a thread carries in its own locals from one step to the next are not in
any footprint; the slice follows shared state only, which is what a reviewer
needs to see ordered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from difftest.engine.executor import Step
from difftest.engine.points import Point
from difftest.explore.track import Footprint, Tracker, instrument, release
from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario, ScenarioError
from difftest.oracle.checks import _check_lost_window
from difftest.oracle.findings import Finding, Kind
from difftest.report.table import is_quiet
from difftest.runner import Result, run
from difftest.schedulers.replay import ReplayScheduler


@dataclass
class Traced:
    """A replay with, per step, its trace record, footprint and whether the
    scheduler preempted a thread that could have continued."""

    result: Result
    trace: list[Step]
    footprints: list[Footprint]
    preempted: list[int | None]  # the thread switched away from, or None
    op_index: list[int]  # per step: which operation of its thread's program it serves
    finding: Finding | None
    seed: set[str]  # the locations the finding's check read


class _Tracking:
    """Replays a schedule and brackets every step with the footprint tracker."""

    def __init__(self, inner: ReplayScheduler, tracker: Tracker) -> None:
        self.inner = inner
        self.tracker = tracker
        self.footprints: list[Footprint] = []
        self.preempted: list[int | None] = []
        self.op_index: list[int] = []
        self.pending: Sequence[Point | None] = ()
        self.world: World | None = None

    def attach(self, world: World) -> None:
        self.world = world

    def new_execution(self) -> None:
        self.inner.new_execution()

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        tid = self.inner.next_task(runnable, current)
        self.preempted.append(current if current in runnable and tid != current else None)
        self.op_index.append(self.world.ops_done[tid] if self.world is not None else 0)
        self.tracker.start()
        p = self.pending[tid] if tid < len(self.pending) else None
        if p is not None and p.ready is not None:
            p.ready()  # what enabled the step (a lock released) is one of its reads
        return tid

    def on_step(self, tid: int | None, pending: Sequence[Point | None]) -> None:
        self.pending = pending
        if tid is not None:
            fp = self.tracker.stop()
            self.footprints.append(fp if fp is not None else Footprint())


class _Factory:
    def __init__(self, impl: type[World], tracker: Tracker) -> None:
        self.impl = impl
        self.name = impl.name
        self.tracker = tracker
        self.keep: list[object] = []
        self.world: World | None = None

    def __call__(self, scenario: Scenario) -> World:
        w = self.impl(scenario)
        self.keep = instrument(w, self.tracker)
        self.world = w
        return w


def pick(findings: list[Finding], recorded: Kind | None) -> Finding | None:
    """The finding a report is about: the recorded kind if it shows, else the first bug."""
    same = [f for f in findings if f.kind == recorded]
    bugs = [f for f in findings if f.severity == "bug"]
    return same[0] if same else bugs[0] if bugs else findings[0] if findings else None


def traced(
    impl: type[World],
    scenario: Scenario,
    schedule: list[int],
    *,
    strict: bool = True,
    recorded: Kind | None = None,
) -> Traced:
    tracker = Tracker()
    factory = _Factory(impl, tracker)
    sched = _Tracking(ReplayScheduler(schedule, strict=strict), tracker)
    try:
        r = run(factory, scenario, sched, trace=True)  # type: ignore[arg-type]
        assert r.execution.trace is not None
        f = pick(r.findings, recorded)
        seed = _seed(r, f, tracker) if f is not None else set()
    finally:
        tracker.stop()
        release(factory.keep)
    return Traced(r, r.execution.trace, sched.footprints, sched.preempted, sched.op_index, f, seed)


_VCPU = re.compile(r"\bvcpu(\d+)\b")


def _seed(r: Result, f: Finding, tracker: Tracker) -> set[str]:
    """The locations the check that reported ``f`` read."""
    w = r.world
    vm = w.vm
    named = [vm.vcpus[int(m)] for m in _VCPU.findall(f.message) if int(m) < len(vm.vcpus)]
    fp = tracker.start()
    if f.where != "quiescence":
        pass  # an in-flight check: the finding's own step is the seed
    elif f.kind == Kind.LOST_WINDOW and named:
        saved = w.finding
        object.__setattr__(w, "finding", lambda *a, **k: None)
        try:
            _check_lost_window(w, named[0])
        finally:
            object.__setattr__(w, "finding", saved)
    elif f.kind in (Kind.STUCK_INHIBIT, Kind.MISSING_INHIBIT, Kind.COUNTER):
        _ = vm.apicv_inhibit_reasons, vm.irq_window_count
        for v in vm.vcpus:
            _ = v.ghost_window, v.guest_mode
            if v.ghost_window:  # a window was asked for: did an INIT or reset end it?
                _ = v.mp_state
    elif f.kind == Kind.STALE_APICV:
        _ = vm.apicv_inhibit_reasons
        for v in named or vm.vcpus:
            _ = v.apicv_active, v.guest_mode, v.apic_enabled
    elif f.kind in (Kind.WRONG_INHIBITS, Kind.LOST_UPDATE):
        _ = vm.apicv_inhibit_reasons, list(vm.ghost_committed), list(w.ghost_issued)
    tracker.stop()
    return set(fp.reads)


def _writes(fp: Footprint) -> set[str]:
    return fp.writes | fp.touches


def causal_slice(t: Traced) -> set[int]:
    """Step indices the finding depends on (see the module docstring)."""
    fps = t.footprints
    n = len(fps)
    f = t.finding
    if f is None:
        return set()
    kept: set[int] = set()
    work: list[tuple[int, set[str]]] = []
    if f.where == "quiescence":
        work.append((n, t.seed))
        if not t.seed:  # deadlock, step budget: where each thread ended
            last: dict[int, int] = {}
            for s in t.trace:
                last[s.tid] = s.index
            kept.update(last.values())
            work.extend((i, fps[i].reads) for i in last.values())
    elif 0 <= f.step < n:
        kept.add(f.step)
        work.append((f.step, fps[f.step].reads))
    done: set[int] = set()
    racing: set[int] = set()  # shown, not followed: their own causes are not the race
    while work:
        pos, reads = work.pop()
        # flow: the last writer of each location the step read
        todo = set(reads)
        j = pos - 1
        while todo and j >= 0:
            hit = todo & _writes(fps[j])
            if hit:
                todo -= hit
                if j not in kept:
                    kept.add(j)
                    work.append((j, fps[j].reads))
            j -= 1
        if pos >= n or pos in done:
            continue
        done.add(pos)
        # order: another thread's read of what this step overwrites (the value
        # it saw was about to change: the race a preemption exposes)
        tid = t.trace[pos].tid
        todo = set(_writes(fps[pos]))
        j = pos - 1
        while todo and j >= 0:
            if t.trace[j].tid != tid:
                hit = todo & fps[j].reads
                if hit and j not in kept and not is_quiet(t.trace[j]):
                    racing.add(j)
                todo -= hit
            todo -= _writes(fps[j])
            j -= 1
    return kept | racing


def reorder(schedule: list[int], tid: int, start: int, after: int | None) -> list[int]:
    """``schedule`` with thread ``tid``'s steps from position ``start`` on moved
    behind position ``after`` (or to the very end): the kept steps of one thread
    swapped with what followed them, or removed from the race altogether."""
    end = len(schedule) - 1 if after is None else after
    moved = [x for x in schedule[start : end + 1] if x == tid]
    rest = [x for x in schedule[start : end + 1] if x != tid]
    return schedule[:start] + rest + moved + schedule[end + 1 :]


def without_op(scenario: Scenario, tid: int, k: int) -> Scenario | None:
    """``scenario`` without operation ``k`` of thread ``tid`` (None if it has no
    such operation or the rest is not a valid scenario)."""
    nv = len(scenario.vcpus)
    try:
        if tid < nv:
            v = scenario.vcpus[tid]
            if k >= len(v.program):
                return None
            nvs = replace(v, program=v.program[:k] + v.program[k + 1 :])
            return replace(
                scenario, vcpus=scenario.vcpus[:tid] + (nvs,) + scenario.vcpus[tid + 1 :]
            )
        p = scenario.ioctls[tid - nv]
        if k >= len(p):
            return None
        i = tid - nv
        return replace(
            scenario, ioctls=scenario.ioctls[:i] + (p[:k] + p[k + 1 :],) + scenario.ioctls[i + 1 :]
        )
    except ScenarioError:
        return None


def verdict_holds(impl: type[World], scenario: Scenario, schedule: list[int], kind: Kind) -> bool:
    """Does the (lenient) replay of ``schedule`` still show ``kind``?"""
    r = run(impl, scenario, ReplayScheduler(schedule, strict=False))
    return any(f.kind == kind for f in r.findings)
