"""Stateful search: depth-first over the state graph, a visited state is not expanded twice.

The explorer is the executor's scheduler, as in ``dpor``: Python generators
cannot be copied, so returning to a state means re-running its prefix from
scratch. At every state not reached before (``statekey``: the world plus every
thread's position) it tries each enabled thread in turn; a state reached again
is cut. This is the plain stateful DFS of explicit-state model checkers (SPIN's
without partial-order reduction) and is sound for what difftest checks: every
reachable state is expanded once, findings and final states are functions of
the state, so every final state and every finding kind that some schedule
reaches is reached (``tests/test_explore.py`` compares it with naive
enumeration on every version).

With a preemption bound P the state is keyed with the thread that ran last
(whether switching away is a preemption depends on it), and a state is expanded
again only when reached with fewer preemptions than before: everything the
earlier visit could still afford, it explored. Every schedule with at most P
preemptions is thereby covered: a proof within the bound.

Unbounded, sleep sets can be added (``reduce``): with state caching as in
Godefroid's algorithm (LNCS 1032, 1996, section 5.3) a state met again is
expanded for the threads asleep at every earlier visit but awake now. Sleep
sets prune transitions, not states: the reduced search stores exactly the
states the plain one does (a test checks it), in fewer executions.

A state met again on the current path is a cycle: some schedule runs forever.
It is reported as the step-budget finding naive enumeration would give, with a
schedule that goes round the cycle until the budget runs out.
"""

from __future__ import annotations

import heapq
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from difftest.engine.points import Point
from difftest.explore.dpor import Outcome, Stats, outcome_key
from difftest.explore.statekey import StateKey
from difftest.explore.track import Footprint, Tracker, instrument, release
from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario
from difftest.runner import Result, run, step_budget
from difftest.schedulers.replay import ReplayScheduler


class _Cut(Exception):
    """This state was expanded before (with no more preemptions than now)."""


@dataclass
class _Node:
    chosen: int
    todo: list[int]  # untried threads, cheapest first
    preemptions: int  # before this step
    prev: int | None
    enabled: tuple[int, ...]
    key: tuple[Any, ...]
    sleep: dict[int, Footprint] = field(default_factory=dict)
    fp: Footprint | None = None
    # every schedule from here was run or is covered by a complete state: no
    # thread was left out by the bound and every cut met a complete state
    whole: bool = True
    # rounds: the path to here and the step chosen, shared with the deeper nodes
    # (parent's link, (key, preemptions, prev, enabled, chosen))
    link: tuple[Any, ...] | None = None

    def cost(self, t: int) -> int:
        return self.preemptions + int(self.prev in self.enabled and t != self.prev)


class StatefulExplorer:
    """Stateful DFS over one scenario's schedules, optionally preemption-bounded."""

    def __init__(
        self,
        impl: type[World],
        scenario: Scenario,
        *,
        bound: int | None = None,
        reduce: bool = False,
        stop_on_bug: bool = True,
        collect: bool = False,
        deadline: float | None = None,
        max_executions: int | None = None,
        complete: set[tuple[Any, ...]] | None = None,
        intern: dict[Any, int] | None = None,
        rounds: int | None = None,
    ) -> None:
        self.impl = impl
        self.scenario = scenario
        if reduce and bound is not None:
            raise ValueError("sleep sets are not complete within a preemption bound")
        if rounds is not None and (reduce or bound is not None):
            raise ValueError("rounds are an unbounded search without sleep sets")
        # Unbounded, by rounds of preemptions: a step that preempts waits for the
        # round of its preemption count (see ``explore_stateful``); up to round
        # ``rounds`` a state is keyed with the last thread, as bounded.
        self.rounds = rounds
        self.later: list[tuple[int, int, tuple[tuple[Any, int], ...]]] = []  # heap
        self.round = 0
        self.seq = 0
        self.floor = -1  # rounds: the depth of the rebuilt path's last node
        self.bound = bound
        self.reduce = reduce
        self.tracker = Tracker()
        self.keep: list[object] = []
        # with sleep sets: the sleep set a state was last expanded with
        self.slept: dict[tuple[Any, ...], dict[int, Footprint]] = {}
        self.stop_on_bug = stop_on_bug
        self.collect = collect
        self.deadline = deadline
        self.max_executions = max_executions
        self.nodes: list[_Node] = []
        # state -> the thread that ran last (None: it cannot run now) -> the
        # fewest preemptions it was expanded with
        self.visited: dict[tuple[Any, ...], dict[int | None, int]] = {}
        # state (without the last thread) -> depth of its first expansion along the
        # current path
        self.on_path: dict[tuple[Any, ...], int] = {}
        self.intern: dict[Any, int] = intern if intern is not None else {}
        # States (keys without the last thread) whose every schedule a search has
        # covered; shared by the searches of an iterative deepening (with their
        # ``intern``), so a later bound cuts there instead of expanding again.
        self.complete: set[tuple[Any, ...]] = complete if complete is not None else set()
        self.cycle: tuple[int, int] | None = None  # (depth of first visit, depth now)
        self.stats = Stats()

    # -- the scheduler interface ---------------------------------------------

    def attach(self, world: World) -> None:
        if self.reduce:
            self.keep = instrument(world, self.tracker)
        threads = world.threads()
        self.world = world
        self.gens = [g for _, g in threads]
        world.threads = lambda: threads  # type: ignore[method-assign]

    def new_execution(self) -> None:
        self.k = 0
        self.keyer: StateKey | None = None
        self.pending: Sequence[Point | None] = ()
        self.child_sleep: dict[int, Footprint] = {}

    def prefix(self) -> list[int]:
        """The path to the state to expand, for the executor to replay without
        asking (with sleep sets, every replayed step's footprint is needed)."""
        if self.reduce:
            return []
        self.k = len(self.nodes)
        return [n.chosen for n in self.nodes]

    def on_step(self, tid: int | None, pending: list[Point | None]) -> None:
        self.pending = pending
        if tid is not None and self.keyer is not None:
            self.keyer.ran(tid)
        if self.reduce and tid is not None:
            fp = self.tracker.stop()
            assert fp is not None
            node = self.nodes[self.k - 1]
            node.fp = fp
            self.child_sleep = {
                q: f for q, f in node.sleep.items() if q != tid and not f.conflicts(fp)
            }

    def _run(self, t: int) -> int:
        """Track the step's footprint; a blocked step's predicate reads are part of it."""
        if self.reduce:
            self.tracker.start()
            p = self.pending[t]
            if p is not None and p.ready is not None:
                p.ready()
        return t

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        k = self.k
        self.k += 1
        if k < len(self.nodes):
            node = self.nodes[k]
            if node.chosen not in runnable:
                raise RuntimeError(f"stateful explorer: replay diverged at step {k}")
            return self._run(node.chosen)
        if self.keyer is None:
            self.keyer = StateKey(self.world, self.gens, self.intern)
        base = self.keyer.key(self.pending)
        if base in self.complete:
            raise _Cut  # a whole state: every schedule from here was covered
        if self.reduce:
            return self._run(self._expand_reduced(base, runnable, current, k))
        # Bounded, the last thread matters only if it can run (switching away is
        # then a preemption). Unbounded, preemptions do not matter: every state once.
        rounds = self.rounds is not None
        pre = (
            self.nodes[-1].cost(self.nodes[-1].chosen)
            if self.nodes and (self.bound is not None or rounds)
            else 0
        )
        exact = self.bound is not None or (rounds and pre <= self.rounds)  # type: ignore[operator]
        last = current if exact and current in runnable else None
        key = (*base, last) if self.bound is not None else base
        seen = self.visited.get(base)
        if seen is not None and (not exact or _covered(seen, last, pre)):
            first = self.on_path.get(base)
            if first is not None and self.cycle is None:
                # back at a state being expanded: bounded, going round again costs
                # no preemption if the loop cost none and its first step is free now
                a = self.nodes[first]
                if self.bound is None or (a.preemptions == pre and last in (None, a.chosen)):
                    self.cycle = (first, k)
            if self.nodes:
                self.nodes[-1].whole = False  # covered only if that visit turns out whole
            raise _Cut
        if seen is None:
            seen = self.visited[base] = {}
        seen[last] = pre
        self.on_path.setdefault(base, k)
        self.stats.states += 1
        enabled = tuple(runnable)
        order = [current, *(t for t in enabled if t != current)] if current in enabled else enabled
        node = _Node(-1, [], pre, current, enabled, key)
        cands = [t for t in order if self.bound is None or node.cost(t) <= self.bound]
        if len(cands) < len(order):
            self.stats.bound_hit = True
            node.whole = False
        if rounds:
            # the steps that preempt wait for their round, behind the path here
            up = self.nodes[-1].link if self.nodes else None
            for t in cands:
                if node.cost(t) > pre:
                    self.seq += 1
                    heapq.heappush(
                        self.later, (pre + 1, self.seq, (up, (key, pre, current, enabled, t)))
                    )
            cands = [t for t in cands if node.cost(t) == pre]
            node.link = (up, (key, pre, current, enabled, cands[0]))
        node.chosen, node.todo = cands[0], cands[1:]
        self.nodes.append(node)
        return node.chosen

    def _expand_reduced(
        self, key: tuple[Any, ...], runnable: Sequence[int], current: int | None, k: int
    ) -> int:
        """Sleep sets with state caching (Godefroid, LNCS 1032, 1996, section 5.3): a
        state met again is expanded only for the threads asleep at every earlier
        visit but awake now, and remembers the intersection of the sleep sets."""
        sleep = self.child_sleep
        enabled = tuple(runnable)
        order = [current, *(t for t in enabled if t != current)] if current in enabled else enabled
        before = self.slept.get(key)
        if before is None:
            self.slept[key] = dict(sleep)
            self.stats.states += 1
            todo = [t for t in order if t not in sleep]
            if not todo:
                raise _Cut("sleep")
        else:
            if key in self.on_path and self.cycle is None:
                self.cycle = (self.on_path[key], k)
            self.slept[key] = {t: f for t, f in before.items() if t in sleep}
            todo = [t for t in order if t in before and t not in sleep]
            if not todo:
                raise _Cut
        self.on_path.setdefault(key, k)
        node = _Node(todo[0], todo[1:], 0, current, enabled, key, dict(sleep))
        self.nodes.append(node)
        return node.chosen

    # -- driving ---------------------------------------------------------------

    def _backtrack(self) -> bool:
        if self._backtrack_path():
            return True
        if not self.later:
            return False
        # the next deferred step, in the round of its preemptions: rebuild the path
        pre, _, item = heapq.heappop(self.later)
        if pre > self.round:
            self.stats.deepest = pre - 1  # every round below is done
            self.round = pre
        recs = []
        link = item
        while link is not None:
            link, rec = link
            recs.append(rec)
        recs.reverse()
        # Below its last node the rebuilt path is only replayed (nothing is left
        # to try there, see ``floor``): those nodes keep only the step chosen.
        key, p, prev, enabled, chosen = recs[-1]
        self.nodes = [*map(_Past, [rec[4] for rec in recs[:-1]])]  # type: ignore[list-item]
        self.nodes.append(_Node(chosen, [], p, prev, enabled, key, _NO_SLEEP))
        self.nodes[-1].link = item  # what the nodes below it are linked to
        self.floor = len(recs) - 1  # the nodes up to here have nothing left to try
        # each state at the depth of its first visit along the path (a later
        # depth is overwritten by an earlier one)
        keys = list(map(_KEY_OF, recs))
        keys.reverse()
        self.on_path = dict(zip(keys, range(len(keys) - 1, -1, -1), strict=True))
        return True

    def _backtrack_path(self) -> bool:
        while self.nodes:
            if len(self.nodes) - 1 <= self.floor:  # a rebuilt path: nothing left on it
                self.nodes = []
                self.on_path = {}
                self.floor = -1
                return False
            node = self.nodes[-1]
            if node.todo:
                if self.reduce and node.fp is not None:
                    node.sleep[node.chosen] = node.fp
                node.chosen = node.todo.pop(0)
                node.fp = None
                if node.link is not None:
                    node.link = (node.link[0], (*node.link[1][:4], node.chosen))
                return True
            self.nodes.pop()
            base = node.key[:-1] if self.bound is not None and not self.reduce else node.key
            if self.on_path.get(base) == len(self.nodes):
                del self.on_path[base]
            if self.reduce or self.rounds is not None:
                continue  # sleep sets prune schedules, rounds defer them: none known whole
            if node.whole:
                self.complete.add(node.key[:-1] if self.bound is not None else node.key)
            elif self.nodes:
                self.nodes[-1].whole = False
        return False

    def explore(self) -> Outcome:
        start = time.monotonic()
        out = Outcome(self.stats, None)
        kinds: set[str] = set()
        while True:
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.stats.timed_out = True
                break
            if self.max_executions is not None and self.stats.executions >= self.max_executions:
                self.stats.timed_out = True
                break
            self.stats.executions += 1
            try:
                r = run(self.impl, self.scenario, self)  # type: ignore[arg-type]
            except _Cut as c:
                self.tracker.stop()
                release(self.keep)
                if c.args == ("sleep",):
                    self.stats.sleep_blocked += 1
                else:
                    self.stats.revisits += 1
                if self.cycle is not None and self._livelock(out):
                    break
                if not self._backtrack():
                    break
                continue
            release(self.keep)
            self.stats.complete += 1
            kinds |= {f.kind.value for f in r.findings}
            if self.collect:
                out.outcomes.add(outcome_key(r))
            if r.bugs and out.counterexample is None:
                out.counterexample, out.preemptions = self._replay(r.execution.schedule)
                if self.stop_on_bug:
                    break
            if not self._backtrack():
                break
        out.kinds |= kinds
        self.stats.seconds = time.monotonic() - start
        return out

    def _replay(self, schedule: list[int]) -> tuple[Result, int]:
        sched = ReplayScheduler(schedule)
        return run(self.impl, self.scenario, sched), sched.preemptions

    def _livelock(self, out: Outcome) -> bool:
        """Turn the cycle just closed into a step-budget run; True to stop."""
        assert self.cycle is not None
        first, now = self.cycle
        self.cycle = (-1, -1)  # report one cycle
        path = [n.chosen for n in self.nodes]
        loop = path[first:now]
        schedule = path[:first] + loop * (step_budget(self.scenario) // len(loop) + 2)
        r, pre = self._replay(schedule)
        if self.collect:
            out.outcomes.add(outcome_key(r))
        out.kinds |= {f.kind.value for f in r.findings}
        if r.bugs and out.counterexample is None:
            out.counterexample, out.preemptions = r, pre
            return self.stop_on_bug
        return False


_NO_SLEEP: dict[int, Footprint] = {}
_KEY_OF = operator.itemgetter(0)  # rounds run without sleep sets


class _Past:
    """A node of a rebuilt path below its last: only replayed."""

    __slots__ = ("chosen",)

    def __init__(self, chosen: int) -> None:
        self.chosen = chosen


def _covered(seen: dict[int | None, int], last: int | None, pre: int) -> bool:
    """Whether a state reached with ``pre`` preemptions after thread ``last`` is
    covered by its earlier expansions (``seen``: last thread -> preemptions).

    The cost of a schedule from the state depends on the last thread only at its
    first step, by at most one preemption, and not at all when the last thread
    cannot run (``None``). So an expansion after the same thread or after none
    with no more preemptions, or after any thread with fewer, explored every
    schedule this visit could still afford.
    """
    for t, p in seen.items():  # noqa: SIM110 (called at every state)
        if p < pre or (p == pre and (t == last or t is None)):
            return True
    return False


def explore_stateful(
    impl: type[World],
    scenario: Scenario,
    *,
    preemptions: int | None = None,
    deepen: Sequence[int] = (0, 1, 2),
    reduce: bool = False,
    stop_on_bug: bool = True,
    collect: bool = False,
    deadline: float | None = None,
    max_executions: int | None = None,
) -> Outcome:
    """Stateful search of one scenario, by increasing preemptions.

    With ``preemptions`` P: bounds 0..P in turn (the first counterexample has the
    fewest preemptions). Without, and ``deepen`` not empty: one unbounded search
    by rounds, which runs every step that preempts in the round of its
    preemption count (the states reached without preempting, then those one
    preemption away, and so on). Up to round ``max(deepen)`` a state is told
    apart by the thread that ran last and expanded again when a visit can afford
    more (as in a bounded search), so a counterexample with that many
    preemptions or fewer is found in the round of its fewest, about as fast as a
    bounded search finds it; beyond, a state is expanded once, whatever round
    reaches it first, so a clean run ends in a full proof for little more than
    one unbounded search costs. With ``deepen`` empty:
    the plain unbounded search. ``reduce`` adds sleep sets to the unbounded
    search, after the bounds in ``deepen``: a quarter of the executions, but the
    footprint tracking makes it slower in CPU time than the plain search on the
    scenarios measured (README, "Systematic exploration").
    """
    rounds = max(deepen) if preemptions is None and deepen and not reduce else None
    bounds: list[int | None] = (
        list(range(preemptions + 1))
        if preemptions is not None
        else [None]
        if rounds is not None or not deepen
        else [*deepen, None]
    )
    total = Stats()
    last: Outcome | None = None
    kinds: set[str] = set()
    outcomes: set[tuple[object, ...]] = set()
    # states a search covered whole, cut by the later ones (keys are interned
    # in one table, so they compare across searches)
    complete: set[tuple[Any, ...]] = set()
    intern: dict[Any, int] = {}
    for b in bounds:
        ex = StatefulExplorer(
            impl,
            scenario,
            bound=b,
            reduce=reduce and b is None,
            stop_on_bug=stop_on_bug,
            collect=collect,
            deadline=deadline,
            max_executions=None if max_executions is None else max_executions - total.executions,
            complete=complete,
            intern=intern,
            rounds=rounds,
        )
        last = ex.explore()
        total.add(last.stats)
        kinds |= last.kinds
        outcomes |= last.outcomes
        if last.stats.timed_out or (last.counterexample is not None and stop_on_bug):
            break
        if b is not None:
            total.deepest = b
        if not last.stats.bound_hit:
            break  # nothing was cut: this bound already covered every schedule
    assert last is not None
    # the verdict is bounded only if the last search was cut by its bound
    total.bound_hit = last.stats.bound_hit
    last.exhaustive = not total.bound_hit and not last.stats.timed_out
    if last.counterexample is not None and stop_on_bug:
        last.exhaustive = False  # stopped at the bug
    last.stats = total
    last.kinds = kinds
    last.outcomes = outcomes
    return last
