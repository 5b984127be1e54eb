"""The benchmarks' baselines still mean what the benchmark tables say they mean:
the threaded stress test has the executor's semantics, the schedule DFS
enumerates distinct schedules, and the Promela models give SPIN's verdicts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import SEAN, V

from benchmarks.baselines.dfs import dfs
from benchmarks.baselines.threads import stress_run
from benchmarks.spin_compare import counterexample, simulate
from difftest.impls import load
from difftest.model.scenario import Scenario
from difftest.oracle.findings import Kind
from difftest.runner import run
from difftest.schedulers import ReplayScheduler


def test_stress_schedule_replays_in_executor_with_same_findings():
    """Every threaded run is an execution the executor can replay strictly, with the
    same findings: the stress baseline checks the same semantics."""
    impl = load("prepatch")
    for _ in range(5):
        s = stress_run(impl, SEAN, max_sleep=1e-5)
        assert s.outcome in ("done", "halted")
        r = run(impl, SEAN, ReplayScheduler(s.schedule))
        assert r.execution.schedule == s.schedule
        assert [(f.kind, f.step) for f in r.findings] == [(f.kind, f.step) for f in s.findings]


def test_dfs_enumerates_distinct_schedules_to_exhaustion():
    seen: list[tuple[int, ...]] = []

    def record(r):
        seen.append(tuple(r.execution.schedule))
        return False

    sc = Scenario(vcpus=(V(),), ioctls=(("set HYPERV",),))
    out = dfs(load("final"), sc, stop=record)
    assert out.exhausted and out.executions == len(seen) > 1
    assert len(set(seen)) == len(seen)
    assert dfs(load("final"), sc, bound=0).executions < out.executions


def test_dfs_bound_one_finds_seans_lost_window_in_prepatch_not_final():
    def lost(r):
        return any(f.kind == Kind.LOST_WINDOW for f in r.findings)

    assert dfs(load("prepatch"), SEAN, bound=1, stop=lost).hit is not None
    assert dfs(load("final"), SEAN, bound=1, stop=lost).exhausted


SPIN_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "spin"


def _pan(tmp_path: Path, model: str, *defines: str) -> str:
    for f in SPIN_DIR.glob("*.pml"):
        shutil.copy(f, tmp_path)
    subprocess.run(["spin", *defines, "-a", f"{model}.pml"], cwd=tmp_path, check=True)
    subprocess.run(["cc", "-O0", "-DSAFETY", "-o", "pan", "pan.c"], cwd=tmp_path, check=True)
    return subprocess.run(
        ["./pan", "-m100000"], cwd=tmp_path, capture_output=True, text=True
    ).stdout


needs_spin = pytest.mark.skipif(
    shutil.which("spin") is None or shutil.which("cc") is None, reason="spin or cc missing"
)


@needs_spin
def test_spin_prepatch_counterexample_is_a_lost_window_in_difftest():
    schedule = counterexample("prepatch", ["-DLOST_ONLY"])
    assert schedule
    r = run(load("prepatch"), SEAN, ReplayScheduler(schedule))
    assert r.execution.outcome == "done" and r.execution.steps == len(schedule)
    assert Kind.LOST_WINDOW in {f.kind for f in r.findings}


@needs_spin
def test_spin_verifies_final(tmp_path):
    out = _pan(tmp_path, "final")
    assert "errors: 0" in out
    assert "Search not completed" not in out


@needs_spin
@pytest.mark.parametrize("model", ["prepatch", "final"])
def test_spin_simulations_replay_step_for_step_in_difftest(model):
    """The Promela models have the Python model's atomic steps: every SPIN random
    simulation replays strictly in the executor, ends after the same number of
    steps, and a failed SPIN assertion is a lost window or WARN in difftest."""
    impl = load(model)
    for seed in range(1, 6):
        schedule, violated = simulate(model, seed)
        r = run(impl, SEAN, ReplayScheduler(schedule))
        assert r.execution.outcome == "done"
        assert r.execution.steps == len(schedule)
        bad = {f.kind for f in r.findings} & {Kind.LOST_WINDOW, Kind.WARN}
        assert bool(bad) == violated, (seed, r.findings)
