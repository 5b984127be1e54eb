"""Time to detect each shipped broken variant: each search of ``difftest check``
alone and the portfolio that interleaves them (the default).

    python -m benchmarks.portfolio [--seeds S] [--budget SECONDS] [--impls a,b]

For every broken variant and every search (``check --search random|pct|pos``
and ``portfolio``), seeds 0..S-1 each run ``random_check(stop_on_bug=True)``
until the first bug or the budget. Prints, per cell, how many seeds found a
bug and the median CPU seconds and runs to the first one (a seed that missed
counts as the budget, so a median over misses reads "> budget"). CPU time of
this process, not wall time, so that other load on a shared machine does not
count; runs to detection do not depend on the machine at all.
"""

from __future__ import annotations

import argparse
import statistics
import time

from difftest.check import PORTFOLIO, GenParams, run_index
from difftest.impls import BROKEN, load

SEARCHES: dict[str, tuple[str, ...]] = {
    "random": ("random",),
    "pct": ("pct",),
    "pos": ("pos",),
    "portfolio": PORTFOLIO,
}


def detect(
    impl: type, searches: tuple[str, ...], seed: int, budget: float
) -> tuple[float, int] | None:
    """CPU seconds and runs to the first bug, or None within ``budget`` CPU seconds:
    ``random_check(stop_on_bug=True)`` with the clock read per run."""
    params = GenParams()
    c0 = time.process_time()
    i = 0
    while time.process_time() - c0 < budget:
        if run_index(impl, seed, i, params, searches).bugs:
            return time.process_time() - c0, i + 1
        i += 1
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=10.0, help="CPU seconds per seed")
    ap.add_argument("--impls", default=",".join(BROKEN))
    args = ap.parse_args()
    names = [n for n in args.impls.split(",") if n]
    print(
        f"median CPU seconds (runs) to the first bug over seeds 0..{args.seeds - 1}, "
        f"budget {args.budget:g} CPU s per seed; found/seeds in brackets"
    )
    print("| variant | " + " | ".join(SEARCHES) + " |")
    print("|---|" + "---:|" * len(SEARCHES))
    worst: dict[str, float] = {k: 0.0 for k in SEARCHES}
    for name in names:
        impl = load(name)
        cells = []
        for label, searches in SEARCHES.items():
            got = [detect(impl, searches, seed, args.budget) for seed in range(args.seeds)]
            secs = [g[0] if g else args.budget for g in got]
            runs = [g[1] for g in got if g]
            found = sum(1 for g in got if g)
            med = statistics.median(secs)
            worst[label] = max(worst[label], med)
            over = ">" if found <= args.seeds // 2 else ""
            r = f"{statistics.median(runs):.0f}" if runs else "-"
            cells.append(f"{over}{med:.2f} s ({r}) [{found}/{args.seeds}]")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print("| worst median | " + " | ".join(f"{worst[k]:.2f} s" for k in SEARCHES) + " |")


if __name__ == "__main__":
    main()
