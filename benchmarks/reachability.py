"""Print every line and branch of difftest/impls/ that the standard searches never
execute, per version (coverage.py, branch mode), and which gaps of the versions'
own modules are explained (difftest.reachability.EXPECTED).

    python benchmarks/reachability.py [--runs N] [--impls prepatch,seed,final]
"""

from __future__ import annotations

import argparse
import time

from difftest.reachability import EXPECTED, measure, own_gaps, unexpected


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=400, help="random runs per configuration")
    p.add_argument("--impls", default="prepatch,seed,final,reference")
    a = p.parse_args()
    bad = 0
    for name in a.impls.split(","):
        start = time.monotonic()
        gaps = measure(name, runs=a.runs)
        print(f"== {name} ({time.monotonic() - start:.1f} s, {a.runs} runs per configuration)")
        for g in gaps:
            print(f"  {g}")
        if name in ("prepatch", "seed", "final"):
            left = unexpected(own_gaps(name, gaps))
            bad += len(left)
            print(f"  own module: {len(left)} unexplained gap(s) {left}")
    print(f"explained gaps: {len(EXPECTED)}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
