"""``difftest check`` speed on the standard scenario (3 vCPUs + 1 ioctl thread, 4
operations each) of this tree against a baseline tree, measured in one run.

    python benchmarks/check_speed.py --baseline DIR [--impl final] [--runs N] [--repeat K]

DIR is another checkout of difftest (e.g. ``git archive OLD | tar -x -C DIR``).
Each repeat runs the baseline and this tree alternately, in fresh processes, so
both see the same machine load; prints the median runs/s and steps/s of each and
their ratio. This tree is measured with its default interrupt sources and, if it
has them, with ``--irq-source legacy`` (the baseline's workload).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
LINE = re.compile(r": (\d+) runs, (\d+)\s+steps")


def once(tree: Path, impl: str, runs: int, extra: list[str]) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "difftest", "check", "--impl", impl]
    cmd += ["--runs", str(runs), "--no-shrink", "--out", "/tmp/difftest-check-speed", *extra]
    t0 = time.perf_counter()
    # cwd=tree: ``python -m`` puts the working directory first on sys.path.
    out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, check=False).stdout
    dt = time.perf_counter() - t0
    m = LINE.search(out)
    if m is None:
        raise SystemExit(f"no summary line from {tree}: {out[:200]!r}")
    return int(m[1]) / dt, int(m[2]) / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--impl", default="final")
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    configs = {
        "baseline": (a.baseline, []),
        "this tree, legacy source": (HERE, ["--irq-source", "legacy"]),
        "this tree, default": (HERE, []),
    }
    got: dict[str, list[tuple[float, float]]] = {k: [] for k in configs}
    for _ in range(a.repeat):
        for name, (tree, extra) in configs.items():
            got[name].append(once(tree, a.impl, a.runs, extra))
    base = statistics.median(r for r, _ in got["baseline"])
    print(f"{'configuration':28s} {'runs/s':>9s} {'steps/s':>10s} {'runs/s vs baseline':>19s}")
    for name, xs in got.items():
        runs = statistics.median(r for r, _ in xs)
        steps = statistics.median(s for _, s in xs)
        print(f"{name:28s} {runs:9,.0f} {steps:10,.0f} {runs / base:18.2f}x")


if __name__ == "__main__":
    main()
