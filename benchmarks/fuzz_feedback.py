"""Fuzzing figures: throughput with and without the concurrency feedback, input
decoding options, and time to first detection of each buggy version.

    python benchmarks/fuzz_feedback.py [--seeds K] [--max-seconds S] [--inputs N]

1. Executions/s in process (decode + run + oracle, no libFuzzer) per
   implementation, without and with feedback, over the same random inputs.
2. Executions/s that libFuzzer reports (``stat::average_exec_per_sec``) for the
   targets that do not crash within the measurement (the correct versions).
3. Decoding: the difftest byte stream, ``atheris.FuzzedDataProvider`` and
   Hypothesis's ``fuzz_one_input``, decoding the same inputs into runs of final.
4. Executions and seconds (process start included) until the first bug, median
   over K libFuzzer seeds, for line coverage alone and with each feedback kind.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from difftest.check import GenParams
from difftest.fuzz.decode import decode_scenario
from difftest.fuzz.feedback import Feedback
from difftest.fuzz.harness import Harness
from difftest.impls import BUILTIN, CORRECT, load
from difftest.runner import run
from difftest.schedulers.base import ChoiceScheduler
from difftest.search.atheris import _find, command

MODES = ("none", "states", "pairs", "all")


def inputs(n: int) -> list[bytes]:
    rnd = random.Random(12345)
    return [bytes(rnd.randrange(256) for _ in range(rnd.randrange(16, 512))) for _ in range(n)]


def in_process(name: str, data: list[bytes]) -> tuple[float, float]:
    impl = load(name)
    rates = []
    for h in (Harness(impl), Harness(impl, feedback=Feedback(lambda fid: None))):
        samples = []
        for _ in range(3):
            t0 = time.perf_counter()
            for d in data:
                h.run(d)
            samples.append(len(data) / (time.perf_counter() - t0))
        rates.append(statistics.median(samples))
    return rates[0], rates[1]


def libfuzzer_rate(name: str, feedback: str, seconds: int) -> float:
    cmd = command(load(name), GenParams(), feedback=feedback)
    cmd += [f"-max_total_time={seconds}", "-seed=1", "-print_final_stats=1"]
    out = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).stderr.decode()
    m = re.search(r"stat::average_exec_per_sec:\s+(\d+)", out)
    return float(m[1]) if m else float("nan")


class FdpSource:
    """Choices from atheris.FuzzedDataProvider (the alternative decoding)."""

    def __init__(self, fdp) -> None:  # type: ignore[no-untyped-def]
        self.fdp = fdp

    def draw(self, n: int) -> int:
        return self.fdp.ConsumeIntInRange(0, n - 1)


class HypothesisSource:
    def __init__(self, data) -> None:  # type: ignore[no-untyped-def]
        self.data = data

    def draw(self, n: int) -> int:
        from hypothesis import strategies as st

        return self.data.draw(st.integers(0, n - 1)) if n > 1 else 0


def decoding(data: list[bytes]) -> dict[str, float]:
    import atheris
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    impl = load("final")
    params = GenParams()

    def via(src) -> None:  # type: ignore[no-untyped-def]
        run(impl, decode_scenario(src, params), ChoiceScheduler(src))

    @settings(database=None, suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.data())
    def hyp(d) -> None:  # type: ignore[no-untyped-def]
        via(HypothesisSource(d))

    h = Harness(impl)
    ways = {
        "difftest bytes (BytesSource)": lambda b: h.run(b),
        "atheris.FuzzedDataProvider": lambda b: via(FdpSource(atheris.FuzzedDataProvider(b))),
        "hypothesis fuzz_one_input": hyp.hypothesis.fuzz_one_input,
    }
    rates = {}
    for label, fn in ways.items():
        t0 = time.perf_counter()
        for b in data:
            fn(b)
        rates[label] = len(data) / (time.perf_counter() - t0)
    return rates


def detection(name: str, seeds: int, max_seconds: float) -> dict[str, tuple[float, float, int]]:
    impl = load(name)
    out = {}
    for mode in MODES:
        execs, secs, misses = [], [], 0
        for seed in range(seeds):
            d = _find(impl, seed, max_seconds, None, mode)
            if d is None:
                misses += 1
                execs.append(float("inf"))
                secs.append(float("inf"))
            else:
                execs.append(d.executions)
                secs.append(d.seconds)
        out[mode] = (statistics.median(execs), statistics.median(secs), misses)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--inputs", type=int, default=500)
    ap.add_argument("--libfuzzer-seconds", type=int, default=10)
    ap.add_argument("--only-detection", action="store_true", help="run part 4 alone")
    ap.add_argument("--impls", nargs="*", default=None, help="part 4: these implementations")
    args = ap.parse_args()
    if args.only_detection:
        return detection_table(args)
    data = inputs(args.inputs)

    print(f"1. in-process executions/s, {args.inputs} random inputs (median of 3)")
    print(f"{'implementation':26s} {'no feedback':>12s} {'feedback':>10s} {'ratio':>7s}")
    for name in BUILTIN:
        a, b = in_process(name, data)
        print(f"{name:26s} {a:12,.0f} {b:10,.0f} {b / a:6.2f}x", flush=True)

    print(f"\n2. libFuzzer executions/s, {args.libfuzzer_seconds} s from an empty corpus")
    print(f"{'target':26s} {'line cov':>10s} {'+feedback':>10s} {'ratio':>7s}")
    for name in CORRECT:
        a = libfuzzer_rate(name, "none", args.libfuzzer_seconds)
        b = libfuzzer_rate(name, "all", args.libfuzzer_seconds)
        print(f"{name:26s} {a:10,.0f} {b:10,.0f} {b / a:6.2f}x", flush=True)

    print(f"\n3. decoding into runs of final, {args.inputs} inputs")
    for label, rate in decoding(data).items():
        print(f"{label:32s} {rate:10,.0f} executions/s", flush=True)

    detection_table(args)


def detection_table(args: argparse.Namespace) -> None:
    print(
        f"\n4. first bug: median over {args.seeds} libFuzzer seeds, empty corpus, "
        f"limit {args.max_seconds:.0f} s (executions / seconds incl. process start; misses)"
    )
    print(f"{'implementation':26s}" + "".join(f" {m:>20s}" for m in MODES))
    for name in args.impls or [n for n in BUILTIN if n not in CORRECT]:
        res = detection(name, args.seeds, args.max_seconds)
        cells = "".join(
            f" {f'{e:,.0f} / {s:.1f}s' + (f' ({k})' if k else ''):>20s}" for e, s, k in res.values()
        )
        print(f"{name:26s}{cells}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
