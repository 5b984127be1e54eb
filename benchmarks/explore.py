"""DPOR counts per configuration, and PCT vs random detection rates.
# ruff: noqa: E501

    python benchmarks/explore.py [--seeds N]

For each configuration: executions, complete executions, equivalence classes,
executions per class (1.0 is the limit) and seconds, next to naive enumeration
where it is small enough. Then the share of seeds whose single schedule shows a
bug, for uniform random choice and PCT (depth 2..4, k from a non-preemptive run).
"""

from __future__ import annotations

import argparse
import time

from difftest.explore import explore
from difftest.impls import load
from difftest.model.scenario import Scenario, VcpuSpec
from difftest.runner import run
from difftest.schedulers import RandomScheduler
from difftest.schedulers.pct import PCTScheduler
from difftest.schedulers.pos import POSScheduler
from difftest.search.pct import estimate_k


def V(*p: str) -> VcpuSpec:  # noqa: N802
    return VcpuSpec(program=p)


SEAN = Scenario(vcpus=(V("sti"), V("run", "sti")), extint=(0, 1))
ZAP = Scenario(vcpus=(V("apic", "apic"), V("apic", "apic")), ioctls=(("set PIT_REINJ",),))
CONFIGS = [
    (
        "final",
        "1 vCPU idle + set PIT_REINJ",
        Scenario(vcpus=(V(),), ioctls=(("set PIT_REINJ",),)),
        True,
    ),
    (
        "final",
        "1 vCPU apic + set PIT_REINJ",
        Scenario(vcpus=(V("apic"),), ioctls=(("set PIT_REINJ",),)),
        False,
    ),
    (
        "final",
        "2 vCPUs apic, ExtINT both",
        Scenario(vcpus=(V("apic"), V("apic")), extint=(0, 1)),
        False,
    ),
    ("prepatch", "SEAN (first bug, P<=2)", SEAN, False),
    ("broken-zap-no-seq", "ZAP_NO_SEQ (first bug, P<=2)", ZAP, False),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=1000)
    args = ap.parse_args()
    print(
        f"{'impl':18s} {'configuration':30s} {'execs':>7s} {'complete':>8s} {'classes':>7s} "
        f"{'exec/class':>10s} {'s':>6s}  naive complete"
    )
    for impl, name, s, naive in CONFIGS:
        o = explore(load(impl), s, preemptions=2 if "bug" in name else None)
        st = o.stats
        nv = ""
        if naive:
            n = explore(load(impl), s, reduce=False, stop_on_bug=False)
            nv = f"{n.stats.complete} ({n.stats.complete / st.complete:.0f}x)"
        tag = " bug" if o.counterexample else ""
        print(
            f"{impl:18s} {name:30s} {st.executions:7d} {st.complete:8d} {st.classes:7d} "
            f"{st.per_class:10.2f} {st.seconds:6.2f}  {nv}{tag}"
        )
    print(f"\ndetection rate over {args.seeds} seeds (one schedule each)")
    for impl, name, s in (("broken-zap-no-seq", "ZAP_NO_SEQ", ZAP), ("prepatch", "SEAN", SEAN)):
        cls = load(impl)
        n, k = len(s.thread_names), estimate_k(cls, s)
        row = {"random": RandomScheduler, "pos": POSScheduler}
        for d in (2, 3, 4):
            row[f"pct d={d}"] = lambda seed, d=d, n=n, k=k: PCTScheduler(n, k, d, seed)
        t0 = time.monotonic()
        rates = {
            key: sum(run(cls, s, mk(i)).first_bug is not None for i in range(args.seeds))
            / args.seeds
            for key, mk in row.items()
        }
        base = rates["random"]
        cells = "  ".join(
            f"{key} {r:.1%} ({r / base:.2f}x)" if base else f"{key} {r:.1%}"
            for key, r in rates.items()
        )
        print(f"{impl} on {name} (k={k}): {cells}  [{time.monotonic() - t0:.0f} s]")


if __name__ == "__main__":
    main()
