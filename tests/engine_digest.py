"""Digests of many seeded runs: an engine or scheduler change that alters any
schedule, trace, finding or final state changes a pinned hash
(tests/test_engine_digest.py). Regenerate with ``python tests/engine_digest.py``
only after showing that the change is meant to alter executions."""

from __future__ import annotations

import hashlib
import sys

from difftest.check import GenParams, run_seed
from difftest.impls import BUILTIN, load
from difftest.runner import Result, run
from difftest.schedulers import RandomScheduler, RandomSource
from difftest.schedulers.pct import PCTScheduler
from difftest.schedulers.pos import POSScheduler

VERSIONS = ("reference", "prepatch", "seed", "final")
CHECK_RUNS = 2000  # per shipped version: ``difftest check``'s runs 0..1999 of seed 0
OTHER_RUNS = 100  # per version: PCT, POS and traced random schedules
BROKEN_RUNS = 200  # per broken variant: check runs


def _feed(h: hashlib._Hash, r: Result) -> None:
    e = r.execution
    h.update(f"{e.outcome}|{','.join(map(str, e.schedule))}\n".encode())
    for f in r.findings:
        h.update(repr((f.kind.value, f.message, f.step, f.thread, f.where, f.expected)).encode())
    h.update(repr(sorted(r.world.snapshot().items())).encode())
    for s in e.trace or ():
        h.update(repr((s.index, s.tid, s.op, s.obj, s.write, s.stack, s.changes)).encode())


def check_digest(version: str, runs: int, seed: int = 0) -> str:
    """``difftest check``'s runs: scenario and schedule from one seeded stream."""
    impl, params, h = load(version), GenParams(), hashlib.sha256()
    for i in range(runs):
        _feed(h, run_seed(impl, seed, i, params))
    return h.hexdigest()


def other_digest(version: str, runs: int) -> str:
    """PCT and POS schedules, and full traces of random schedules, per scenario."""
    impl, h = load(version), hashlib.sha256()
    for i in range(runs):
        s = GenParams().scenario(RandomSource(10_000 + i))
        _feed(h, run(impl, s, PCTScheduler(len(s.thread_names), 150, 3, i)))
        _feed(h, run(impl, s, POSScheduler(i)))
        _feed(h, run(impl, s, RandomScheduler(i), trace=True))
    return h.hexdigest()


def broken_digest(runs: int) -> str:
    h = hashlib.sha256()
    for name in BUILTIN:
        if name.startswith("broken-"):
            h.update(check_digest(name, runs).encode())
    return h.hexdigest()


if __name__ == "__main__":
    for v in VERSIONS:
        print(f'    "{v}": ("{check_digest(v, CHECK_RUNS)}", "{other_digest(v, OTHER_RUNS)}"),')
    print(f'BROKEN = "{broken_digest(BROKEN_RUNS)}"')
    sys.exit(0)
