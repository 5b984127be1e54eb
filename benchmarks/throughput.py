"""Scenario executions and steps per second on the standard scenario
(3 vCPUs + 1 ioctl thread, 4 operations each): ``difftest check``'s seeded runs,
one core.

    python -m benchmarks.throughput [--runs N] [--repeat K]
    python -m benchmarks.throughput --against REV [--impl final] [--runs N] [--repeat K]
        [--irq-source legacy|default]

Without ``--against``: the median of K repeats per built-in version, in process,
and each one's ratio to the reference.

With ``--against REV``: builds a git worktree of REV in a temporary directory and
runs the same N runs of ``--impl`` from this tree and from REV's tree, each in a
fresh interpreter, alternating K times so that load on a shared machine hits both
alike. Prints both medians and the ratio (this tree / REV), by wall time and by
the process's CPU time (less disturbed by other load on a shared machine), and
checks that both trees executed the same number of steps. The scenarios use the
legacy interrupt source by default, which every revision draws identically, so
both trees run the very same executions; ``--irq-source default`` runs this
tree's default scenarios instead (a different workload from an older tree's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter on either tree: only APIs every revision has.
WORKER = """
import json, sys, time
import difftest
from difftest.check import GenParams, run_seed
from difftest.impls import load
impl, runs = load(sys.argv[1]), int(sys.argv[2])
params = GenParams(vcpus=3, ioctls=1, ops=4)
if sys.argv[3] != "default" and hasattr(params, "irq_source"):
    params.irq_source = sys.argv[3]
steps = 0
t0, c0 = time.perf_counter(), time.process_time()
for i in range(runs):
    steps += run_seed(impl, 0, i, params).execution.steps
dt, dc = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"file": difftest.__file__, "steps": steps, "seconds": dt, "cpu": dc}))
"""


def measure(name: str, runs: int) -> tuple[float, float]:
    from difftest.check import GenParams, run_seed
    from difftest.impls import load

    impl = load(name)
    params = GenParams(vcpus=3, ioctls=1, ops=4)
    steps = 0
    t0 = time.perf_counter()
    for i in range(runs):
        steps += run_seed(impl, 0, i, params).execution.steps
    dt = time.perf_counter() - t0
    return runs / dt, steps / dt


def in_process(runs: int, repeat: int) -> None:
    from difftest.impls import BUILTIN

    rows = {}
    for name in BUILTIN:
        samples = [measure(name, runs) for _ in range(repeat)]
        rows[name] = (
            statistics.median(s[0] for s in samples),
            statistics.median(s[1] for s in samples),
        )
    ref = rows["reference"][0]
    print(f"standard scenario, {runs} runs x {repeat} repeats (medians)")
    print(f"{'implementation':26s} {'executions/s':>12s} {'steps/s':>10s} {'vs reference':>13s}")
    for name, (eps, sps) in rows.items():
        print(f"{name:26s} {eps:12,.0f} {sps:10,.0f} {eps / ref:12.2f}x")


def _worker(tree: Path, impl: str, runs: int, source: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    out = subprocess.run(
        [sys.executable, "-c", WORKER, impl, str(runs), source],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    d = json.loads(out.strip().splitlines()[-1])
    if not Path(d["file"]).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"worker imported {d['file']}, not the tree {tree}")
    return d


def against(rev: str, impl: str, runs: int, repeat: int, source: str) -> None:
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="difftest-bench-") as tmp:
        other = Path(tmp, "tree")
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(other), sha], cwd=ROOT, check=True
        )
        try:
            trees = {"this tree": ROOT, f"rev {sha}": other}
            rates: dict[str, list[float]] = {k: [] for k in trees}
            cpu: dict[str, list[float]] = {k: [] for k in trees}
            steps: dict[str, set[float]] = {k: set() for k in trees}
            for _ in range(repeat):
                for label, tree in trees.items():
                    d = _worker(tree, impl, runs, source)
                    rates[label].append(d["steps"] / d["seconds"])
                    cpu[label].append(d["steps"] / d["cpu"])
                    steps[label].add(d["steps"])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT)
    print(
        f"{impl}, standard scenario, interrupt source {source}, {runs} runs per sample, "
        f"{repeat} alternated samples each"
    )
    print("| tree | steps | median steps/s (wall) | min | max | median steps/s (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r in rates.items():
        print(
            f"| {label} | {'/'.join(f'{s:,.0f}' for s in sorted(steps[label]))} "
            f"| {statistics.median(r):,.0f} | {min(r):,.0f} | {max(r):,.0f} "
            f"| {statistics.median(cpu[label]):,.0f} |"
        )
    a, b = (statistics.median(r) for r in rates.values())
    ca, cb = (statistics.median(r) for r in cpu.values())
    print(f"ratio (this tree / rev {sha}): {a / b:.2f}x wall, {ca / cb:.2f}x CPU time")
    if steps["this tree"] != steps[f"rev {sha}"]:
        print("warning: the two trees executed different numbers of steps")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--against", metavar="REV", help="git revision to compare with")
    ap.add_argument("--impl", default="final", help="with --against: the version to run")
    ap.add_argument(
        "--irq-source",
        default="legacy",
        help="with --against: the scenarios' interrupt source; 'legacy' (the default) "
        "draws the scenarios every revision draws, so both trees run identical "
        "executions (the step counts must match); 'default' uses this tree's default",
    )
    args = ap.parse_args()
    if args.against:
        against(args.against, args.impl, args.runs, args.repeat, args.irq_source)
    else:
        in_process(args.runs, args.repeat)


if __name__ == "__main__":
    main()
