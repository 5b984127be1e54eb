"""The deterministic executor: runs one scenario under one scheduler.

Threads are generators that yield a ``Point`` before each shared access. The
executor asks the scheduler which runnable thread goes next, resumes it for exactly
one step and records the choice. The schedule (list of thread ids) plus the
scenario is all that is needed to get the identical execution back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random
from typing import Protocol

from difftest.engine.points import Kfunc, Point
from difftest.engine.sync import PRIMITIVES
from difftest.schedulers.base import Scheduler


class World(Protocol):
    """What the executor needs from a model instance."""

    current: int
    now: int

    def threads(self) -> list[tuple[str, Kfunc]]: ...

    def halted(self) -> bool:
        """True once a finding that ends the execution was recorded."""
        ...

    def on_stuck(self, kind: str, detail: str) -> None:
        """Record a deadlock (``"deadlock"``) or an exhausted step budget."""
        ...


@dataclass
class Step:
    """One executed step, recorded when tracing."""

    index: int
    tid: int
    op: str
    obj: str
    write: bool
    stack: tuple[str, ...]  # kernel functions, outermost first
    changes: dict[str, tuple[object, object]] = field(default_factory=dict)


@dataclass
class Execution:
    schedule: list[int]
    outcome: str  # "done", "deadlock", "budget" or "halted"
    trace: list[Step] | None = None

    @property
    def steps(self) -> int:
        return len(self.schedule)


def call_stack(gen: Kfunc) -> tuple[str, ...]:
    """Names of the generator functions a thread is suspended in, outermost first.

    Read from ``gi_yieldfrom`` only when tracing, so the hot path pays nothing for
    naming steps after kernel functions.
    """
    names = []
    g = gen
    while g is not None:
        names.append(g.gi_code.co_name)
        g = g.gi_yieldfrom  # type: ignore[assignment]
    return tuple(n for n in names if n not in PRIMITIVES)


def execute(
    world: World,
    scheduler: Scheduler,
    *,
    max_steps: int,
    snapshot: Callable[[], dict[str, object]] | None = None,
) -> Execution:
    """Run ``world``'s threads to completion, deadlock, budget or a halting finding.

    With ``snapshot`` given, every step is recorded with its call stack and the
    state it changed. A scheduler with an ``on_step(tid, pending)`` method (the
    systematic explorers) is shown the pending points once before the first step
    (``tid`` None) and after every step, so it can tell where a step ends.

    A scheduler whose ``uniform_rng()`` returns a ``random.Random`` promises to be
    ``ChoiceScheduler`` over ``rng.randrange``; untraced, its choices are drawn
    inline (``_run_uniform``) from the same stream, so the schedule is the same
    as the general loop's, only cheaper (tests/test_engine_digest.py pins it).
    """
    named = world.threads()
    names = [n for n, _ in named]
    gens: list[Kfunc | None] = [g for _, g in named]
    pending: list[Point | None] = []
    for i, g in enumerate(gens):
        world.current = i
        pending.append(_advance(g))
        if pending[-1] is None:
            gens[i] = None
    scheduler.new_execution()
    on_step = getattr(scheduler, "on_step", None)
    if on_step is not None:
        prefix = getattr(scheduler, "prefix", None)
        done = _replay_prefix(world, prefix(), gens, pending) if prefix is not None else []
        if world.halted():
            return Execution(done, "halted")
        on_step(None, pending)
        if done:
            return _run(world, scheduler, on_step, None, names, gens, pending, max_steps, done)
    elif snapshot is None:
        uniform = getattr(scheduler, "uniform_rng", None)
        rng = uniform() if uniform is not None else None
        if (
            rng is not None
            and type(rng)._randbelow is Random._randbelow_with_getrandbits  # type: ignore[attr-defined]
            and len(gens) < len(_BITS)
        ):
            return _run_uniform(world, rng, names, gens, pending, max_steps)
    return _run(world, scheduler, on_step, snapshot, names, gens, pending, max_steps)


_BITS = tuple(k.bit_length() for k in range(1024))


def _stuck(world: World, names: list[str], pending: list[Point | None]) -> str:
    """Every unfinished thread is blocked: report a deadlock, or "done" if none is left."""
    if any(p is not None for p in pending):
        blocked = ", ".join(
            f"{names[i]} in {p.op}({p.obj})" for i, p in enumerate(pending) if p is not None
        )
        world.on_stuck("deadlock", blocked)
        return "deadlock"
    return "done"


def _run(
    world: World,
    scheduler: Scheduler,
    on_step: Callable[[int | None, list[Point | None]], None] | None,
    snapshot: Callable[[], dict[str, object]] | None,
    names: list[str],
    gens: list[Kfunc | None],
    pending: list[Point | None],
    max_steps: int,
    schedule: list[int] | None = None,
) -> Execution:
    """The general loop: any scheduler, optional tracing and ``on_step``; it goes
    on after the steps in ``schedule`` if given (untraced)."""
    current: int | None = schedule[-1] if schedule else None
    if schedule is None:
        schedule = []
    trace: list[Step] | None = [] if snapshot is not None else None
    before = snapshot() if snapshot is not None else None
    live = [i for i, p in enumerate(pending) if p is not None]
    next_task, halted = scheduler.next_task, world.halted
    while True:
        runnable = []
        for i in live:
            ready = pending[i].ready  # type: ignore[union-attr]
            if ready is None or ready():
                runnable.append(i)
        if not runnable:
            return Execution(schedule, _stuck(world, names, pending), trace)
        if len(schedule) >= max_steps:
            world.on_stuck("budget", f"{max_steps} steps")
            return Execution(schedule, "budget", trace)
        tid = next_task(runnable, current)
        current = tid
        schedule.append(tid)
        world.current = tid
        world.now = len(schedule) - 1
        point = pending[tid]
        gen = gens[tid]
        assert point is not None and gen is not None
        stack = call_stack(gen) if trace is not None else ()
        try:
            pending[tid] = next(gen)
        except StopIteration:
            pending[tid] = gens[tid] = None
            live.remove(tid)
        if on_step is not None:
            on_step(tid, pending)
        if trace is not None and snapshot is not None and before is not None:
            after = snapshot()
            changes = {k: (before[k], v) for k, v in after.items() if before[k] != v}
            trace.append(
                Step(len(schedule) - 1, tid, point.op, point.obj, point.write, stack, changes)
            )
            before = after
        if halted():
            return Execution(schedule, "halted", trace)


def _run_uniform(
    world: World,
    rng: Random,
    names: list[str],
    gens: list[Kfunc | None],
    pending: list[Point | None],
    max_steps: int,
) -> Execution:
    """``_run`` specialised to ``ChoiceScheduler(RandomSource)``, untraced: the hot
    loop of ``difftest check``.

    The choice is ``ChoiceScheduler.next_task``'s, inlined: with k > 1 runnable
    threads it draws ``rng.randrange(k)`` exactly as ``Random._randbelow`` does
    (k.bit_length() bits, redrawn while out of range) and indexes
    ``[current, *other runnable threads]``; with one runnable thread it draws
    nothing. The runnable threads are a bit mask ``avail``, and k, the draw's
    bit count and the table of those lists by running thread are looked up by
    mask (``_shapes``) when it changes, instead of built at every step.

    ``avail`` changes only when a thread's readiness does: a thread waiting on a
    lock (its point's ``lock`` is set) keeps the lock's answer until a step on
    that lock runs (``difftest.engine.sync``); any other predicate (an idle
    vCPU's wake-up) is asked at every step (``polled``), and its thread leaves
    ``avail`` while it is false and comes back once it holds (mostly it keeps
    its answer for many steps).
    """
    getrandbits = rng.getrandbits
    halted = world.halted
    # A world that records findings in a list can only halt when it grows; any
    # other world is asked after every step (a list that always looks grown).
    findings = getattr(world, "findings", None)
    watch = type(findings) is list
    if not watch:
        findings = [None]
    seen = -1 if not watch else 0
    schedule: list[int] = []
    record = schedule.append
    resume = [g.send if g is not None else None for g in gens]
    n = len(gens)
    shapes = _shapes(n)
    # Predicates asked at every step, as (thread's bit, predicate) by thread
    # (pure: their order does not matter) and as the tuple ``polled`` (made
    # when they change; most steps have none, and then make no iterator);
    # threads waiting on a lock, with their points; whether a thread's pending
    # point is in either.
    conds: dict[int, tuple[int, Callable[[], bool]]] = {}
    waits: dict[int, Point] = {}
    pred = [False] * n
    avail = 0  # bit i: thread i is runnable (a refused lock or a false predicate: not)
    for i, p in enumerate(pending):
        if p is None:
            continue
        if p.ready is not None:
            pred[i] = True
            if p.lock is not None:
                waits[i] = p
                if not p.ready():
                    continue
            else:
                conds[i] = (1 << i, p.ready)
        avail |= 1 << i
    polled = tuple(conds.values())
    current = n  # none yet: the first draw indexes the runnable threads as they are
    k, b, orders = shapes.get(avail) or _shape(shapes, avail, n)
    for step in range(max_steps):
        if polled:
            for bit, ready in polled:
                if ready():
                    if not avail & bit:
                        avail |= bit
                        k, b, orders = shapes.get(avail) or _shape(shapes, avail, n)
                elif avail & bit:
                    avail ^= bit
                    k, b, orders = shapes.get(avail) or _shape(shapes, avail, n)
        if k > 1:
            c = getrandbits(b)
            while c >= k:
                c = getrandbits(b)
            tid = orders[current][c]
        elif k:
            tid = orders[n][0]
        else:
            return Execution(schedule, _stuck(world, names, pending))
        current = tid
        record(tid)
        world.current = tid
        world.now = step
        # (With nobody waiting on a lock, a step on one has no one to ask again.)
        lock = pending[tid].lock if waits else None  # type: ignore[union-attr]
        try:
            point = pending[tid] = resume[tid](None)  # type: ignore[misc]
        except StopIteration:
            pending[tid] = gens[tid] = None
            avail ^= 1 << tid
            k, b, orders = shapes.get(avail) or _shape(shapes, avail, n)
            if pred[tid]:
                pred[tid] = False
                if conds.pop(tid, None) is not None:
                    polled = tuple(conds.values())
                waits.pop(tid, None)
        else:
            if point.ready is None:
                if pred[tid]:
                    pred[tid] = False
                    if conds.pop(tid, None) is not None:
                        polled = tuple(conds.values())
                    waits.pop(tid, None)
            elif point.lock is None:
                pred[tid] = True
                conds[tid] = (1 << tid, point.ready)
                polled = tuple(conds.values())
                waits.pop(tid, None)
            else:
                pred[tid] = True
                if conds.pop(tid, None) is not None:
                    polled = tuple(conds.values())
                waits[tid] = point
                if not point.ready():
                    avail ^= 1 << tid
                    k, b, orders = shapes.get(avail) or _shape(shapes, avail, n)
        if lock is not None:
            # a step on a lock: ask the threads waiting on it again
            for i, w in waits.items():
                if w.lock is lock and i != tid:
                    bit = 1 << i
                    if w.ready():  # type: ignore[misc]
                        if not avail & bit:
                            avail |= bit
                            k, b, orders = shapes.get(avail) or _shape(shapes, avail, n)
                    elif avail & bit:
                        avail ^= bit
                        k, b, orders = shapes.get(avail) or _shape(shapes, avail, n)
        if findings and len(findings) != seen:  # type: ignore[arg-type]
            if halted():
                return Execution(schedule, "halted")
            seen = len(findings) if watch else -1  # type: ignore[arg-type]
    # max_steps steps ran: over if nothing can run (done or deadlock), else the
    # budget is exhausted
    runnable = [
        i
        for i, q in enumerate(pending)
        if q is not None
        and not (i in waits and not avail >> i & 1)
        and (i not in conds or conds[i][1]())
    ]
    if not runnable:
        return Execution(schedule, _stuck(world, names, pending))
    world.on_stuck("budget", f"{max_steps} steps")
    return Execution(schedule, "budget")


Shape = tuple[int, int, list[list[int]]]
# By thread count: runnable-thread mask -> its ``Shape`` (``_shape``).
_SHAPES: dict[int, dict[int, Shape]] = {}


def _shapes(n: int) -> dict[int, Shape]:
    shapes = _SHAPES.get(n)
    if shapes is None or len(shapes) > 1 << 16:  # (bounded for many threads)
        shapes = _SHAPES[n] = {}
    return shapes


def _shape(shapes: dict[int, Shape], avail: int, n: int) -> Shape:
    """For the runnable threads of mask ``avail`` among ``n``: their number k,
    the bits a draw below k takes, and ``t`` with ``t[i]``: ``ChoiceScheduler``'s
    order of them when thread i ran last, ``[i, *the others ascending]`` if i is
    runnable, else all ascending; ``t[n]`` (no thread ran yet) is the latter
    too. Made once per mask (``shapes``); read only."""
    runnable = [i for i in range(n) if avail >> i & 1]
    t = [runnable] * (n + 1)
    for i in runnable:
        t[i] = [i, *(q for q in runnable if q != i)]
    shape = shapes[avail] = (len(runnable), _BITS[len(runnable)], t)
    return shape


def _replay_prefix(
    world: World, prefix: list[int], gens: list[Kfunc | None], pending: list[Point | None]
) -> list[int]:
    """Run the steps of ``prefix`` blindly: a systematic explorer's ``prefix()``
    is a schedule it ran before, so every step is runnable and nothing halts
    before its last step; the explorer is shown the state after it."""
    for step, tid in enumerate(prefix):
        world.current = tid
        world.now = step
        try:
            pending[tid] = next(gens[tid])  # type: ignore[arg-type]
        except StopIteration:
            pending[tid] = gens[tid] = None
    return list(prefix)


def _advance(gen: Kfunc | None) -> Point | None:
    if gen is None:
        return None
    try:
        return next(gen)
    except StopIteration:
        return None
