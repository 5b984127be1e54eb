"""``check --jobs`` and ``--shard``: how the runs are split never changes the
summary or the first reproducer."""

from __future__ import annotations

import pytest

from difftest.check import PORTFOLIO, GenParams, Summary, random_check, run_index
from difftest.impls import load


def _key(s: Summary) -> tuple:
    fb, fs = s.first_bug, s.first_soft
    return (
        s.runs,
        s.steps,
        dict(s.runs_with),
        dict(s.bug_runs_by),
        s.first_bug_index,
        s.first_soft_index,
        (fb.scenario, fb.execution.schedule, fb.findings) if fb else None,
        (fs.scenario, fs.execution.schedule, fs.findings) if fs else None,
    )


@pytest.mark.parametrize("impl", ["broken-zap-no-seq", "prepatch"])
def test_jobs_do_not_change_the_summary(impl):
    one = random_check(load(impl), seed=3, runs=260, jobs=1, searches=PORTFOLIO)
    two = random_check(load(impl), seed=3, runs=260, jobs=2, searches=PORTFOLIO)
    assert one.first_bug is not None
    assert _key(one) == _key(two)


def test_first_bug_is_the_smallest_index():
    s = random_check(load("prepatch"), seed=3, runs=260, jobs=2, searches=PORTFOLIO)
    assert s.first_bug_index is not None
    for i in range(s.first_bug_index):
        assert not run_index(load("prepatch"), 3, i, GenParams(), PORTFOLIO).bugs
    again = run_index(load("prepatch"), 3, s.first_bug_index, GenParams(), PORTFOLIO)
    assert s.first_bug is not None and again.execution.schedule == s.first_bug.execution.schedule


def test_shards_partition_the_runs():
    impl = load("prepatch")
    whole = random_check(impl, seed=1, runs=240, searches=PORTFOLIO)
    assert whole.first_bug_index is not None
    parts = [
        random_check(impl, seed=1, runs=240, shard=(k, 3), searches=PORTFOLIO) for k in (1, 2, 3)
    ]
    assert sum(p.runs for p in parts) == whole.runs
    assert sum(p.steps for p in parts) == whole.steps
    total = sum((p.runs_with for p in parts), start=type(whole.runs_with)())
    assert total == whole.runs_with
    firsts = [p.first_bug_index for p in parts if p.first_bug_index is not None]
    assert min(firsts) == whole.first_bug_index


def test_portfolio_uses_each_search():
    impl, p = load("final"), GenParams()
    # random, PCT and POS runs of the same index differ; each is repeatable
    runs = [run_index(impl, 0, i, p, PORTFOLIO) for i in range(3)]
    again = [run_index(impl, 0, i, p, PORTFOLIO) for i in range(3)]
    assert [r.execution.schedule for r in runs] == [r.execution.schedule for r in again]
    same_scenario = [run_index(impl, 0, 1, p, (s,)).execution.schedule for s in PORTFOLIO]
    assert len({tuple(x) for x in same_scenario}) == 3


def test_cli_output_and_reproducer_same_for_one_and_two_jobs(tmp_path, capsys, monkeypatch):
    from difftest.frontends.cli import main

    outs, repros = [], []
    for jobs in ("1", "2"):
        (tmp_path / jobs).mkdir()
        monkeypatch.chdir(tmp_path / jobs)  # the same relative --out path in both runs
        out = tmp_path / jobs / "out"
        args = ["check", "--impl", "prepatch", "--runs", "400", "--jobs", jobs, "--out", "out"]
        args.append("--no-shrink")  # shrinking is tested elsewhere and slow here
        assert main(args) == 1
        text = capsys.readouterr().out.splitlines()
        head = next(i for i, line in enumerate(text) if line.startswith("first bug: run "))
        assert f"({jobs} job" in " ".join(text[:head])  # the timing line may wrap
        outs.append(text[head:])
        (repro,) = out.iterdir()
        repros.append(repro.read_text())
    assert outs[0] == outs[1]
    assert repros[0] == repros[1]


@pytest.mark.parametrize("bad", ["0/2", "3/2", "x", "1/", "1/0", "2/-1"])
def test_cli_rejects_a_bad_shard(bad, capsys):
    from difftest.frontends.cli import main

    assert main(["check", "--impl", "final", "--runs", "1", "--shard", bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--shard" in err[0]


def test_cli_rejects_zero_jobs(capsys):
    from difftest.frontends.cli import main

    assert main(["check", "--impl", "final", "--runs", "1", "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err


@pytest.mark.slow
def test_workers_do_not_outlive_a_killed_check(tmp_path):
    """SIGKILL of ``check --jobs 2`` takes its workers with it (PR_SET_PDEATHSIG)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = ["check", "--impl", "final", "--runs", "1000000", "--jobs", "2"]
    p = subprocess.Popen(
        [sys.executable, "-m", "difftest", *args, "--out", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kids: list[str] = []
    for _ in range(100):
        time.sleep(0.2)
        kids = subprocess.run(
            ["pgrep", "-P", str(p.pid)], capture_output=True, text=True
        ).stdout.split()
        if len(kids) == 2:
            break
    assert len(kids) == 2
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    for _ in range(50):
        time.sleep(0.2)
        if not any(os.path.exists(f"/proc/{k}") for k in kids):
            break
    assert not any(os.path.exists(f"/proc/{k}") for k in kids)


class _Boom(RuntimeError):
    pass


def _raising_impl():
    from difftest.impls.final import Final

    class Raising(Final):
        name = "raising"

        def svm_inject_irq(self, vcpu, reinjected):
            if len(self.scenario.vcpus) == 3 and self.scenario.vcpus[0].guest_if:
                raise _Boom("raised by the implementation")
            yield from Final.svm_inject_irq(self, vcpu, reinjected)

    return Raising


def test_an_exception_in_a_worker_surfaces_with_its_own_frames():
    """A run that raises in a worker is re-run in the parent: the exception has
    the implementation's frames, as with one job."""
    import traceback

    impl = _raising_impl()
    for jobs in (1, 2):
        with pytest.raises(_Boom) as e:
            random_check(impl, seed=0, runs=400, jobs=jobs)
        names = [f.name for f in traceback.extract_tb(e.value.__traceback__)]
        assert "svm_inject_irq" in names, (jobs, names)
