"""What the engine costs on top of the kernel generators themselves.

    python -m benchmarks.overhead [--impl NAME] [--runs N] [--repeat K] [--irq-source SRC]

N standard scenarios (3 vCPUs + 1 ioctl thread, 4 operations each), each with one
seeded random schedule, recorded once. Every variant then runs the same N
(scenario, schedule) pairs, so all execute the same steps:

- bare: build the world, then a plain loop over the recorded schedule that
  resumes the chosen generator (setting ``world.current``, which the kernel code
  reads as the lock owner); no scheduler, no runnable set, no ready checks;
- execute + replay / + random: the executor with ``ReplayScheduler`` or the
  seeded ``RandomScheduler`` that produced the schedule;
- run(): the executor plus the quiescence oracle, as every search calls it;
- run(trace=True): plus a state snapshot and call stack per step (reports).

Prints the median over K repeats, ns per step and the ratio to bare.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from difftest.check import GenParams
from difftest.engine.executor import execute
from difftest.impls import load
from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario
from difftest.runner import run, step_budget
from difftest.schedulers import RandomScheduler, RandomSource, ReplayScheduler

Case = tuple[Scenario, int, list[int]]  # scenario, scheduler seed, recorded schedule


def cases(impl: type[World], n: int, irq_source: str = "legacy") -> list[Case]:
    p = GenParams(irq_source=irq_source)
    out = []
    for i in range(n):
        sc = p.scenario(RandomSource(i))
        out.append((sc, i, run(impl, sc, RandomScheduler(i)).execution.schedule))
    return out


def bare(impl: type[World], sc: Scenario, seed: int, schedule: list[int]) -> None:
    world = impl(sc)
    gens = [g for _, g in world.threads()]
    for i, g in enumerate(gens):
        world.current = i
        next(g, None)
    for tid in schedule:
        world.current = tid
        next(gens[tid], None)


def build_only(impl: type[World], sc: Scenario, seed: int, schedule: list[int]) -> None:
    world = impl(sc)
    for i, (_, g) in enumerate(world.threads()):
        world.current = i
        next(g, None)


def exec_replay(impl: type[World], sc: Scenario, seed: int, schedule: list[int]) -> None:
    execute(impl(sc), ReplayScheduler(schedule), max_steps=step_budget(sc))


def exec_random(impl: type[World], sc: Scenario, seed: int, schedule: list[int]) -> None:
    execute(impl(sc), RandomScheduler(seed), max_steps=step_budget(sc))


def full_run(impl: type[World], sc: Scenario, seed: int, schedule: list[int]) -> None:
    run(impl, sc, RandomScheduler(seed))


def traced_run(impl: type[World], sc: Scenario, seed: int, schedule: list[int]) -> None:
    run(impl, sc, RandomScheduler(seed), trace=True)


VARIANTS: list[tuple[str, Callable[[type[World], Scenario, int, list[int]], None]]] = [
    ("world construction only", build_only),
    ("bare generator loop", bare),
    ("execute + ReplayScheduler", exec_replay),
    ("execute + RandomScheduler", exec_random),
    ("run() (executor + oracle)", full_run),
    ("run(trace=True)", traced_run),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", default="final")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--irq-source", default="legacy", help="legacy (the default) or any: drawn per run"
    )
    args = ap.parse_args()
    impl = load(args.impl)
    cs = cases(impl, args.runs, args.irq_source)
    steps = sum(len(s) for _, _, s in cs)
    samples: dict[str, list[float]] = {name: [] for name, _ in VARIANTS}
    for _ in range(args.repeat):
        for name, fn in VARIANTS:
            t0 = time.process_time()
            for sc, seed, sched in cs:
                fn(impl, sc, seed, sched)
            samples[name].append(time.process_time() - t0)
    med = {name: statistics.median(v) for name, v in samples.items()}
    base = med["bare generator loop"]
    print(
        f"{args.impl}, standard scenario, interrupt source {args.irq_source}, "
        f"{args.runs} executions, {steps:,} steps, "
        f"median of {args.repeat}"
    )
    print("| variant | total | ns/step | vs bare |")
    print("|---|---:|---:|---:|")
    for name, secs in med.items():
        ns = secs / steps * 1e9
        print(f"| {name} | {secs * 1000:,.1f} ms | {ns:,.0f} | {secs / base:.2f}x |")
    build = med["world construction only"]
    per_step = (med["execute + RandomScheduler"] - base) / steps * 1e9
    loop = (base - build) / steps * 1e9
    print(
        f"generator steps alone: {loop:,.0f} ns/step; engine adds {per_step:,.0f} ns/step "
        f"(execute + RandomScheduler minus bare); tracing multiplies run() by "
        f"{med['run(trace=True)'] / med['run() (executor + oracle)']:.1f}x"
    )


if __name__ == "__main__":
    main()
