"""difftest's seeded random search against a threaded stress test of the same code.

    python -m benchmarks.stress_threads [--trials N] [--cap S]

Both sides run the same implementation classes on the same scenarios (for the
generated rows, the same scenario sequence: ``run_seed``'s stream) with the same
oracle. They differ only in who interleaves the threads: difftest's seeded
``RandomScheduler``, or real threads with random sleeps (``baselines/threads.py``).
Prints, per target, the median time and runs to the first bug over N trials for
difftest and for each stress setting, the best setting, and the ratio. Also,
per setting, the first run in which a thread was preempted at all and, for the
prepatch rows, the first run in which two vCPUs waited for a window at once
(the precondition of the shared-IRQWIN race), measured after the timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks.baselines.threads import stress_run
from difftest.check import GenParams, run_seed
from difftest.impls import load
from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario, generate
from difftest.runner import run
from difftest.schedulers import RandomScheduler, RandomSource
from difftest.search.random import find

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers import PER_VCPU_APIC, SEAN, ZAP_NO_SEQ  # noqa: E402

# (label, implementation, scenario; None = generated like ``difftest check``)
TARGETS: list[tuple[str, str, Scenario | None]] = [
    ("prepatch / SEAN", "prepatch", SEAN),
    ("prepatch / generated", "prepatch", None),
    ("broken-zap-no-seq / ZAP_NO_SEQ", "broken-zap-no-seq", ZAP_NO_SEQ),
    ("broken-per-vcpu-irqwin / PER_VCPU_APIC", "broken-per-vcpu-irqwin", PER_VCPU_APIC),
    ("broken-per-vcpu-irqwin / generated", "broken-per-vcpu-irqwin", None),
]
# Rows where "two vCPUs wait for a window at once" is the interleaving that matters.
OVERLAP_ROWS = {"prepatch / SEAN", "prepatch / generated"}

# (label, max random sleep before each step in s, GIL switch interval or None)
SETTINGS: list[tuple[str, float, float | None]] = [
    ("no sleep", 0.0, None),
    ("no sleep, switch 1us", 0.0, 1e-6),
    ("sleep<=10us", 1e-5, None),
    ("sleep<=100us", 1e-4, None),
    ("sleep<=1ms", 1e-3, None),
]
PARAMS = GenParams()


@dataclass
class Trial:
    found: bool
    seconds: float
    runs: int
    first_preempted_run: int | None = None  # stress only: 1-based, None if never
    first_overlap_run: int | None = None  # 1-based, None if never (or not measured)
    runs_seen: list[tuple[Scenario, list[int]]] | None = None  # for the untimed overlap pass


def windows_overlap(impl: type[World], scenario: Scenario, schedule: list[int]) -> bool:
    """Two vCPUs wait for an IRQ window at once at some step: what prepatch's
    shared IRQWIN bit needs before one VINTR exit can clear it for both.
    Replays the schedule with a plain loop (untimed, outside the measurement)."""
    world = impl(scenario)
    gens = [g for _, g in world.threads()]
    for i, g in enumerate(gens):
        world.current = i
        next(g, None)
    vcpus = world.vm.vcpus
    for n, tid in enumerate(schedule):
        world.current, world.now = tid, n
        next(gens[tid], None)
        if sum(v.ghost_window for v in vcpus) >= 2:
            return True
    return False


def mark_overlap(impl: type[World], trial: Trial) -> Trial:
    for i, (sc, sched) in enumerate(trial.runs_seen or []):
        if windows_overlap(impl, sc, sched):
            trial.first_overlap_run = i + 1
            break
    trial.runs_seen = None
    return trial


def scenario_for(fixed: Scenario | None, trial: int, index: int) -> Scenario:
    if fixed is not None:
        return fixed
    p = PARAMS
    src = RandomSource(trial * 1_000_003 + index)
    return generate(
        src, vcpus=p.vcpus, ioctls=p.ioctls, ops=p.ops, nested=p.nested, vendor=p.vendor
    )


def difftest_trial(impl: type[World], fixed: Scenario | None, trial: int, cap: float) -> Trial:
    if fixed is None:
        d = find(impl, seed=trial, max_seconds=cap, params=PARAMS)
        t = Trial(d is not None, d.seconds if d else cap, d.executions if d else 0)
        # the same runs again, untimed, for the overlap pass
        seen = [run_seed(impl, trial, i, PARAMS) for i in range(t.runs)]
        t.runs_seen = [(r.scenario, r.execution.schedule) for r in seen]
        return t
    t0 = time.perf_counter()
    i = 0
    seen = []
    found = False
    while time.perf_counter() - t0 < cap:
        r = run(impl, fixed, RandomScheduler(trial * 1_000_003 + i))
        seen.append((fixed, r.execution.schedule))
        i += 1
        if r.first_bug is not None:
            found = True
            break
    return Trial(found, time.perf_counter() - t0 if found else cap, i, runs_seen=seen)


def stress_trial(
    impl: type[World], fixed: Scenario | None, trial: int, cap: float, max_sleep: float
) -> Trial:
    t0 = time.perf_counter()
    i = 0
    first_pre = None
    seen = []
    found = False
    while time.perf_counter() - t0 < cap:
        sc = scenario_for(fixed, trial, i)
        r = stress_run(impl, sc, max_sleep=max_sleep)
        seen.append((sc, r.schedule))
        i += 1
        if first_pre is None and r.preemptions:
            first_pre = i
        if r.first_bug is not None:
            found = True
            break
    secs = time.perf_counter() - t0 if found else cap
    return Trial(found, secs, i, first_pre, runs_seen=seen)


def summarise(trials: list[Trial], cap: float) -> tuple[float, str]:
    """Median seconds (misses count as infinite) and a printable cell."""
    secs = statistics.median(t.seconds if t.found else float("inf") for t in trials)
    runs = statistics.median(t.runs if t.found else float("inf") for t in trials)
    k = sum(t.found for t in trials)
    if secs == float("inf"):
        return secs, f">{cap:g} s ({k}/{len(trials)})"
    return secs, f"{secs * 1000:,.1f} ms / {runs:,.0f} runs ({k}/{len(trials)})"


def first_cell(firsts: list[int | None]) -> str:
    """Median 1-based run index over the trials where it happened."""
    hit = [f for f in firsts if f is not None]
    if not hit:
        return "never"
    return f"run {statistics.median(hit):g} ({len(hit)}/{len(firsts)})"


def with_switch(interval: float | None, fn: Callable[[], Trial]) -> Trial:
    """A shorter GIL switch interval is the cheap way to get preemption without sleeps."""
    old = sys.getswitchinterval()
    if interval is not None:
        sys.setswitchinterval(interval)
    try:
        return fn()
    finally:
        sys.setswitchinterval(old)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--cap", type=float, default=5.0, help="seconds per trial before giving up")
    args = ap.parse_args()
    print(
        f"time to first bug, median of {args.trials} trials, cap {args.cap:g} s per trial; "
        "cell = median time / runs (trials that found it)"
    )
    summary = []
    for label, name, fixed in TARGETS:
        impl = load(name)
        overlap = label in OVERLAP_ROWS
        dt = [difftest_trial(impl, fixed, t, args.cap) for t in range(args.trials)]
        d_secs, d_cell = summarise(dt, args.cap)
        print(f"\n{label}")
        extra = f"{'first preempted: -':32s}"
        if overlap:
            dt = [mark_overlap(impl, t) for t in dt]
            extra += f" two windows at once: {first_cell([t.first_overlap_run for t in dt])}"
        print(f"  {'difftest random':28s} {d_cell:42s} {extra}".rstrip())
        best = (float("inf"), "-")
        for s_label, sleep, switch in SETTINGS:
            st = [
                with_switch(switch, partial(stress_trial, impl, fixed, t, args.cap, sleep))
                for t in range(args.trials)
            ]
            s_secs, s_cell = summarise(st, args.cap)
            name_cell = f"stress {s_label}"
            pre = first_cell([t.first_preempted_run for t in st])
            extra = f"{'first preempted: ' + pre:32s}"
            if overlap:
                st = [mark_overlap(impl, t) for t in st]
                extra += f" two windows at once: {first_cell([t.first_overlap_run for t in st])}"
            print(f"  {name_cell:28s} {s_cell:42s} {extra}".rstrip())
            if s_secs < best[0]:
                best = (s_secs, s_label)
        summary.append((label, d_secs, best))
    print("\n| target | difftest | best stress (setting) | stress / difftest |")
    print("|---|---:|---:|---:|")
    for label, d_secs, (b_secs, b_label) in summary:
        ratio = f"{b_secs / d_secs:,.1f}x" if b_secs != float("inf") else "not found"
        b = f"{b_secs * 1000:,.1f} ms ({b_label})" if b_secs != float("inf") else f"- ({b_label})"
        print(f"| {label} | {d_secs * 1000:,.1f} ms | {b} | {ratio} |")


if __name__ == "__main__":
    main()
