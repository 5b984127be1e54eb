"""``difftest explore``: every schedule of every scenario within a bound.

By default a stateful search (``difftest.explore.stateful``) by rounds of
preemptions (every step that preempts waits for the round of its preemption
count): a shallow bug is found about as fast as a bounded search finds it, and
a clean finish is a proof over every schedule.
With ``--preemptions P`` it stops at P: a clean finish is a proof within the
bound. ``--dpor`` runs stateless optimal DPOR instead (``difftest.explore.odpor``;
bounded DPOR is not complete within its bound, so a clean bounded run is not a
proof); ``--naive`` enumerates every schedule. ``--pct RUNS`` samples PCT schedules and prints the
paper's probability bound.

Exit status: 0 clean (a proof, or as far as the method stated goes), 1 a bug,
2 bad input, 4 incomplete (time or executions ran out; the last line says how
far the search got).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from difftest.errors import EXIT_CLEAN, EXIT_FINDING, EXIT_INCOMPLETE
from difftest.explore.dpor import Outcome, Stats, explore
from difftest.explore.scenarios import Bound, scenarios
from difftest.explore.stateful import explore_stateful
from difftest.frontends import output
from difftest.frontends.cli import (
    _report,
    _write_repro,
    add_coverage_args,
    change_coverage,
    emit,
    finish_coverage,
    reproducer_entry,
)
from difftest.frontends.validate import parse_shard
from difftest.impls import load
from difftest.model.scenario import IRQ_SOURCES, Scenario, ScenarioError
from difftest.oracle.findings import SEVERITY, Kind
from difftest.plugin.change_coverage import EXIT_UNCOVERED, ChangeCoverage
from difftest.runner import Result, run
from difftest.schedulers.pct import PCTScheduler, pct_bound, pct_bound_runs
from difftest.search.pct import estimate_k
from difftest.shrink import find_schedule


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    e = sub.add_parser("explore", help="all schedules of bounded scenarios (DPOR) or PCT")
    e.add_argument("--impl", required=True, help="built-in name or FILE.py:NAME")
    e.add_argument("--vcpus", type=int, default=2)
    e.add_argument("--ops", type=int, default=1, help="operations per vCPU")
    e.add_argument("--ioctls", type=int, default=0, help="ioctl threads")
    e.add_argument("--ioctl-len", type=int, default=1, help="operations per ioctl thread")
    e.add_argument(
        "--vcpu-ops",
        default="sti,apic,run,vmrun,vmexit",
        help="comma-separated vCPU alphabet (also cli, sti_vmrun; clgi, stgi, tpr_high, "
        "tpr_low, x2apic, reset need a wider --irq-source)",
    )
    e.add_argument(
        "--ioctl-ops",
        # A clear is what exposes a stale or missing IRQWIN; PIT_REINJ set alone would
        # make a stale IRQWIN legal for the rest of the run.
        default="extint,set HYPERV,clear HYPERV",
        help='comma-separated, e.g. "set PIT_REINJ,extint,lapic,pic mask,init,sipi" (extint, '
        "lapic, init and sipi expand to one operation per vCPU; pic ops need --irq-source pic)",
    )
    e.add_argument("--no-vgif", action="store_true", help="kvm_amd.vgif=0 (wider sources)")
    e.add_argument(
        "--fail-on-perf",
        action="store_true",
        help="exit 1 on a perf finding too (a write lock the lazy IRQ-window path avoids)",
    )
    e.add_argument("--no-apicv", action="store_true", help="enable_apicv=0")
    e.add_argument(
        "--irq-source",
        choices=IRQ_SOURCES,
        default="legacy",
        help="where ExtINTs come from (scenario field irq_source)",
    )
    e.add_argument(
        "--no-intercept-intr",
        action="store_true",
        help="L1 does not intercept INTR: KVM injects L1's interrupts into L2",
    )
    e.add_argument(
        "--extint",
        choices=("all", "none", "any"),
        default="all",
        help="vCPUs with an ExtINT pending at start (any: every subset)",
    )
    e.add_argument("--initial", default="", help="comma-separated initial inhibit reasons")
    e.add_argument("--vendor", choices=("svm", "vmx"), default="svm")
    e.add_argument("--preemptions", type=int, default=None, help="bound (tries 0..P in turn)")
    m = e.add_mutually_exclusive_group()
    m.add_argument(
        "--dpor",
        action="store_true",
        help="stateless optimal DPOR (wakeup trees) instead of the stateful search "
        "(bounded: not a proof)",
    )
    m.add_argument(
        "--naive",
        action="store_true",
        help="enumerate every schedule, no reduction and no state caching",
    )
    e.add_argument(
        "--no-deepen",
        action="store_true",
        help="without --preemptions: search every schedule depth-first, not by rounds "
        "of preemptions (a proof a little sooner, a shallow bug later)",
    )
    e.add_argument("--time", type=float, default=None, metavar="SECONDS", help="give up after")
    e.add_argument(
        "--max-executions",
        type=int,
        default=None,
        metavar="N",
        help="give up after N executions in all",
    )
    e.add_argument("--pct", type=int, default=None, metavar="RUNS", help="PCT runs per scenario")
    e.add_argument("--depth", type=int, default=3, help="PCT bug depth d")
    e.add_argument("--seed", type=int, default=0, help="PCT seed")
    e.add_argument("--out", type=Path, default=Path("difftest-out"), help="reproducer directory")
    e.add_argument(
        "--shard", default=None, metavar="K/N", help="only scenarios K-1, K-1+N, ... (from 1)"
    )
    e.add_argument("--width", type=int, default=80)
    add_coverage_args(e)
    output.add_json_flag(e)
    e.set_defaults(run=_explore)


def _bound(a: argparse.Namespace) -> Bound:
    if a.preemptions is not None and a.preemptions < 0:
        raise ScenarioError("--preemptions must not be negative")
    if a.max_executions is not None and a.max_executions < 1:
        raise ScenarioError("--max-executions must be at least 1")
    if a.pct is not None and (a.pct < 1 or a.depth < 1):
        raise ScenarioError("--pct and --depth must be at least 1")
    split = lambda s: tuple(x.strip() for x in s.split(",") if x.strip())  # noqa: E731
    if not split(a.vcpu_ops):
        raise ScenarioError("--vcpu-ops names no operation: the bound has no scenario")
    if a.ioctls and not split(a.ioctl_ops):
        raise ScenarioError("--ioctl-ops names no operation, but --ioctls asks for ioctl threads")
    return Bound(
        vcpus=a.vcpus,
        ops=a.ops,
        ioctls=a.ioctls,
        ioctl_len=a.ioctl_len,
        vcpu_ops=split(a.vcpu_ops),
        ioctl_ops=split(a.ioctl_ops),
        extint=a.extint,
        initial=split(a.initial),
        vendor=a.vendor,
        irq_source=a.irq_source,
        intercept_intr=not a.no_intercept_intr,
        vgif=not a.no_vgif,
        enable_apicv=not a.no_apicv,
    )


def _explore(a: argparse.Namespace) -> int:
    bound = _bound(a)
    impl = load(a.impl)
    shard = parse_shard(a.shard)
    cov = change_coverage(impl, a)  # validates the coverage flags before any work
    mode = "pct" if a.pct is not None else "naive" if a.naive else "dpor" if a.dpor else "stateful"
    a.doc.update(impl=a.impl, reproducers=[])
    a.doc["explore"] = {
        "mode": mode,
        "result": "incomplete",
        "preemption_bound": a.preemptions,
        "counterexample_preemptions": None,
        "scenarios_done": 0,
        "scenarios_total": 0,  # so far, if time runs out while enumerating
        "shard": list(shard),
    }
    deadline = time.monotonic() + a.time if a.time is not None else None
    todo: list[Scenario] = []
    for i, s in enumerate(scenarios(bound)):  # validates the bound before any work
        if i % shard[1] != shard[0] - 1:  # --shard K/N: every N-th scenario from the K-th
            continue
        todo.append(s)
        a.doc["explore"]["scenarios_total"] = len(todo)
        if deadline is not None and time.monotonic() > deadline:
            emit(
                f"incomplete: time ran out while enumerating scenarios ({len(todo)} so far); "
                "0 explored, no proof",
                a.width,
            )
            return EXIT_INCOMPLETE
    if a.pct is not None:
        return _pct(a, impl, todo, deadline, cov)
    total = Stats()
    done = 0
    left = a.max_executions
    o: Outcome | None = None
    start = time.monotonic()
    soft: set[str] = set()  # latency and perf findings seen: no proof with those
    perf_at: dict[str, Scenario] = {}  # each perf kind's first scenario
    for s in todo:
        with cov if cov is not None else contextlib.nullcontext():
            o = _search(a, impl, s, deadline, left)
        total.add(o.stats)
        soft |= {k for k in o.kinds if SEVERITY[Kind(k)] != "bug"}
        for k in sorted(o.kinds):
            if SEVERITY[Kind(k)] == "perf":
                perf_at.setdefault(k, s)
        if left is not None:
            left -= o.stats.executions
        if o.counterexample is not None:
            _print_counts(a, total, done + 1, len(todo))
            emit(f"counterexample with {o.preemptions} preemption(s)", a.width)
            a.doc["explore"]["counterexample_preemptions"] = o.preemptions
            return _found(a, impl, o.counterexample)
        if o.stats.timed_out:
            break
        done += 1
    _print_counts(a, total, done, len(todo))

    def base_side(base: type) -> None:
        # The same search of the same scenarios on the base, with the conditions
        # the plugin replaces watched; given no longer than the plugin's took.
        stop = time.monotonic() + (time.monotonic() - start)
        for s in todo[: done + 1]:
            if _search(a, base, s, stop, a.max_executions).stats.timed_out:
                break

    but = finish_coverage(cov, base_side, a.doc)
    uncovered = EXIT_UNCOVERED if but and a.require_coverage else EXIT_CLEAN
    if done < len(todo):
        assert o is not None
        why = "time" if deadline is not None and time.monotonic() > deadline else "executions"
        deepest = o.stats.deepest
        a.doc["explore"]["deepest_bound"] = deepest
        at = "no bound" if deepest is None else f"preemption bound {deepest}"
        emit(
            f"incomplete: {why} ran out after {done} of {len(todo)} scenarios; scenario "
            f"{done + 1} finished {at}, {total.executions} executions; no proof{but}",
            a.width,
        )
        return EXIT_INCOMPLETE
    if soft:
        # A perf or latency finding is a finding: the run is no proof.
        a.doc["explore"]["result"] = "findings-not-bugs"
        a.doc["findings"] = output.findings(dict.fromkeys(soft, 1))  # scenarios not counted
        emit(
            f"no bug in the {done} scenarios, but findings that are not bugs: "
            + ", ".join(f"{k} ({SEVERITY[Kind(k)]})" for k in sorted(soft))
            + f"; no proof{but}",
            a.width,
        )
        if a.fail_on_perf and perf_at:
            return _perf_found(a, impl, *min(perf_at.items()))
        return uncovered
    result = (
        "proof"
        if a.preemptions is None or not total.bound_hit
        else "bounded"
        if a.dpor
        else "proof-within-bound"
    )
    a.doc["explore"]["result"] = result
    if result == "proof":
        emit(f"proof: no bug in any schedule of the {done} scenarios{but}", a.width)
    elif result == "proof-within-bound":
        emit(
            f"proof within the bound: no bug in any schedule with at most {a.preemptions} "
            f"preemption(s) of the {done} scenarios{but}",
            a.width,
        )
    else:
        emit(
            f"bounded: no bug in any schedule DPOR reached with at most {a.preemptions} "
            f"preemption(s) (bounded DPOR is not complete within the bound){but}",
            a.width,
        )
    return uncovered


def _search(
    a: argparse.Namespace,
    impl: type,
    s: Scenario,
    deadline: float | None,
    left: int | None,
) -> Outcome:
    """One scenario with the method the command line chose."""
    if a.dpor or a.naive:
        return explore(
            impl,
            s,
            preemptions=a.preemptions,
            deadline=deadline,
            reduce=not a.naive,
            max_executions=left,
            optimal=True,
        )
    return explore_stateful(
        impl,
        s,
        preemptions=a.preemptions,
        deepen=() if a.no_deepen else (0, 1, 2),
        deadline=deadline,
        max_executions=left,
    )


def _print_counts(a: argparse.Namespace, t: Stats, done: int, total: int) -> None:
    a.doc["explore"].update(
        scenarios_done=done,
        executions=t.executions,
        complete=t.complete,
        classes=t.classes,
        states=t.states,
        seconds=round(t.seconds, 3),
    )
    head = f"difftest explore --impl {a.impl}: {done}/{total} scenarios, {t.executions} executions"
    if a.dpor or a.naive:
        emit(
            f"{head} ({t.complete} complete, {t.sleep_blocked} sleep-set "
            f"blocked, {t.pruned} over the bound), {t.classes} equivalence classes, "
            f"{t.per_class:.2f} executions/class, {t.states} states, {t.seconds:.1f} s",
            a.width,
        )
    else:
        emit(
            f"{head} ({t.complete} complete, {t.revisits} cut at a state seen before, "
            f"{t.sleep_blocked} sleep-set blocked), {t.states} states, {t.seconds:.1f} s",
            a.width,
        )


def _found(a: argparse.Namespace, impl: type, r: Result) -> int:
    path = _write_repro(a.out, a.impl, r)
    a.doc["explore"]["result"] = "counterexample"
    f = r.first_failure(perf=True) or r.findings[0]
    a.doc["findings"] = output.findings({f.kind.value: 1})
    a.doc["reproducers"].append(reproducer_entry(impl, r, path))
    print()
    print(_report(impl, r, a.width, path))
    emit(f"\nreproducer: {path}", a.width)
    return EXIT_FINDING


def _perf_found(a: argparse.Namespace, impl: type, kind: str, s: Scenario) -> int:
    """--fail-on-perf: a schedule of the scenario that shows the perf finding, as
    a reproducer. The explorer keeps no schedule of a finding that is not a bug, so
    one is searched for again (random schedules, then Hypothesis on the scenario)."""
    r = find_schedule(impl, s, Kind(kind), tries=500)
    if r is None:
        emit(f"{kind}: no schedule of its scenario found again; no reproducer", a.width)
        return EXIT_FINDING
    emit(f"{kind} (perf) with --fail-on-perf: its reproducer", a.width)
    return _found(a, impl, r)


def _pct(
    a: argparse.Namespace,
    impl: type,
    todo: list[Scenario],
    deadline: float | None,
    cov: ChangeCoverage | None,
) -> int:
    runs = 0
    worst = 1.0
    for i, s in enumerate(todo):
        if deadline is not None and time.monotonic() > deadline:
            but = finish_coverage(cov, _pct_runs(a, todo[:i]), a.doc)
            emit(f"incomplete: time ran out after {i} of {len(todo)} scenarios{but}", a.width)
            a.doc["explore"].update(scenarios_done=i, pct_runs=runs)
            return EXIT_INCOMPLETE
        n, k = len(s.thread_names), estimate_k(impl, s)
        sched = PCTScheduler(n, k, a.depth, a.seed * 1_000_003 + i)
        for _ in range(a.pct):
            with cov if cov is not None else contextlib.nullcontext():
                r = run(impl, s, sched)
            runs += 1
            if r.first_bug is not None:
                emit(
                    f"difftest explore --pct: bug after {runs} PCT runs (depth {a.depth})", a.width
                )
                return _found(a, impl, r)
        worst = min(worst, pct_bound_runs(n, k, a.depth, a.pct))
        if i == 0:
            emit(
                f"scenario 1: n={n} threads, k={k} steps: p >= {pct_bound(n, k, a.depth):.3g} "
                f"per run, {pct_bound_runs(n, k, a.depth, a.pct):.3g} over {a.pct} runs",
                a.width,
            )
    a.doc["explore"].update(result="pct-clean", scenarios_done=len(todo), pct_runs=runs)
    but = finish_coverage(cov, _pct_runs(a, todo), a.doc)
    emit(
        f"difftest explore --pct {a.pct} --depth {a.depth}: {runs} runs, no bug; every "
        f"depth-{a.depth} bug of each scenario was found with probability >= {worst:.3g} "
        f"(PCT bound){but}",
        a.width,
    )
    return EXIT_UNCOVERED if but and a.require_coverage else EXIT_CLEAN


def _pct_runs(a: argparse.Namespace, todo: list[Scenario]) -> Callable[[type], object]:
    """The same PCT runs (same seeds) of these scenarios, on another version."""

    def runs(impl: type) -> None:
        for i, s in enumerate(todo):
            n, k = len(s.thread_names), estimate_k(impl, s)
            sched = PCTScheduler(n, k, a.depth, a.seed * 1_000_003 + i)
            for _ in range(a.pct):
                run(impl, s, sched)

    return runs
