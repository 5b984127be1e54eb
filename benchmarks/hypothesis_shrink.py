"""Hypothesis front-end figures: what the ci profile finds, how small the
reproducers shrink, and how many examples the sequential state machine needs
against the concurrent search.

    python -m benchmarks.hypothesis_shrink [--impls a,b,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hseed
from hypothesis.stateful import run_state_machine_as_test

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_hypothesis import CI, HOW  # noqa: E402

from difftest.impls import BROKEN, load  # noqa: E402
from difftest.property import minimal_failure  # noqa: E402
from difftest.report.explain import preemptions  # noqa: E402
from difftest.shrink import shrink  # noqa: E402
from difftest.stateful import machine  # noqa: E402


def concurrent(names: list[str]) -> None:
    print("ci profile (1500 examples, seed 0), then difftest.shrink")
    print(
        f"{'implementation':28s} {'kind':17s} {'1st@':>5s} {'thr':>3s} {'ops':>3s} "
        f"{'pre':>3s} {'steps':>5s} {'seconds':>7s}"
    )
    for name in names:
        impl = load(name)
        t = time.perf_counter()
        # no example database: replayed failures would count as found at once
        s = minimal_failure(impl, config=settings(CI, database=None), **HOW.get(name, {}))
        if s.result is None:
            print(f"{name:28s} {'-':17s} {'-':>5s}   (not found, {time.perf_counter() - t:.1f} s)")
            continue
        r = shrink(impl, s.result)
        dt = time.perf_counter() - t
        assert r.first_bug is not None
        print(
            f"{name:28s} {r.first_bug.kind.value:17s} {s.examples_to_first:5d} "
            f"{len(r.scenario.thread_names):3d} {r.scenario.n_ops:3d} {preemptions(impl, r):3d} "
            f"{r.execution.steps:5d} {dt:7.1f}"
        )


class _Counted:
    def __init__(self) -> None:
        self.n = 0


def sequential_vs_concurrent(names: list[str], seeds: int) -> None:
    print("\nexamples to the first failure, median over seeds: state machine vs concurrent")
    gen = settings(
        max_examples=3000,
        deadline=None,
        database=None,
        stateful_step_count=6,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    for name in names:
        impl = load(name)
        seq, conc = [], []
        for seed in range(seeds):
            m = machine(impl)
            c = _Counted()
            init = m.__init__

            def counting(self, *a, _c=c, _i=init, **k):  # type: ignore[no-untyped-def]
                _c.n += 1
                _i(self, *a, **k)

            m.__init__ = counting  # type: ignore[method-assign]
            try:
                run_state_machine_as_test(hseed(seed)(m), settings=gen)
                seq.append(float("inf"))
            except BaseException:  # noqa: BLE001 - any failure counts
                seq.append(c.n)
            s = minimal_failure(impl, config=settings(gen, max_examples=3000), seed=seed)
            conc.append(s.examples_to_first or float("inf"))
        ms, mc = statistics.median(seq), statistics.median(conc)
        print(f"  {name:28s} sequential {ms:7.1f}   concurrent {mc:7.1f}   ratio {mc / ms:5.1f}x")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--impls", default=",".join(("prepatch", "seed", *BROKEN)))
    p.add_argument("--seeds", type=int, default=5)
    a = p.parse_args()
    names = a.impls.split(",")
    concurrent(names)
    sequential_vs_concurrent(
        [
            n
            for n in names
            if n
            in (
                "prepatch",
                "seed",
                "broken-double-inc",
                "broken-dec-underflow",
                "broken-irqwin-from-set",
                "broken-vm-wide-activation",
            )
        ],
        a.seeds,
    )


if __name__ == "__main__":
    main()
