"""Optimal DPOR: source sets and wakeup trees (Abdulla, Aronis, Jonsson and
Sagonas, "Optimal dynamic partial order reduction", POPL 2014).

``dpor.Explorer`` (Flanagan and Godefroid) adds a thread to a backtrack set for
each race and lets a sleep set abandon the schedules that turn out redundant:
every such abandoned execution is wasted. Here a race e < e' (different threads,
conflicting, nothing in between ordered after e and before e') is reversed by
inserting the sequence ``v = notdep(e, E).e'`` (the steps after e that do not
depend on it, then e') into the wakeup tree at the state before e, unless a
sleeping thread or a branch already there covers it (the weak-initials test).
Branches of the wakeup tree are run before free choices, so a redundant
schedule is never started, not merely abandoned.

The paper assumes steps that are never disabled and whose accesses do not depend
on the values read. Neither holds here, so two facts about e' are checked before
it is moved in front of e (into the state ``pre(E, e).notdep``), from the values
each step overwrote and read (``track``):

* it keeps its footprint when every location it read holds the same value there
  (where e or a step depending on it wrote, the value the first of them found);
  otherwise its footprint is unknown and conflicts with everything;
* it is enabled when its ``ready`` predicate read the same values, or else when
  the predicate says so in the world set back to that state (every location the
  removed steps and e' wrote gets that value, and is restored afterwards).

A release against the acquisition that waited for it is then disabled, and the
race reversed is the next earlier conflicting step where e' is enabled: the
holder's acquisition (Flanagan and Godefroid's co-enabled race). Only where the
predicate cannot be asked (a container changed as a whole) does it fall back to
``dpor``'s backtrack points. A step blocked on its predicate is checked at every
state with the predicate's reads, as in ``dpor``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from difftest.engine.points import Point
from difftest.explore.dpor import Explorer, _Abandon, _Node
from difftest.explore.track import UNKNOWN, Footprint, patch, unpatch

# One step of a sequence to insert: its thread and its footprint (None: unknown,
# conflicts with everything).
Event = tuple[int, Footprint | None]


class Branch:
    """A node of a wakeup tree: one step, and the ordered branches after it."""

    __slots__ = ("tid", "fp", "children")

    def __init__(self, tid: int, fp: Footprint | None) -> None:
        self.tid = tid
        self.fp = fp
        self.children: list[Branch] = []


def _dep(a: Footprint | None, b: Footprint | None) -> bool:
    return a is None or b is None or a.conflicts(b)


def _writes_any(x: Footprint, locs: frozenset[str] | set[str]) -> bool:
    return not (x.writes.isdisjoint(locs) and x.touches.isdisjoint(locs))


def weak_initial(v: list[Event], q: int, fq: Footprint | None) -> tuple[bool, int | None]:
    """Is thread ``q``, whose next step is ``fq``, in the weak initials of ``v``?

    Either q's first step in v depends on no earlier step of v (then it is the
    step ``fq`` too, or one reading the same values), or q has no step in v and
    ``fq`` commutes with all of v. Returns the answer and where q's step is.
    """
    for k, (t, f) in enumerate(v):
        if t == q:
            if not any(_dep(g, f) for _, g in v[:k]):
                return True, k
            ok = fq is not None and not any(_dep(g, fq) for _, g in v[:k])
            return ok, k
    return fq is not None and not any(_dep(g, fq) for _, g in v), None


def tree_insert(children: list[Branch], v: list[Event]) -> bool:
    """Insert ``v`` below ``children`` unless a branch covers it; True if added."""
    while True:
        for b in children:
            ok, k = weak_initial(v, b.tid, b.fp)
            if ok:
                if k is not None:
                    v = v[:k] + v[k + 1 :]
                if not b.children or not v:
                    return False  # a leaf (or a node) there already covers v
                children = b.children
                break
        else:
            for t, f in v:
                nb = Branch(t, f)
                children.append(nb)
                children = nb.children
            return True


@dataclass
class _WNode(_Node):
    """A state with its wakeup tree and the subtree below the branch being run."""

    wut: list[Branch] = field(default_factory=list)
    child_wut: list[Branch] = field(default_factory=list)


class OptimalExplorer(Explorer):
    """``Explorer`` with wakeup trees instead of backtrack sets (see the module)."""

    # -- the scheduler interface -----------------------------------------------

    def new_execution(self) -> None:
        super().new_execution()
        self.next_wut: list[Branch] = []
        self.pred_at: list[dict[int, tuple[bool, Footprint]]] = []
        self.cur_pred: frozenset[str] | None = None
        self.cur_preds: list[frozenset[str] | None] = []
        self.cur_point: Point | None = None
        self.points: list[Point | None] = []

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        k = self.k
        if k < len(self.nodes):
            node = self.nodes[k]
            if tuple(runnable) != node.enabled or node.chosen not in runnable:
                raise RuntimeError(f"explorer: replay diverged at step {k} (nondeterminism)")
        else:
            prev = self.steps[-1][0] if self.steps else None
            pre = self.nodes[-1].cost(self.nodes[-1].chosen) if self.nodes else 0
            node = _WNode(tuple(runnable), prev, pre, self.child_sleep, wut=self.next_wut)
            if not self._take_branch(node):
                awake = [t for t in runnable if t not in node.sleep]
                if not awake:
                    raise _Abandon("sleep")
                t = prev if prev in awake else awake[0]
                if self.bound is not None and node.cost(t) > self.bound:
                    self.stats.bound_hit = True
                    raise _Abandon("bound")
                node.chosen = t
                node.child_wut = []
            self.nodes.append(node)
            self.stats.states += 1
        self.next_wut = node.child_wut
        self.k += 1
        fp = self.tracker.start(values=True)
        p = self.pending[node.chosen]
        self.cur_pred = None
        self.cur_point = p
        if p is not None and p.ready is not None:
            p.ready()  # the predicate's reads belong to the step: it enables it
            self.cur_pred = frozenset(fp.reads)
        return node.chosen

    def _take_branch(self, node: _WNode) -> bool:
        """Run the first wakeup-tree branch at ``node`` that fits the bound."""
        wut = node.wut
        while wut:
            b = wut.pop(0)
            if b.tid in node.sleep:
                continue  # explored from an earlier state: covered
            if b.tid not in node.enabled:
                raise RuntimeError(f"explorer: wakeup-tree step of thread {b.tid} is disabled")
            if self.bound is not None and node.cost(b.tid) > self.bound:
                self.stats.bound_hit = True
                continue
            node.chosen = b.tid
            node.child_wut = b.children
            return True
        return False

    def on_step(self, tid: int | None, pending: list[Point | None]) -> None:
        self.pending = pending
        if tid is not None:
            self._record(tid)
        # what each waiting step's predicate reads now (and whether it holds)
        now: dict[int, tuple[bool, Footprint]] = {}
        for q, p in enumerate(pending):
            if p is not None and p.ready is not None:
                fp = self.tracker.start(values=True)
                ok = p.ready()
                self.tracker.stop()
                now[q] = (ok, fp)
        self.pred_at.append(now)
        if tid is None or not self.reduce or len(self.steps) < self.replay:
            return
        for q, (ok, fp) in now.items():
            if q != tid and not ok:
                self._race_with(q, frozenset(fp.reads))

    def _record(self, tid: int) -> None:
        """Footprint and vector clock of the step just run, then its races."""
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
        mine = self.tclock[tid]
        clock = list(mine)
        clock[tid] += 1
        deps = []
        for j in range(i - 1, -1, -1):
            tj, fj, cj = self.steps[j]
            if tj != tid and fj.conflicts(fp):
                if cj[tj] > mine[tj]:
                    deps.append(j)
                for x in range(self.n):
                    if cj[x] > clock[x]:
                        clock[x] = cj[x]
        self.steps.append((tid, fp, tuple(clock)))
        self.cur_preds.append(self.cur_pred)
        self.points.append(self.cur_point)
        self.tclock[tid] = clock
        if self.reduce and i >= self.replay - 1:
            self._races(i, deps)

    # -- races -----------------------------------------------------------------

    def _races(self, i: int, deps: list[int]) -> None:
        """Reverse every race of step ``i`` with a step in ``deps`` (conflicting,
        other threads, not ordered before the thread's previous step, latest
        first) that nothing else in ``deps`` comes after."""
        steps = self.steps
        tid, fp, _ = steps[i]
        for n, j in enumerate(deps):
            tj, _, cj = steps[j]
            if any(steps[d][2][tj] >= cj[tj] for d in deps if d != j):
                continue  # not a direct race: one in between is reversed instead
            self._reverse(i, tid, fp, deps[n:])

    def _reverse(self, i: int, tid: int, fp: Footprint, cands: list[int]) -> None:
        """Put step ``i`` in front of ``cands[0]``; where it would be disabled (a
        lock release it waited for), in front of the next candidate instead
        (Flanagan and Godefroid's co-enabled race: the holder's acquisition).
        Where that cannot be told, fall back as ``dpor`` does."""
        self._reverse_step(i, tid, fp, self.points[i], self.cur_preds[i], fp.values, cands)

    def _reverse_step(
        self,
        i: int,
        q: int,
        fp: Footprint | None,
        p: Point | None,
        pred: frozenset[str] | None,
        held: dict[str, object] | None,
        cands: Sequence[int],
    ) -> None:
        """Thread ``q``'s step ``p`` (run as step i with footprint ``fp``, or
        pending after step i-1 if ``fp`` is None) in front of the first
        candidate where it is enabled."""
        widened = False
        for j in cands:
            ok = self._enabled_after(j, i, p, pred, held)
            if ok:
                if self._insert(j, self._moved(j, i, q, fp)) and self._over(j, q):
                    self._coons(j, i, q, fp, p, pred, held)
                return
            if ok is None:
                if q in self.nodes[j].enabled:
                    self._single(j, q)
                    return
                if not widened:
                    self._widen(j)
                    widened = True

    def _moved(self, j: int, i: int, q: int, fp: Footprint | None) -> list[Event]:
        """``notdep(e_j, E)`` up to step i, then q's step: step i if it ran
        (``fp``), else q's pending step (footprint unknown)."""
        if fp is not None:
            return self._reversal(j, i, q, fp)
        return [*((self.steps[x][0], self.steps[x][1]) for x in self._kept(j, i)), (q, None)]

    def _removed(self, j: int, x: int) -> bool:
        """Step ``x`` (after ``j``) depends on step ``j``."""
        tj, _, cj = self.steps[j]
        return self.steps[x][2][tj] >= cj[tj]

    def _kept(self, j: int, i: int) -> list[int]:
        """``notdep(e_j, E)`` up to step ``i``: the steps after j not depending on it."""
        return [x for x in range(j + 1, i) if not self._removed(j, x)]

    def _same_after(
        self, j: int, i: int, values: dict[str, object], locs: frozenset[str] | set[str]
    ) -> bool:
        """Do the locations ``locs`` hold ``values`` (what step i read) in
        ``pre(E, e_j).notdep(e_j)``? Where e_j or a step depending on it wrote a
        location, it holds what the first of them found there: any step that is
        kept and writes it comes before (it would depend on them otherwise)."""
        todo = set(locs)
        for x in range(j, i):
            if not todo:
                return True
            if x != j and not self._removed(j, x):
                continue
            fx = self.steps[x][1]
            for loc in [loc for loc in todo if loc in fx.writes or loc in fx.touches]:
                todo.discard(loc)
                if loc not in values:
                    continue  # step i wrote it before reading it
                if loc in fx.touches:
                    return False  # an element changed: the whole is unknown
                old = fx.old.get(loc, UNKNOWN)
                if old is UNKNOWN or old != values[loc]:
                    return False
        return True

    def _reversal(self, j: int, i: int, tid: int, fp: Footprint) -> list[Event]:
        """``notdep(e_j, E).e_i``; e_i's footprint is unknown unless it reads there
        what it read."""
        v: list[Event] = [(self.steps[x][0], self.steps[x][1]) for x in self._kept(j, i)]
        assert fp.values is not None
        same = self._same_after(j, i, fp.values, fp.reads)
        v.append((tid, fp if same else None))
        return v

    def _enabled_after(
        self,
        j: int,
        i: int,
        p: Point | None,
        pred: frozenset[str] | None,
        held: dict[str, object] | None,
    ) -> bool | None:
        """Is the pending step ``p`` (of a thread whose steps after e_j are all
        kept) enabled in ``pre(E, e_j).notdep(e_j)``, steps up to i? ``pred`` and
        ``held``: what its predicate read and the values, where it held. None
        if that cannot be told."""
        if p is None or p.ready is None:
            return True
        if pred is not None and held is not None and self._same_after(j, i, held, pred):
            return True  # its predicate reads what it read when it held
        # Ask the predicate itself in the world set back to that state: every
        # location e_j, the steps depending on it and step i wrote holds what
        # the first of them found there.
        back: dict[str, object] = {}
        for x in range(j, min(i + 1, len(self.steps))):
            if x in (j, i) or self._removed(j, x):
                fx = self.steps[x][1]
                for loc in fx.writes:
                    back.setdefault(loc, fx.old.get(loc, UNKNOWN))
        undo = patch(self.tracker, back)
        if undo is None:
            return None
        try:
            return bool(p.ready())
        finally:
            unpatch(undo)

    def _widen(self, j: int) -> None:
        """A branch at the state before step ``j`` for every enabled thread."""
        for p in self.nodes[j].enabled:
            self._single(j, p)

    def _single(self, j: int, p: int) -> None:
        """Make sure thread ``p`` is run first at the state before step ``j``."""
        node = self.nodes[j]
        if p == node.chosen or p in node.sleep or any(b.tid == p for b in node.wut):
            return
        fp = None
        for x in range(j, len(self.steps)):
            tx, fx, _ = self.steps[x]
            if tx == p:
                fp = None if self._removed(j, x) else fx
                break
        node.wut.append(Branch(p, fp))

    def _insert(self, j: int, v: list[Event]) -> bool:
        """Insert ``v`` at the state before step ``j`` unless a sleeping thread or
        a wakeup-tree branch covers it. (The step run there, e_j, never does: e'
        in v conflicts with it.)"""
        node = self.nodes[j]
        for q, f in node.sleep.items():
            if weak_initial(v, q, f)[0]:
                return False
        return tree_insert(node.wut, v)

    def _over(self, j: int, q: int) -> bool:
        """Bounded, and running ``q`` before step ``j`` costs more than the bound."""
        return self.bound is not None and self.nodes[j].cost(q) > self.bound

    def _coons(
        self,
        j: int,
        i: int,
        q: int,
        fp: Footprint | None,
        p: Point | None,
        pred: frozenset[str] | None,
        held: dict[str, object] | None,
    ) -> None:
        """Bounded, where running the step before step ``j`` is over the bound:
        the same step also where the run of steps containing step ``j`` began
        (Coons, Musuvathi and McKinley), where switching to it costs no
        preemption. Only when its footprint there is known: with unknown ones too,
        the ZAP_NO_SEQ search of benchmarks/explore.py took 136 executions (8
        sleep-set blocked) instead of 117 (2) to the same counterexample."""
        run_by = self.nodes[j].chosen
        k = j
        while k > 0 and self.nodes[k - 1].chosen == run_by:
            k -= 1
        if k == j or any(self.steps[x][0] == q and self._removed(k, x) for x in range(k + 1, i)):
            return  # q's steps there depend on the run's first step
        ok = self._enabled_after(k, i, p, pred, held)
        if ok:
            v = self._moved(k, i, q, fp)
            if v[-1][1] is not None:
                self._insert(k, v)
        elif ok is None:
            if q in self.nodes[k].enabled:
                self._single(k, q)
            else:
                self._widen(k)

    def _race_with(self, q: int, pred: frozenset[str] | None) -> None:  # type: ignore[override]
        """Thread ``q``'s next step, blocked on a predicate reading ``pred`` (None:
        an unknown step, where an execution stopped), against the latest step not
        ordered before it that wrote what it reads (any step if unknown) where
        the reversal is enabled."""
        mine = self.tclock[q]
        i = len(self.steps)
        reads, held = pred, None
        if pred is None and q in self.pred_at[i]:
            ok, fp = self.pred_at[i][q]
            reads, held = frozenset(fp.reads), fp.values if ok else None
        cands = [
            j
            for j in range(i - 1, -1, -1)
            if self.steps[j][0] != q
            and self.steps[j][2][self.steps[j][0]] > mine[self.steps[j][0]]
            and (pred is None or _writes_any(self.steps[j][1], pred))
        ]
        self._reverse_step(i, q, None, self.pending[q], reads, held, cands)

    # -- backtracking ----------------------------------------------------------

    def _next_prefix(self) -> bool:
        """Move to the deepest state with a wakeup-tree branch left."""
        while self.nodes:
            node = self.nodes[-1]
            if node.fp is not None:
                node.sleep = {**node.sleep, node.chosen: node.fp}
            node.fp = None
            if self._take_branch(node):
                return True
            self.nodes.pop()
        return False
