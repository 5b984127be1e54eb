"""``check --jobs``: wall time with 1 and with N processes, same runs.

    python -m benchmarks.jobs [--impl final] [--runs R] [--jobs N] [--repeat K]

Runs ``random_check`` (the portfolio, as ``difftest check`` does) on R run
indices with 1 job and with N jobs, alternately, K times. Prints the median
wall times and their ratio, and, because a shared machine rarely has N idle
cores, two figures that do not depend on the load:

- CPU overhead: CPU seconds of the N-job run (parent and workers) over those
  of the 1-job run; on N idle cores the speed-up is at most N / overhead;
- core share: the N-job run's CPU seconds over (wall seconds x N), i.e. how
  much of N cores it actually got; a ratio below the ideal with a core share
  below 1 means the cores were busy elsewhere.

The load average before and after is printed as well.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

from difftest.check import PORTFOLIO, random_check
from difftest.impls import load


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped workers
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(impl: type, runs: int, jobs: int) -> tuple[float, float, int]:
    t0, c0 = time.perf_counter(), _cpu()
    s = random_check(impl, seed=0, runs=runs, searches=PORTFOLIO, jobs=jobs)
    return time.perf_counter() - t0, _cpu() - c0, s.steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", default="final")
    ap.add_argument("--runs", type=int, default=4000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    impl = load(args.impl)
    load_before = os.getloadavg()
    wall: dict[int, list[float]] = {1: [], args.jobs: []}
    cpu: dict[int, list[float]] = {1: [], args.jobs: []}
    steps: dict[int, set[int]] = {1: set(), args.jobs: set()}
    for _ in range(args.repeat):
        for j in (1, args.jobs):
            w, c, st = measure(impl, args.runs, j)
            wall[j].append(w)
            cpu[j].append(c)
            steps[j].add(st)
    load_after = os.getloadavg()
    n = args.jobs
    w1, wn = statistics.median(wall[1]), statistics.median(wall[n])
    c1, cn = statistics.median(cpu[1]), statistics.median(cpu[n])
    print(
        f"{args.impl}, portfolio, {args.runs} runs, median of {args.repeat} alternated; "
        f"{len(os.sched_getaffinity(0))} cores; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    print("| jobs | wall s | CPU s | steps |")
    print("|---:|---:|---:|---:|")
    for j in (1, n):
        print(
            f"| {j} | {statistics.median(wall[j]):.2f} | {statistics.median(cpu[j]):.2f} "
            f"| {'/'.join(map(str, sorted(steps[j])))} |"
        )
    print(f"speed-up (wall, 1 job / {n} jobs): {w1 / wn:.2f}x")
    print(
        f"CPU overhead of {n} jobs: {cn / c1:.3f}x, so at most {n * c1 / cn:.2f}x on {n} idle cores"
    )
    print(f"core share of the {n}-job run: {cn / (wn * n):.2f} of {n} cores")
    if steps[1] != steps[n]:
        print("warning: the runs differ in steps")


if __name__ == "__main__":
    main()
