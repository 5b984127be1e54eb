"""difftest against the SPIN model checker on one bounded configuration.

    python -m benchmarks.spin_compare [--repeat K] [--seeds N] [--cap S] [--proof-cap S]

The configuration is Sean's scenario (``SEAN`` in tests/helpers.py): two vCPUs,
each with an ExtINT pending and needing one IRQ window. ``benchmarks/spin/``
holds Promela models of ``prepatch`` and ``final`` with the Python model's atomic
steps. The property is the same on both sides: no lost window at quiescence and
neither WARN (``svm_set_vintr``, ``vcpu_enter_guest``) fires; ``-DLOST_ONLY``
keeps the lost-window assertion alone.

Rows: SPIN's time to the first counterexample on prepatch and to verify final
(pan compile time apart), difftest's seeded random schedules, a plain DFS over
schedules (``baselines/dfs.py``, unbounded and preemption-bounded) and, when
``difftest.explore`` is importable, its exploration. pan's lost-window
counterexample is also replayed strictly in difftest's executor: the models print
the thread of every step, so a SPIN trail is a difftest schedule.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from benchmarks.baselines.dfs import DfsOutcome, dfs
from difftest.impls import load
from difftest.runner import Result, run
from difftest.schedulers import RandomScheduler, ReplayScheduler, ScheduleDiverged

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers import SEAN  # noqa: E402

MODELS = Path(__file__).resolve().parent / "spin"
# safety properties only (assertions, invalid end states); -O0 compiles pan.c
# several times faster and, on a model this small, loses little search speed
PAN_CFLAGS = ["-DSAFETY"]
OPT_LEVELS = ("-O0", "-O2")
PAN_ARGS = ["-m100000", "-w20"]  # search depth, 2^20 hash slots


def child_cpu() -> float:
    """CPU seconds used by finished child processes (spin, cc, pan) so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class SpinResult:
    compile_s: float
    pan_s: float
    cpu_s: float  # compile plus one search, CPU seconds (robust to a loaded machine)
    errors: int
    states: int
    transitions: int
    depth: int
    violated: str  # text of the first failed assertion, or ""


def spin_missing() -> str | None:
    for tool in ("spin", "cc"):
        if shutil.which(tool) is None:
            return f"{tool} not found (Debian: apt-get install -y spin gcc)"
    return None


def spin_build(model: str, defines: list[str], work: Path, opt: str = "-O0") -> float:
    """spin -a + cc; returns seconds."""
    for f in MODELS.glob("*.pml"):
        shutil.copy(f, work)
    t0 = time.perf_counter()
    subprocess.run(
        ["spin", *defines, "-a", f"{model}.pml"], cwd=work, check=True, capture_output=True
    )
    subprocess.run(["cc", opt, *PAN_CFLAGS, "-o", "pan", "pan.c"], cwd=work, check=True)
    return time.perf_counter() - t0


def pan(work: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(["./pan", *PAN_ARGS], cwd=work, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, out


def parse_pan(out: str) -> tuple[int, int, int, int, str]:
    def num(pattern: str) -> int:
        m = re.search(pattern, out)
        return int(m.group(1)) if m else -1

    m = re.search(r"assertion violated (.*) \(at depth", out)
    return (
        num(r"errors: (\d+)"),
        num(r"(\d+) states, stored"),
        num(r"(\d+) transitions"),
        num(r"depth reached (\d+)"),
        m.group(1).strip() if m else ("invalid end state" if "invalid end state (" in out else ""),
    )


def spin_schedule(output: str) -> list[int]:
    """The thread of every step, from the STEP marks of a trail replay or simulation."""
    return [int(t) for t in re.findall(r"@S(\d+)", output)]


def simulate(model: str, seed: int, defines: Sequence[str] = ()) -> tuple[list[int], bool]:
    """One SPIN random simulation: its schedule, and whether an assertion failed."""
    with tempfile.TemporaryDirectory() as d:
        for f in MODELS.glob("*.pml"):
            shutil.copy(f, d)
        cmd = ["spin", *defines, f"-n{seed}", f"{model}.pml"]
        out = subprocess.run(cmd, cwd=d, capture_output=True, text=True).stdout
    return spin_schedule(out), "assertion violated" in out


def counterexample(model: str, defines: list[str]) -> list[int]:
    """pan's first counterexample, replayed by spin -t, as a difftest schedule."""
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        spin_build(model, defines, work)
        pan(work)
        cmd = ["spin", *defines, "-t", f"{model}.pml"]
        out = subprocess.run(cmd, cwd=work, capture_output=True, text=True).stdout
    return spin_schedule(out)


def replay_cell(model: str, schedule: list[int]) -> str:
    """Run a SPIN schedule through difftest's executor, strictly."""
    try:
        r = run(load(model), SEAN, ReplayScheduler(schedule))
    except ScheduleDiverged as e:
        return f"{len(schedule)} SPIN steps -> difftest diverged: {e}"
    kinds = ", ".join(dict.fromkeys(f.kind.value for f in r.findings)) or "no finding"
    ex = r.execution
    return f"{len(schedule)} SPIN steps -> difftest {ex.outcome} in {ex.steps} steps: {kinds}"


def spin_measure(model: str, defines: list[str], repeat: int, opt: str) -> SpinResult:
    compiles, pans, cpus = [], [], []
    out = ""
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as d:
            work = Path(d)
            c0 = child_cpu()
            compiles.append(spin_build(model, defines, work, opt))
            c1 = child_cpu()
            for i in range(3):
                secs, out = pan(work)
                pans.append(secs)
                if i == 0:
                    cpus.append(c1 - c0 + child_cpu() - c1)
    errors, states, transitions, depth, violated = parse_pan(out)
    return SpinResult(
        statistics.median(compiles),
        statistics.median(pans),
        statistics.median(cpus),
        errors,
        states,
        transitions,
        depth,
        violated,
    )


def shows(kinds: set[str]):
    def stop(r: Result) -> bool:
        return any(f.kind.value in kinds for f in r.findings)

    return stop


def random_first(name: str, kinds: set[str], seeds: int, cap: float) -> tuple[float, float]:
    """Median seconds and executions to the first run showing ``kinds``, over seeds."""
    impl = load(name)
    stop = shows(kinds)
    secs, runs = [], []
    for s in range(seeds):
        t0 = time.perf_counter()
        i = 0
        while time.perf_counter() - t0 < cap:
            i += 1
            if stop(run(impl, SEAN, RandomScheduler(s * 1_000_003 + i))):
                break
        secs.append(time.perf_counter() - t0)
        runs.append(i)
    return statistics.median(secs), statistics.median(runs)


def iterative_bounding(name: str, kinds: set[str], cap: float) -> tuple[DfsOutcome, int]:
    """CHESS-style: preemption bound 0, 1, 2, ... until a run shows ``kinds``."""
    impl = load(name)
    total_n, total_s = 0, 0.0
    for bound in range(6):
        o = dfs(impl, SEAN, bound=bound, stop=shows(kinds), max_seconds=cap - total_s)
        total_n += o.executions
        total_s += o.seconds
        if o.hit is not None or not o.exhausted:
            return DfsOutcome(total_n, total_s, False, o.hit), bound
    return DfsOutcome(total_n, total_s, True, None), bound


def explore_row(name: str, preemptions: int | None, cap: float) -> str:
    """``difftest explore``'s DPOR on the same scenario: time, executions,
    Mazurkiewicz classes, and the verdict (a proof only when unbounded)."""
    from difftest.explore.dpor import explore

    out = explore(load(name), SEAN, preemptions=preemptions, deadline=time.monotonic() + cap)
    st = out.stats
    if out.counterexample is not None:
        verdict = f"counterexample, {out.preemptions} preemptions"
    elif st.timed_out:
        verdict = f"not finished in {cap:g} s"
    else:
        verdict = "proof" if preemptions is None else f"clean within {preemptions} preemptions"
    return (
        f"{ms(st.seconds)} | {st.executions:,} executions, {st.classes:,} classes "
        f"({st.per_class:.2f} per class), {st.states:,} states | {verdict}"
    )


def stateful_row(
    name: str, cap: float, deepen: tuple[int, ...] = (0, 1, 2), reduce: bool = False
) -> tuple[str, float | None, int]:
    """``difftest explore``'s stateful search (by default by rounds of
    preemptions, states told apart by the last thread up to round 2): the row,
    the CPU seconds of a finished proof (None otherwise) and the states stored."""
    from difftest.explore.stateful import explore_stateful

    c0 = time.process_time()
    out = explore_stateful(
        load(name), SEAN, deepen=deepen, deadline=time.monotonic() + cap, reduce=reduce
    )
    cpu = time.process_time() - c0
    st = out.stats
    if out.counterexample is not None:
        verdict = f"counterexample, {out.preemptions} preemptions"
    elif st.timed_out:
        verdict = f"not finished in {cap:g} s"
    else:
        verdict = "proof (every schedule)"
    row = (
        f"{ms(st.seconds)} ({cpu:.2f} CPU s) | {st.executions:,} executions, {st.states:,} "
        f"states ({st.revisits:,} executions cut at a state seen before) | {verdict}"
    )
    proof = cpu if out.exhaustive and out.counterexample is None else None
    return row, proof, st.states


def ms(s: float) -> str:
    return f"{s * 1000:,.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3, help="SPIN builds (pan runs 3x each)")
    ap.add_argument("--seeds", type=int, default=11, help="random-search trials")
    ap.add_argument("--cap", type=float, default=30.0, help="seconds before a DFS gives up")
    ap.add_argument(
        "--proof-cap", type=float, default=300.0, help="seconds before the stateful proof gives up"
    )
    args = ap.parse_args()
    missing = spin_missing()
    bugs = {"lost-window", "warn"}
    lost = {"lost-window"}

    print("== prepatch on SEAN: time to first counterexample (medians)")
    print("| method | property | compile | search | total | states / executions |")
    print("|---|---|---:|---:|---:|---:|")
    spin_rows: dict[str, SpinResult] = {}
    if missing:
        print(f"| SPIN | - | - | - | - | unavailable: {missing} |")
    else:
        for (label, defines), opt in product(
            (("lost window + WARNs", []), ("lost window", ["-DLOST_ONLY"])), OPT_LEVELS
        ):
            r = spin_measure("prepatch", defines, args.repeat, opt)
            spin_rows[f"{label}, cc {opt}"] = r
            print(
                f"| SPIN pan {opt} | {label} | {r.compile_s:.2f} s | {ms(r.pan_s)} | "
                f"{r.compile_s + r.pan_s:.2f} s | {r.states:,} states, {r.transitions:,} "
                f"transitions; fails: {r.violated} |"
            )
    if not missing:
        cex = counterexample("prepatch", ["-DLOST_ONLY"])
        print(
            "| SPIN lost-window counterexample, replayed strictly in difftest | lost window "
            f"| - | - | - | {replay_cell('prepatch', cex)} |"
        )
    rand = {}
    for label, kinds in (("lost window + WARNs", bugs), ("lost window", lost)):
        secs, runs = random_first("prepatch", kinds, args.seeds, args.cap)
        rand[label] = secs
        print(f"| difftest random | {label} | - | {ms(secs)} | {ms(secs)} | {runs:g} executions |")
    o, bound = iterative_bounding("prepatch", bugs, args.cap)
    found = "found" if o.hit else "not found"
    print(
        f"| difftest DFS, preemption bound 0..{bound} | lost window + WARNs | - | "
        f"{ms(o.seconds)} | {ms(o.seconds)} | {o.executions:,} executions ({found}) |"
    )
    o = dfs(load("prepatch"), SEAN, stop=shows(bugs), max_seconds=args.cap)
    found = "found" if o.hit else f"not found in {args.cap:g} s"
    print(
        f"| difftest DFS, unbounded | lost window + WARNs | - | {ms(o.seconds)} | "
        f"{ms(o.seconds)} | {o.executions:,} executions ({found}) |"
    )
    for p in (2, None):
        label = "unbounded" if p is None else f"preemptions <= {p}"
        print(
            f"| difftest explore --dpor, {label} | - | - | {explore_row('prepatch', p, args.cap)} |"
        )
    row, _, _ = stateful_row("prepatch", args.proof_cap)
    print(f"| difftest explore (stateful, by rounds of preemptions) | - | - | {row} |")
    for label, r in spin_rows.items():
        rand_s = rand[label.partition(", cc")[0]]
        with_compile = (r.compile_s + r.pan_s) / rand_s
        print(
            f"ratio SPIN / difftest random ({label}): search only "
            f"{r.pan_s / rand_s:.1f}x, with compile {with_compile:,.0f}x"
        )

    print("\n== final on SEAN: time to verify (exhaustive within the stated bound)")
    print("| method | compile | search | total | states / executions | complete |")
    print("|---|---:|---:|---:|---:|---|")
    spin_final: SpinResult | None = None
    if missing:
        print(f"| SPIN | - | - | - | unavailable: {missing} | - |")
    else:
        for opt in OPT_LEVELS:
            r = spin_measure("final", [], args.repeat, opt)
            if spin_final is None or r.cpu_s < spin_final.cpu_s:
                spin_final = r
            verdict = "yes, 0 errors" if r.errors == 0 else f"{r.errors} errors: {r.violated}"
            print(
                f"| SPIN pan {opt} | {r.compile_s:.2f} s | {ms(r.pan_s)} | "
                f"{r.compile_s + r.pan_s:.2f} s ({r.cpu_s:.2f} CPU s) | {r.states:,} states, "
                f"{r.transitions:,} transitions, depth {r.depth} | {verdict} |"
            )
    dfs_rows = []
    for bound in (0, 1, 2):
        o = dfs(load("final"), SEAN, bound=bound, stop=shows(bugs), max_seconds=args.cap)
        dfs_rows.append((bound, o))
        done = "yes" if o.exhausted else ("BUG" if o.hit else f"no, cap {args.cap:g} s")
        print(
            f"| difftest DFS, preemption bound {bound} | - | {ms(o.seconds)} | {ms(o.seconds)} | "
            f"{o.executions:,} executions | {done} |"
        )
    o = dfs(load("final"), SEAN, stop=shows(bugs), max_seconds=args.cap)
    done = "yes" if o.exhausted else ("BUG" if o.hit else f"no, cap {args.cap:g} s")
    print(
        f"| difftest DFS, unbounded | - | {ms(o.seconds)} | {ms(o.seconds)} | "
        f"{o.executions:,} executions | {done} |"
    )
    for p in (2, None):
        label = "unbounded" if p is None else f"preemptions <= {p}"
        print(f"| difftest explore --dpor, {label} | - | {explore_row('final', p, args.cap)} |")
    proofs = []
    for label, deepen in (("by rounds of preemptions, the default", (0, 1, 2)), ("unbounded", ())):
        row, proof_s, states = stateful_row("final", args.proof_cap, deepen)
        print(f"| difftest explore (stateful, {label}) | - | {row} |")
        proofs.append((label, proof_s, states))
    if spin_final is not None:
        for label, proof_s, states in proofs:
            if proof_s is None:
                print(f"ratio difftest stateful proof ({label}) / SPIN: no proof within the cap")
                continue
            print(
                f"ratio difftest stateful proof ({label}) / SPIN with compile (fastest build), "
                f"CPU time: {proof_s / spin_final.cpu_s:.2f}x (goal < 10x); states: "
                f"difftest {states:,}, SPIN {spin_final.states:,}"
            )
        for bound, o in dfs_rows:
            if o.exhausted:
                print(
                    f"ratio difftest DFS bound {bound} / SPIN (fastest build): search only "
                    f"{o.seconds / spin_final.pan_s:,.2f}x, against SPIN with compile "
                    f"{o.seconds / (spin_final.compile_s + spin_final.pan_s):.3f}x"
                )


if __name__ == "__main__":
    main()
