"""Random checking: many scenarios, each under one schedule, all drawn from one
seeded choice stream per run so that (seed, run index) names a run exactly."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario, generate
from difftest.oracle.findings import SEVERITY, Kind
from difftest.runner import Result, run
from difftest.schedulers.base import ChoiceScheduler, ChoiceSource
from difftest.schedulers.random import RandomSource


@dataclass
class GenParams:
    vcpus: int = 3
    ioctls: int = 1
    ops: int = 4
    nested: bool = True
    vendor: str = "svm"
    # INIT, SIPI and userspace resets in the alphabets: off by default, as final's one
    # known finding (README) needs them; --resets turns them on.
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
    first_perf: Result | None = None  # the first run with a perf finding
    interrupted: bool = False  # set by a caller that stopped the runs (Ctrl-C, SIGTERM)

    @property
    def perf_runs(self) -> int:
        return sum(n for k, n in self.runs_with.items() if SEVERITY[Kind(k)] == "perf")

    @property
    def bug_runs(self) -> int:
        return sum(n for k, n in self.runs_with.items() if SEVERITY[Kind(k)] == "bug")


def run_seed(impl: type[World], seed: int, index: int, params: GenParams) -> Result:
    """Run ``index`` of a check with ``seed``: scenario and schedule from one stream."""
    src = RandomSource(seed * 1_000_003 + index)
    return run(impl, params.scenario(src), ChoiceScheduler(src))


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
    summary: Summary | None = None,
    stop_on_perf: bool = False,
) -> Summary:
    """Wall-clock time only decides how many runs happen, never what a run does.
    ``summary`` is filled in as runs finish, so a caller that catches an interrupt
    still has every finding so far."""
    params = params or GenParams()
    s = summary if summary is not None else Summary()
    start = last = time.monotonic()
    i = 0
    while (runs is None or i < runs) and (seconds is None or time.monotonic() - start < seconds):
        r = run_seed(impl, seed, i, params)
        s.runs += 1
        s.steps += r.execution.steps
        for kind in {f.kind.value for f in r.findings}:
            s.runs_with[kind] += 1
        if r.bugs and s.first_bug is None:
            s.first_bug = r
        elif r.findings and not r.bugs and s.first_soft is None:
            s.first_soft = r
        if s.first_perf is None and any(f.severity == "perf" for f in r.findings):
            s.first_perf = r
        i += 1
        now = time.monotonic()
        if progress is not None and now - last >= progress_every:
            s.seconds = now - start
            progress(s)
            last = now
        if stop_on_bug and s.first_bug is not None:
            break
        if stop_on_perf and s.first_perf is not None:
            break
    s.seconds = time.monotonic() - start
    return s
