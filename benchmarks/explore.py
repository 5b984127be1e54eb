"""DPOR and stateful-search counts per configuration, and PCT vs random detection rates.
# ruff: noqa: E501

    python benchmarks/explore.py [--seeds N] [--stateful-only]

For each configuration, with Flanagan and Godefroid's DPOR ("FG", ``dpor``) and
optimal DPOR (``odpor``, what ``explore --dpor`` runs): executions, complete
executions, sleep-set-blocked ones, equivalence classes, executions per class
(1.0 is the limit), the same counting blocked executions (the wasted work
optimal DPOR removes) and CPU seconds, next to naive enumeration where it is
small enough. Then the stateful search (``explore``'s default) on the same
configurations and on Sean's: states, executions, CPU seconds, plain and with
sleep sets. Then the share of seeds whose single schedule shows a bug, for
uniform random choice and PCT (depth 2..4, k from a non-preemptive run).
"""

from __future__ import annotations

import argparse
import time

from difftest.explore import explore
from difftest.explore.stateful import StatefulExplorer, explore_stateful
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
    ap.add_argument("--stateful-only", action="store_true")
    args = ap.parse_args()
    if not args.stateful_only:
        dpor_rows()
    stateful_rows()
    if not args.stateful_only:
        detection(args.seeds)


def stateful_rows() -> None:
    print(
        "\nstateful search, CPU seconds ('deepened': explore's default, by rounds of preemptions)"
    )
    print(
        f"{'impl':18s} {'configuration':30s} {'states':>7s} {'execs':>7s} {'cpu s':>6s} "
        f"{'sleep-set execs':>15s} {'cpu s':>6s} {'deepened execs':>14s} {'cpu s':>6s}  verdict"
    )
    configs = [c for c in CONFIGS if "bug" not in c[1]]
    configs += [
        ("final", "SEAN (proof)", SEAN, False),
        ("prepatch", "SEAN (first bug)", SEAN, False),
    ]
    for impl, name, s, _ in configs:
        cls = load(impl)
        cells = []
        for reduce in (False, True):
            t0 = time.process_time()
            o = StatefulExplorer(cls, s, reduce=reduce).explore()
            cells.append((o, time.process_time() - t0))
        t0 = time.process_time()
        d = explore_stateful(cls, s)
        dt = time.process_time() - t0
        (p, ps), (r, rs) = cells
        verdict = (
            f"bug, {d.preemptions} preemption(s)"
            if d.counterexample
            else "proof"
            if d.exhaustive
            else "?"
        )
        print(
            f"{impl:18s} {name:30s} {p.stats.states:7d} {p.stats.executions:7d} {ps:6.2f} "
            f"{r.stats.executions:15d} {rs:6.2f} {d.stats.executions:14d} {dt:6.2f}  {verdict}"
        )


def dpor_rows() -> None:
    print(
        f"{'impl':18s} {'configuration':30s} {'DPOR':8s} {'execs':>6s} {'complete':>8s} "
        f"{'blocked':>7s} {'classes':>7s} {'exec/class':>10s} {'+blocked':>8s} {'cpu s':>6s}"
        "  naive complete"
    )
    for impl, name, s, naive in CONFIGS:
        for optimal in (False, True):
            t0 = time.process_time()
            o = explore(load(impl), s, preemptions=2 if "bug" in name else None, optimal=optimal)
            dt = time.process_time() - t0
            st = o.stats
            nv = ""
            if naive and optimal:
                n = explore(load(impl), s, reduce=False, stop_on_bug=False)
                nv = f"{n.stats.complete} ({n.stats.complete / st.complete:.0f}x)"
            tag = f" bug, {o.preemptions} preemption(s)" if o.counterexample else ""
            blocked = (st.complete + st.sleep_blocked) / st.classes if st.classes else 0.0
            kind = "optimal" if optimal else "FG"
            print(
                f"{impl:18s} {name:30s} {kind:8s} {st.executions:6d} {st.complete:8d} "
                f"{st.sleep_blocked:7d} {st.classes:7d} {st.per_class:10.2f} {blocked:8.2f} "
                f"{dt:6.2f}  {nv}{tag}"
            )


def detection(seeds: int) -> None:
    print(f"\ndetection rate over {seeds} seeds (one schedule each)")
    for impl, name, s in (("broken-zap-no-seq", "ZAP_NO_SEQ", ZAP), ("prepatch", "SEAN", SEAN)):
        cls = load(impl)
        n, k = len(s.thread_names), estimate_k(cls, s)
        row = {"random": RandomScheduler, "pos": POSScheduler}
        for d in (2, 3, 4):
            row[f"pct d={d}"] = lambda seed, d=d, n=n, k=k: PCTScheduler(n, k, d, seed)
        t0 = time.monotonic()
        rates = {
            key: sum(run(cls, s, mk(i)).first_bug is not None for i in range(seeds)) / seeds
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
