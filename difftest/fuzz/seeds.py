"""Seed corpora: ``python -m difftest.fuzz.seeds [--impl NAME ...] [--out DIR]``.

For each implementation, seeded random runs are recorded as fuzzer bytes and
the clean ones (no bug finding: a seed must not crash) that together reach the
most concurrency features are kept, greedily, up to ``--count`` inputs. The
choice depends only on the seed, so regenerating gives the same files.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from difftest.check import GenParams
from difftest.files import write_atomic
from difftest.fuzz.decode import RecordingSource, decode_scenario, run_bytes
from difftest.fuzz.feedback import Feedback
from difftest.fuzz.harness import Harness
from difftest.impls import BUILTIN, load
from difftest.impls.kernel.world import World
from difftest.runner import run
from difftest.schedulers.base import ChoiceScheduler
from difftest.schedulers.random import RandomSource

SEED_CORPUS = Path(__file__).resolve().parent / "seed_corpus"  # package data


def record(impl: type[World], seed: int, params: GenParams) -> bytes:
    """The fuzzer input that replays random run ``seed`` (header draws included)."""
    src = RecordingSource(RandomSource(seed))
    scenario = decode_scenario(src, params)
    run(impl, scenario, ChoiceScheduler(src))
    return src.to_bytes()


def select(impl: type[World], *, candidates: int, count: int, params: GenParams) -> list[bytes]:
    """Greedy feature cover over the clean candidate runs."""
    pool: list[tuple[bytes, set[int]]] = []
    for seed in range(candidates):
        data = record(impl, seed, params)
        feats: set[int] = set()
        r = Harness(impl, params, Feedback(feats.add)).run(data)
        if r.first_bug is None:
            pool.append((data, feats))
    chosen: list[bytes] = []
    covered: set[int] = set()
    while pool and len(chosen) < count:
        data, feats = max(pool, key=lambda p: (len(p[1] - covered), -len(p[0])))
        if not feats - covered:
            break
        chosen.append(data)
        covered |= feats
        pool = [p for p in pool if p[0] != data]
    return chosen


def write(directory: Path, inputs: list[bytes]) -> None:
    for data in inputs:
        write_atomic(directory / hashlib.sha1(data).hexdigest(), data)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m difftest.fuzz.seeds")
    ap.add_argument("--impl", action="append", help="default: every built-in")
    ap.add_argument("--out", type=Path, default=SEED_CORPUS)
    ap.add_argument("--candidates", type=int, default=400)
    ap.add_argument("--count", type=int, default=12)
    args = ap.parse_args(argv)
    params = GenParams()
    for name in args.impl or list(BUILTIN):
        impl = load(name)
        chosen = select(impl, candidates=args.candidates, count=args.count, params=params)
        assert all(run_bytes(impl, d, params).first_bug is None for d in chosen)
        write(args.out / name, chosen)
        print(f"{name}: {len(chosen)} seeds")


if __name__ == "__main__":
    main()
