"""Same scenario + same seed -> same run; a recorded schedule replays exactly;
nothing depends on hash randomisation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FOUR_THREADS, NESTED_LEAK, SEAN, ZAP_NO_SEQ

from difftest.check import GenParams, random_check, run_seed
from difftest.impls import BUILTIN, load
from difftest.model.scenario import generate
from difftest.runner import run
from difftest.schedulers import (
    ChoiceScheduler,
    RandomScheduler,
    RandomSource,
    ReplayScheduler,
    ScheduleDiverged,
)

ROOT = Path(__file__).resolve().parent.parent


def _trace_key(r):
    return [(s.index, s.tid, s.op, s.obj, s.write, s.stack, s.changes) for s in r.execution.trace]


@pytest.mark.parametrize("impl", list(BUILTIN))
@pytest.mark.parametrize("scenario", [SEAN, FOUR_THREADS, ZAP_NO_SEQ], ids=["sean", "four", "zap"])
def test_same_seed_same_run(impl, scenario):
    for seed in (0, 7, 123):
        a = run(load(impl), scenario, RandomScheduler(seed), trace=True)
        b = run(load(impl), scenario, RandomScheduler(seed), trace=True)
        assert a.execution.schedule == b.execution.schedule
        assert a.execution.outcome == b.execution.outcome
        assert _trace_key(a) == _trace_key(b)
        assert a.findings == b.findings


@pytest.mark.parametrize("impl", list(BUILTIN))
@pytest.mark.parametrize(
    "scenario", [SEAN, FOUR_THREADS, NESTED_LEAK], ids=["sean", "four", "nested"]
)
def test_replay_gives_identical_trace(impl, scenario):
    for seed in range(5):
        a = run(load(impl), scenario, RandomScheduler(seed), trace=True)
        b = run(load(impl), scenario, ReplayScheduler(a.execution.schedule), trace=True)
        assert b.execution.schedule == a.execution.schedule
        assert _trace_key(a) == _trace_key(b)
        assert a.findings == b.findings
        assert len(a.execution.trace) == a.execution.steps


def test_trace_does_not_change_the_run():
    for seed in range(20):
        a = run(load("prepatch"), SEAN, RandomScheduler(seed))
        b = run(load("prepatch"), SEAN, RandomScheduler(seed), trace=True)
        assert a.execution.schedule == b.execution.schedule
        assert a.findings == b.findings
        assert a.execution.trace is None


def test_different_seeds_explore_different_schedules():
    schedules = {
        tuple(run(load("final"), SEAN, RandomScheduler(k)).execution.schedule) for k in range(30)
    }
    assert len(schedules) > 10


def test_strict_replay_diverges_loudly():
    a = run(load("final"), SEAN, RandomScheduler(0))
    with pytest.raises(ScheduleDiverged, match="ended after"):
        run(load("final"), SEAN, ReplayScheduler(a.execution.schedule[:5]))
    bad2 = [7] + a.execution.schedule[1:]
    with pytest.raises(ScheduleDiverged, match="not runnable"):
        run(load("final"), SEAN, ReplayScheduler(bad2))


def test_lenient_replay_records_divergence():
    a = run(load("final"), SEAN, RandomScheduler(0))
    sched = ReplayScheduler(a.execution.schedule[:5], strict=False)
    r = run(load("final"), SEAN, sched)
    assert sched.diverged_at == 5
    assert r.execution.schedule[:5] == a.execution.schedule[:5]
    assert r.execution.outcome == "done"


def test_generate_is_deterministic():
    for seed in range(20):
        a = generate(RandomSource(seed), vcpus=3, ioctls=2, ops=4)
        b = generate(RandomSource(seed), vcpus=3, ioctls=2, ops=4)
        assert a == b
        assert len(a.vcpus) == 3 and len(a.ioctls) == 2
        assert all(len(v.program) == 4 for v in a.vcpus)


def test_generate_without_nested():
    for seed in range(50):
        s = generate(RandomSource(seed), nested=False)
        ops = {op for v in s.vcpus for op in v.program}
        assert not ops & {"vmrun", "sti_vmrun", "vmexit"}


def test_run_seed_and_random_check_repeatable():
    p = GenParams()
    for i in range(10):
        a = run_seed(load("prepatch"), 5, i, p)
        b = run_seed(load("prepatch"), 5, i, p)
        assert a.scenario == b.scenario
        assert a.execution.schedule == b.execution.schedule
    s1 = random_check(load("seed"), seed=4, runs=100)
    s2 = random_check(load("seed"), seed=4, runs=100)
    assert (s1.runs, s1.steps, s1.runs_with) == (s2.runs, s2.steps, s2.runs_with)
    assert s1.first_bug.execution.schedule == s2.first_bug.execution.schedule


def test_choice_scheduler_zero_keeps_running_thread():
    class Zeros:
        def draw(self, n):
            return 0

    sched = ChoiceScheduler(Zeros())
    r = run(load("final"), SEAN, sched)
    s = r.execution.schedule
    # Choice 0 means no preemption: a thread runs until it blocks or finishes.
    switches = sum(1 for a, b in zip(s, s[1:], strict=False) if a != b)
    assert switches <= 4


_SCRIPT = r"""
import hashlib, json
from difftest.check import random_check, GenParams
from difftest.impls import BUILTIN, load
from difftest.runner import run
from difftest.schedulers import RandomScheduler
from difftest.model.scenario import Scenario, VcpuSpec
h = hashlib.sha256()
for name in BUILTIN:
    s = random_check(load(name), seed=9, runs=40)
    h.update(json.dumps([name, s.runs, s.steps, sorted(s.runs_with.items())]).encode())
    if s.first_bug is not None:
        h.update(json.dumps(s.first_bug.execution.schedule).encode())
        h.update(repr(s.first_bug.findings).encode())
sc = Scenario(vcpus=(VcpuSpec(("sti",)), VcpuSpec(("run", "sti"))), extint=(0, 1))
for k in range(20):
    r = run(load("prepatch"), sc, RandomScheduler(k), trace=True)
    h.update(json.dumps(r.execution.schedule).encode())
    h.update(repr([(t.tid, t.op, t.changes) for t in r.execution.trace]).encode())
print(h.hexdigest())
"""


def test_independent_of_pythonhashseed():
    outs = []
    for hs in ("0", "12345", "random"):
        env = {**os.environ, "PYTHONHASHSEED": hs, "PYTHONPATH": str(ROOT)}
        p = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 0, p.stderr
        outs.append(p.stdout.strip())
    assert len(outs[0]) == 64
    assert outs[0] == outs[1] == outs[2]
