"""Scenario executions per second and steps per second, standard scenario
(3 vCPUs + 1 ioctl thread, 4 operations each), one core.

    python benchmarks/throughput.py [--runs N] [--repeat K]

Prints the median of K repeats per implementation, and each implementation's
ratio to the reference measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from difftest.check import GenParams, run_seed
from difftest.impls import BUILTIN, load


def measure(name: str, runs: int) -> tuple[float, float]:
    impl = load(name)
    params = GenParams(vcpus=3, ioctls=1, ops=4)
    steps = 0
    t0 = time.perf_counter()
    for i in range(runs):
        steps += run_seed(impl, 0, i, params).execution.steps
    dt = time.perf_counter() - t0
    return runs / dt, steps / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows = {}
    for name in BUILTIN:
        samples = [measure(name, args.runs) for _ in range(args.repeat)]
        rows[name] = (
            statistics.median(s[0] for s in samples),
            statistics.median(s[1] for s in samples),
        )
    ref = rows["reference"][0]
    print(f"standard scenario, {args.runs} runs x {args.repeat} repeats (medians)")
    print(f"{'implementation':26s} {'executions/s':>12s} {'steps/s':>10s} {'vs reference':>13s}")
    for name, (eps, sps) in rows.items():
        print(f"{name:26s} {eps:12,.0f} {sps:10,.0f} {eps / ref:12.2f}x")


if __name__ == "__main__":
    main()
