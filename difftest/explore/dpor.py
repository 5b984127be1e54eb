"""Stateless model checking with dynamic partial-order reduction.

Every execution is re-run from scratch (prefix replay): the explorer is the
executor's scheduler. After each step it takes the step's dynamic footprint
(``track``), computes vector clocks, and applies Flanagan and Godefroid's DPOR
(POPL 2005) with sleep sets: for the last earlier step that conflicts with the
step just run and does not happen before it, the thread is added to the
backtrack set there (all enabled threads if it was not enabled). A step
blocked on a ``ready`` predicate (lock acquisition, idle wait) is checked at
every state, with the predicate's reads as its footprint, so that the order of
two acquisitions is reversed even though the second one only runs after the
release. When an execution ends with threads still pending (a bug halted it, a
deadlock, the step budget), their next steps are unknown and are treated as
conflicting with everything, and the step that halted it conflicts with every
step (run before it, another thread's step changes the final state).

``explore --dpor`` runs ``odpor`` (optimal DPOR, wakeup trees) instead; this
explorer stays for naive enumeration (``reduce=False``) and for comparison.

With a preemption bound the search only runs schedules with at most that many
preemptions (switching away from a thread that could still run). DPOR's
backtracking is then not complete within the bound (Coons, Musuvathi and
McKinley, OOPSLA 2013); as they propose, a race also adds a backtrack point
where the racing step's run of consecutive steps began. A bounded answer is
therefore "no schedule DPOR reached within the bound fails", not a proof; an
unbounded run that finishes is a proof for the scenario.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from difftest.engine.points import Point
from difftest.explore.track import Footprint, Tracker, instrument, release
from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario
from difftest.runner import Result, run
from difftest.schedulers.replay import ReplayScheduler


class _Abandon(Exception):
    """The execution is redundant (sleep-set blocked) or over the bound."""

    def __init__(self, why: str) -> None:
        self.why = why


@dataclass
class _Node:
    """The state before one step: who could run, and what is left to try."""

    enabled: tuple[int, ...]
    prev: int | None  # the thread that ran the previous step
    preemptions: int  # preemptions before this step
    sleep: dict[int, Footprint]
    backtrack: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)
    chosen: int = -1
    fp: Footprint | None = None

    def cost(self, t: int) -> int:
        """Preemptions after running ``t`` here."""
        switch = self.prev is not None and self.prev in self.enabled and t != self.prev
        return self.preemptions + int(switch)


@dataclass
class Stats:
    executions: int = 0  # executions started
    complete: int = 0  # ran to the end (done, halted, deadlock, budget)
    sleep_blocked: int = 0  # abandoned: every enabled thread asleep
    pruned: int = 0  # abandoned: over the preemption bound
    states: int = 0  # distinct prefixes (DPOR) or distinct states (stateful) visited
    revisits: int = 0  # stateful: executions cut at a state expanded before
    classes: int = 0  # distinct Mazurkiewicz traces among complete executions
    seconds: float = 0.0
    timed_out: bool = False
    bound_hit: bool = False  # some schedule was cut by the preemption bound
    deepest: int | None = None  # the largest preemption bound searched to the end

    @property
    def per_class(self) -> float:
        return self.complete / self.classes if self.classes else 0.0

    def add(self, o: Stats) -> None:
        for f in (
            "executions",
            "complete",
            "sleep_blocked",
            "pruned",
            "states",
            "revisits",
            "classes",
        ):
            setattr(self, f, getattr(self, f) + getattr(o, f))
        self.seconds += o.seconds
        self.timed_out |= o.timed_out
        self.bound_hit |= o.bound_hit


@dataclass
class Outcome:
    stats: Stats
    counterexample: Result | None  # replayed without instrumentation
    preemptions: int | None = None  # of the counterexample
    outcomes: set[tuple[object, ...]] = field(default_factory=set)  # when collected
    kinds: set[str] = field(default_factory=set)  # every finding kind seen
    exhaustive: bool = False  # every schedule of the scenario was covered


class _Factory:
    """Builds an instrumented world for ``runner.run``."""

    def __init__(self, impl: type[World], tracker: Tracker) -> None:
        self.impl = impl
        self.name = impl.name
        self.tracker = tracker
        self.keep: list[object] = []

    def __call__(self, scenario: Scenario) -> World:
        w = self.impl(scenario)
        self.keep = instrument(w, self.tracker)
        return w


def outcome_key(r: Result) -> tuple[object, ...]:
    """What an execution ends in: how it ended, the finding kinds, the final state."""
    kinds = tuple(sorted({f.kind.value for f in r.findings}))
    return (r.execution.outcome, kinds, tuple(sorted(r.world.snapshot().items())))


class Explorer:
    """Explores every schedule of one scenario up to DPOR equivalence."""

    def __init__(
        self,
        impl: type[World],
        scenario: Scenario,
        *,
        reduce: bool = True,
        bound: int | None = None,
        stop_on_bug: bool = True,
        collect: bool = False,
        deadline: float | None = None,
        max_executions: int | None = None,
    ) -> None:
        self.impl = impl
        self.scenario = scenario
        self.reduce = reduce
        self.bound = bound
        self.stop_on_bug = stop_on_bug
        self.collect = collect
        self.deadline = deadline
        self.max_executions = max_executions
        self.n = len(scenario.thread_names)
        self.tracker = Tracker()
        self.nodes: list[_Node] = []

    # -- the scheduler interface the executor drives --------------------------

    def new_execution(self) -> None:
        self.k = 0
        self.replay = len(self.nodes)
        self.child_sleep: dict[int, Footprint] = {}
        self.pending: list[Point | None] = []
        self.steps: list[tuple[int, Footprint, tuple[int, ...]]] = []
        self.tclock = [[0] * self.n for _ in range(self.n)]

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        k = self.k
        if k < len(self.nodes):
            node = self.nodes[k]
            if tuple(runnable) != node.enabled or node.chosen not in runnable:
                raise RuntimeError(f"explorer: replay diverged at step {k} (nondeterminism)")
        else:
            prev = self.steps[-1][0] if self.steps else None
            pre = self.nodes[-1].cost(self.nodes[-1].chosen) if self.nodes else 0
            sleep = self.child_sleep if self.reduce else {}
            node = _Node(tuple(runnable), prev, pre, sleep)
            awake = [t for t in runnable if t not in sleep]
            if not awake:
                raise _Abandon("sleep")
            t = prev if prev in awake else awake[0]
            if self.bound is not None and node.cost(t) > self.bound:
                self.stats.bound_hit = True
                raise _Abandon("bound")
            node.chosen = t
            node.backtrack = set(runnable) if not self.reduce else {t}
            self.nodes.append(node)
            self.stats.states += 1
        self.k += 1
        self.tracker.start()
        p = self.pending[node.chosen]
        if p is not None and p.ready is not None:
            p.ready()  # the predicate's reads belong to the step: it enables it
        return node.chosen

    def on_step(self, tid: int | None, pending: list[Point | None]) -> None:
        self.pending = pending
        if tid is None:
            return
        fp = self.tracker.stop()
        assert fp is not None
        fp.halts = self.tracker.where["world"].halted()
        i = self.k - 1
        node = self.nodes[i]
        node.fp = fp
        if self.reduce:
            self.child_sleep = {
                q: f for q, f in node.sleep.items() if q != tid and not f.conflicts(fp)
            }
        clock = list(self.tclock[tid])
        clock[tid] += 1
        analyse = self.reduce and i >= self.replay - 1
        raced = widened = False
        mine = self.tclock[tid]
        for j in range(i - 1, -1, -1):
            tj, fj, cj = self.steps[j]
            if tj == tid or not fj.conflicts(fp):
                continue
            if analyse and not raced and cj[tj] > mine[tj]:
                # Reversible only where ``tid`` could have run instead. A release
                # that ``tid``'s blocked acquisition waited for is not: look
                # further back for the acquisition it raced with (Flanagan and
                # Godefroid's "co-enabled"), after the conservative step.
                if tid in self.nodes[j].enabled:
                    self._backtrack(j, tid)
                    raced = True
                elif not widened:
                    self._backtrack(j, tid)  # every enabled thread
                    widened = True
            for x in range(self.n):
                if cj[x] > clock[x]:
                    clock[x] = cj[x]
        c = tuple(clock)
        self.steps.append((tid, fp, c))
        self.tclock[tid] = clock
        if analyse:
            self._check_blocked(pending, tid)

    # -- DPOR ------------------------------------------------------------------

    def _backtrack(self, j: int, t: int) -> None:
        node = self.nodes[j]
        if t in node.enabled:
            node.backtrack.add(t)
        else:
            node.backtrack.update(node.enabled)
        if self.bound is not None:
            # Coons et al.: also where the racing thread's run of steps began
            run_by = node.chosen
            k = j
            while k > 0 and self.nodes[k - 1].chosen == run_by:
                k -= 1
            if k != j:
                start = self.nodes[k]
                if t in start.enabled:
                    start.backtrack.add(t)
                else:
                    start.backtrack.update(start.enabled)

    def _check_blocked(self, pending: list[Point | None], ran: int) -> None:
        """A pending blocking step reads what its predicate reads and may change it."""
        for q, p in enumerate(pending):
            if q == ran or p is None or p.ready is None:
                continue
            fp = self.tracker.start()
            p.ready()
            self.tracker.stop()
            fp.writes = set(fp.reads)
            self._race_with(q, fp)

    def _race_with(self, q: int, fp: Footprint | None) -> None:
        """Backtrack for the last step not before ``q`` that conflicts with ``fp``
        (with any step if ``fp`` is None: unknown)."""
        mine = self.tclock[q]
        widened = False
        for j in range(len(self.steps) - 1, -1, -1):
            tj, fj, cj = self.steps[j]
            if tj == q or cj[tj] <= mine[tj]:
                continue
            if fp is None or fj.conflicts(fp):
                if q in self.nodes[j].enabled:  # see on_step: co-enabled races only
                    self._backtrack(j, q)
                    return
                if not widened:
                    self._backtrack(j, q)
                    widened = True

    def _next_prefix(self) -> bool:
        """Move to the deepest node with an untried backtrack thread."""
        while self.nodes:
            node = self.nodes[-1]
            node.done.add(node.chosen)
            if self.reduce and node.fp is not None:
                node.sleep = {**node.sleep, node.chosen: node.fp}
            todo = sorted(
                (node.cost(t), t)
                for t in node.backtrack
                if t not in node.done and t not in node.sleep
            )
            if self.bound is not None:
                if any(c > self.bound for c, _ in todo):
                    self.stats.bound_hit = True
                todo = [(c, t) for c, t in todo if c <= self.bound]
            if todo:
                node.chosen = todo[0][1]
                node.fp = None
                return True
            self.nodes.pop()
        return False

    # -- driving ---------------------------------------------------------------

    def explore(self) -> Outcome:
        self.stats = Stats()
        start = time.monotonic()
        classes: set[tuple[object, ...]] = set()
        out = Outcome(self.stats, None)
        while True:
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.stats.timed_out = True
                break
            if self.max_executions is not None and self.stats.executions >= self.max_executions:
                self.stats.timed_out = True
                break
            factory = _Factory(self.impl, self.tracker)
            self.stats.executions += 1
            try:
                r = run(factory, self.scenario, self)  # type: ignore[arg-type]
            except _Abandon as a:
                self.tracker.stop()
                release(factory.keep)
                if a.why == "sleep":
                    self.stats.sleep_blocked += 1
                else:
                    self.stats.pruned += 1
                if not self._next_prefix():
                    break
                continue
            release(factory.keep)
            self.stats.complete += 1
            classes.add(tuple(sorted((t, c) for t, _, c in self.steps)))
            out.kinds |= {f.kind.value for f in r.findings}
            if self.collect:
                out.outcomes.add(outcome_key(r))
            if self.reduce and r.execution.outcome != "done":
                for q, p in enumerate(self.pending):
                    if p is not None:
                        self._race_with(q, None)
            if r.bugs and out.counterexample is None:
                schedule = r.execution.schedule
                out.counterexample = run(self.impl, self.scenario, ReplayScheduler(schedule))
                out.preemptions = self.nodes[-1].cost(self.nodes[-1].chosen)
                if self.stop_on_bug:
                    break
            if not self._next_prefix():
                break
        self.stats.classes = len(classes)
        self.stats.seconds = time.monotonic() - start
        return out


def explore(
    impl: type[World],
    scenario: Scenario,
    *,
    preemptions: int | None = None,
    reduce: bool = True,
    stop_on_bug: bool = True,
    collect: bool = False,
    deadline: float | None = None,
    max_executions: int | None = None,
    optimal: bool = False,
) -> Outcome:
    """DPOR over one scenario; with ``preemptions`` P, bounds 0..P in turn so the
    first counterexample has the fewest preemptions any bounded search finds.
    ``optimal``: wakeup trees (``odpor``) instead of backtrack sets."""
    from difftest.explore.odpor import OptimalExplorer

    cls = OptimalExplorer if optimal and reduce else Explorer
    bounds: list[int | None] = [None] if preemptions is None else list(range(preemptions + 1))
    total = Stats()
    last = None
    for b in bounds:
        ex = cls(
            impl,
            scenario,
            reduce=reduce,
            bound=b,
            stop_on_bug=stop_on_bug,
            collect=collect,
            deadline=deadline,
            max_executions=None if max_executions is None else max_executions - total.executions,
        )
        last = ex.explore()
        total.add(last.stats)
        if last.counterexample is not None or last.stats.timed_out:
            break
        if not last.stats.bound_hit:
            break  # nothing was cut: this bound already covered every schedule
    assert last is not None
    last.stats = total
    return last
