"""Shrunk reproducer sizes across seeds, for every shipped broken version.

    python -m benchmarks.shrink_sizes [--seeds N] [--impls a,b] [--runs R]

For each implementation (every ``broken-*`` plus ``prepatch`` and ``seed``) and
each seed 0..N-1: ``difftest check``'s random search with that seed (default
shape: 3 vCPUs, 1 ioctl thread, 4 operations each) up to the first bug, then
``difftest.shrink.shrink``. One row per implementation, the per-seed sizes of
the found and the shrunk reproducer (operations, threads, preemptions) and the
CPU seconds shrinking took. Rows are printed as they finish.
"""

from __future__ import annotations

import argparse
import statistics
import time

from difftest.check import GenParams, random_check
from difftest.impls import BROKEN, load
from difftest.report.explain import preemptions
from difftest.shrink import shrink


def _size(impl: type, r) -> str:  # type: ignore[no-untyped-def]
    return f"{r.scenario.n_ops}/{len(r.scenario.thread_names)}/{preemptions(impl, r)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--impls", default=",".join([*BROKEN, "prepatch", "seed"]))
    ap.add_argument("--runs", type=int, default=5000, help="random runs to find a bug")
    a = ap.parse_args()
    print(
        "sizes are operations/threads/preemptions, one per seed "
        f"(seeds 0..{a.seeds - 1}); '-' = no bug within the runs\n"
    )
    print("| implementation | found | shrunk | shrunk ops (max) | median CPU s to shrink |")
    print("|---|---|---|---|---|")
    for name in a.impls.split(","):
        impl = load(name)
        found, shrunk, ops, secs = [], [], [], []
        for seed in range(a.seeds):
            s = random_check(impl, seed=seed, runs=a.runs, params=GenParams(), stop_on_bug=True)
            if s.first_bug is None:
                found.append("-")
                shrunk.append("-")
                continue
            t0 = time.process_time()
            small = shrink(impl, s.first_bug)
            secs.append(time.process_time() - t0)
            found.append(_size(impl, s.first_bug))
            shrunk.append(_size(impl, small))
            ops.append(small.scenario.n_ops)
        med = f"{statistics.median(secs):.1f}" if secs else "-"
        print(
            f"| {name} | {' '.join(found)} | {' '.join(shrunk)} | {max(ops, default=0)} | {med} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
