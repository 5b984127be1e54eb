"""Random checking: many scenarios, each under one schedule, all drawn from one
seeded choice stream per run so that (seed, run index) names a run exactly.

A run's schedule comes from one of several searches, chosen by its index
(``SEARCHES``): uniform random choices, PCT (long runs without preemption,
a few priority changes) or POS (partial-order sampling). The default portfolio
interleaves all three, so a bug that needs one long unpreempted stretch is
found about as fast as one that needs many preemptions.

Runs can be spread over processes (``jobs``) and machines (``shard``). Both
partition run indices deterministically, and the merged summary takes counts
as sums and the first finding as the one with the smallest index, so the
summary and the first reproducer do not depend on how the work was split.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

from difftest.impls.kernel.world import World
from difftest.model.scenario import ANY, Scenario, generate
from difftest.oracle.findings import SEVERITY, Kind
from difftest.runner import Result, run
from difftest.schedulers.base import ChoiceScheduler, ChoiceSource, Scheduler
from difftest.schedulers.pct import PCTScheduler
from difftest.schedulers.pos import POSScheduler
from difftest.schedulers.random import RandomSource

# The searches a run index can use, and the default interleaving.
SEARCHES = ("random", "pct", "pos")
PORTFOLIO = SEARCHES
PCT_DEPTH = 3
CHUNK = 50  # runs per unit of work handed to a process


@dataclass
class GenParams:
    vcpus: int = 3
    ioctls: int = 1
    ops: int = 4
    nested: bool = True
    vendor: str = "svm"
    irq_source: str = ANY  # drawn per run from GEN_IRQ_SOURCES; "legacy": the old stream
    # Userspace resets and INIT/SIPI IPIs in the alphabets (wider sources): off by
    # default, as final's INIT/reset finding (README) would fail every check.
    resets: bool = False

    def scenario(self, src: ChoiceSource) -> Scenario:
        """A scenario of this shape, every decision drawn from ``src``."""
        return generate(
            src,
            vcpus=self.vcpus,
            ioctls=self.ioctls,
            ops=self.ops,
            nested=self.nested,
            vendor=self.vendor,
            irq_source=self.irq_source,
            resets=self.resets,
        )


@dataclass
class Summary:
    runs: int = 0
    steps: int = 0
    seconds: float = 0.0
    runs_with: Counter[str] = field(default_factory=Counter)  # finding kind -> runs
    first_bug: Result | None = None
    first_soft: Result | None = None
    first_bug_index: int | None = None  # run index of first_bug
    first_soft_index: int | None = None
    bug_runs_by: Counter[str] = field(default_factory=Counter)  # search -> runs with a bug
    interrupted: bool = False  # set by a caller that stopped the runs (Ctrl-C, SIGTERM)

    @property
    def perf_runs(self) -> int:
        return sum(n for k, n in self.runs_with.items() if SEVERITY[Kind(k)] == "perf")

    @property
    def bug_runs(self) -> int:
        return sum(n for k, n in self.runs_with.items() if SEVERITY[Kind(k)] == "bug")


class _Zero:
    def draw(self, n: int) -> int:
        return 0


def estimate_k(impl: type[World], scenario: Scenario) -> int:
    """Steps of the non-preemptive schedule (every choice keeps the running thread):
    PCT spreads its change points over that many steps."""
    return max(1, run(impl, scenario, ChoiceScheduler(_Zero())).execution.steps)


def run_seed(impl: type[World], seed: int, index: int, params: GenParams) -> Result:
    """Run ``index`` of a random check with ``seed``: scenario and schedule from one stream."""
    src = RandomSource(seed * 1_000_003 + index)
    return run(impl, params.scenario(src), ChoiceScheduler(src))


def run_index(
    impl: type[World],
    seed: int,
    index: int,
    params: GenParams,
    searches: Sequence[str] = PORTFOLIO,
) -> Result:
    """Run ``index`` of a check with ``seed`` over ``searches``: the run's search is
    ``searches[index % len(searches)]``; its scenario is drawn first from the
    run's stream, then the scheduler's seed, so (seed, index, searches) names it."""
    search = searches[index % len(searches)]
    if search == "random":
        return run_seed(impl, seed, index, params)
    src = RandomSource(seed * 1_000_003 + index)
    scenario = params.scenario(src)
    sub = src.rng.getrandbits(64)
    sched: Scheduler
    if search == "pct":
        n = len(scenario.thread_names)
        sched = PCTScheduler(n, estimate_k(impl, scenario), PCT_DEPTH, sub)
    elif search == "pos":
        sched = POSScheduler(sub)
    else:
        raise ValueError(f"unknown search {search!r} (known: {', '.join(SEARCHES)})")
    return run(impl, scenario, sched)


def shard_indices(shard: tuple[int, int]) -> Iterator[int]:
    """Run indices of shard K of N (K from 1): K-1, K-1+N, K-1+2N, ..."""
    k, n = shard
    i = k - 1
    while True:
        yield i
        i += n


@dataclass
class _Part:
    """What a process reports for a chunk of runs: only numbers, never objects."""

    runs: int = 0
    steps: int = 0
    runs_with: Counter[str] = field(default_factory=Counter)
    bug_runs_by: Counter[str] = field(default_factory=Counter)
    first_bug: int | None = None
    first_soft: int | None = None


@dataclass
class _Job:
    impl: type[World]
    seed: int
    params: GenParams
    searches: tuple[str, ...]
    shard: tuple[int, int]

    def index(self, pos: int) -> int:
        """The run index at position ``pos`` of this shard's sequence."""
        return self.shard[0] - 1 + pos * self.shard[1]

    def result(self, pos: int) -> Result:
        return run_index(self.impl, self.seed, self.index(pos), self.params, self.searches)


def _tally(part: _Part, job: _Job, pos: int, r: Result) -> None:
    part.runs += 1
    part.steps += r.execution.steps
    for kind in {f.kind.value for f in r.findings}:
        part.runs_with[kind] += 1
    index = job.index(pos)
    if r.bugs:
        part.bug_runs_by[job.searches[index % len(job.searches)]] += 1
        if part.first_bug is None:
            part.first_bug = index
    elif r.findings and part.first_soft is None:
        part.first_soft = index


def _add(s: Summary, part: _Part) -> None:
    s.runs += part.runs
    s.steps += part.steps
    s.runs_with.update(part.runs_with)
    s.bug_runs_by.update(part.bug_runs_by)
    if part.first_bug is not None and (
        s.first_bug_index is None or part.first_bug < s.first_bug_index
    ):
        s.first_bug_index = part.first_bug
    if part.first_soft is not None and (
        s.first_soft_index is None or part.first_soft < s.first_soft_index
    ):
        s.first_soft_index = part.first_soft


# The job of a worker process, inherited through fork (never pickled).
_WORKER_JOB: _Job | None = None


def _init_worker(job: _Job) -> None:
    """Ctrl-C reaches the whole process group; the parent alone handles it. A
    worker whose parent is killed gets SIGTERM (Linux) instead of waiting on as
    an orphan: its task pipe never reports end-of-file, since its siblings hold
    the other end too."""
    global _WORKER_JOB
    _WORKER_JOB = job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _chunk(start: int, stop: int) -> _Part:
    job = _WORKER_JOB
    assert job is not None
    part = _Part()
    for pos in range(start, stop):
        _tally(part, job, pos, job.result(pos))
    return part


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def random_check(
    impl: type[World],
    *,
    seed: int = 0,
    runs: int | None = 1000,
    seconds: float | None = None,
    params: GenParams | None = None,
    progress: Callable[[Summary], None] | None = None,
    progress_every: float = 2.0,
    stop_on_bug: bool = False,
    searches: Sequence[str] = ("random",),
    jobs: int = 1,
    shard: tuple[int, int] = (1, 1),
    summary: Summary | None = None,
) -> Summary:
    """Run indices below ``runs`` that belong to ``shard`` (K, N): K-1, K-1+N, ...
    (or as many as ``seconds`` allow).

    Wall-clock time only decides how many runs happen, never what a run does.
    With ``jobs`` > 1 the runs go to that many forked processes in chunks of
    ``CHUNK`` consecutive positions; a chunk is only handed out while there is
    time and no bug is known (``stop_on_bug``), and every chunk handed out is
    finished, so the runs done are always a prefix of the shard's sequence.
    ``summary`` is filled in as runs finish, so a caller that catches an interrupt
    still has every finding so far.
    """
    job = _Job(impl, seed, params or GenParams(), tuple(searches), shard)
    if runs is not None:  # ``runs`` counts indices 0..runs-1 of every shard together
        runs = len(range(shard[0] - 1, runs, shard[1]))
    for name in job.searches:
        if name not in SEARCHES:
            raise ValueError(f"unknown search {name!r} (known: {', '.join(SEARCHES)})")
    s = summary if summary is not None else Summary()
    try:
        if jobs > 1 and (runs is None or runs > CHUNK):
            _parallel(s, job, runs, seconds, progress, progress_every, stop_on_bug, jobs)
        else:
            _serial(s, job, runs, seconds, progress, progress_every, stop_on_bug)
    finally:
        # The first findings are re-run from their index: runs are deterministic.
        if s.first_bug is None and s.first_bug_index is not None:
            s.first_bug = job.result((s.first_bug_index - shard[0] + 1) // shard[1])
        if s.first_soft is None and s.first_soft_index is not None:
            s.first_soft = job.result((s.first_soft_index - shard[0] + 1) // shard[1])
    return s


def _serial(
    s: Summary,
    job: _Job,
    runs: int | None,
    seconds: float | None,
    progress: Callable[[Summary], None] | None,
    progress_every: float,
    stop_on_bug: bool,
) -> None:
    start = last = time.monotonic()
    pos = 0
    while (runs is None or pos < runs) and (seconds is None or time.monotonic() - start < seconds):
        r = job.result(pos)
        part = _Part()
        _tally(part, job, pos, r)
        if part.first_bug is not None and s.first_bug is None:
            s.first_bug = r
        if part.first_soft is not None and s.first_soft is None:
            s.first_soft = r
        _add(s, part)
        pos += 1
        now = time.monotonic()
        if progress is not None and now - last >= progress_every:
            s.seconds = now - start
            progress(s)
            last = now
        if stop_on_bug and s.first_bug is not None:
            break
    s.seconds = time.monotonic() - start


def _parallel(
    s: Summary,
    job: _Job,
    runs: int | None,
    seconds: float | None,
    progress: Callable[[Summary], None] | None,
    progress_every: float,
    stop_on_bug: bool,
    jobs: int,
) -> None:
    """Chunks to a pool of forked processes, at most two per process in flight.

    Fork (not spawn): the workers inherit the loaded implementation, including
    a plugin loaded from a file, and start in milliseconds without importing
    anything again; chunks and their results are small tuples of numbers.
    """
    start = last = time.monotonic()
    inflight: list[tuple[Future[_Part], int, int]] = []
    pos = 0
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context("fork"),
        initializer=_init_worker,
        initargs=(job,),
    )
    try:
        while True:
            more = (runs is None or pos < runs) and not (
                stop_on_bug and s.first_bug_index is not None
            )
            if more and seconds is not None and time.monotonic() - start >= seconds:
                more = False
            while more and len(inflight) < 2 * jobs:
                stop = pos + CHUNK if runs is None else min(pos + CHUNK, runs)
                inflight.append((pool.submit(_chunk, pos, stop), pos, stop))
                pos = stop
                more = runs is None or pos < runs
            if not inflight:
                break
            fut, first, stop = inflight.pop(0)  # in order: results merge deterministically
            try:
                part = fut.result()
            except BaseException:
                if not fut.done() or fut.cancelled() or fut.exception() is None:
                    raise  # the parent's own interrupt, or a broken pool
                # A run raised in a worker: run its chunk here, so that the
                # exception surfaces with its own frames (plugin code among them),
                # exactly as with one job. Runs are deterministic.
                for p in range(first, stop):
                    job.result(p)
                raise
            _add(s, part)
            now = time.monotonic()
            if progress is not None and now - last >= progress_every:
                s.seconds = now - start
                progress(s)
                last = now
    finally:  # on an interrupt: finish the chunks running, start no other
        pool.shutdown(wait=True, cancel_futures=True)
    s.seconds = time.monotonic() - start
