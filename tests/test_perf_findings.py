"""A perf finding (a write lock for IRQWIN while another reason inhibits) is a
finding in check and in the scoreboard: listed, a failure only with
--fail-on-perf. perf-eager-irqwin (final without its lockless peek) has no other
divergence from final."""

from __future__ import annotations

from pathlib import Path

import pytest

from difftest.frontends.cli import main

CHECK = ["check", "--impl", "perf-eager-irqwin", "--runs", "60", "--irq-source", "legacy"]


@pytest.mark.parametrize("flag, rc", [([], 0), (["--fail-on-perf"], 1)])
def test_check_perf_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str], flag, rc) -> None:
    assert main([*CHECK, "--out", str(tmp_path), *flag]) == rc
    out = capsys.readouterr().out
    assert "irqwin-write-lock" in out and "perf" in out


def test_final_is_clean_with_fail_on_perf(tmp_path: Path) -> None:
    argv = ["check", "--impl", "final", "--runs", "60", "--irq-source", "legacy"]
    assert main([*argv, "--fail-on-perf", "--out", str(tmp_path)]) == 0


def test_scoreboard_counts_perf_only_when_asked() -> None:
    from difftest.scoreboard import score

    quiet = score(["perf-eager-irqwin"], ["random"], seeds=1, budget=2.0)
    loud = score(["perf-eager-irqwin"], ["random"], seeds=1, budget=2.0, perf=True)
    assert quiet.cells["perf-eager-irqwin", "random"].found == 0
    cell = loud.cells["perf-eager-irqwin", "random"]
    assert cell.found == 1 and set(cell.kinds) == {"irqwin-write-lock"}


def test_mutants_vendor_and_perf_flags(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["mutants", "--impls", "perf-eager-irqwin", "--searches", "random"]
    argv += ["--seeds", "1", "--budget", "2", "--fail-on-perf"]
    main(argv)
    assert "1/1" in capsys.readouterr().out
    main(
        ["mutants", "--impls", "final", "--searches", "random", "--seeds", "1"]
        + ["--budget", "1", "--vendor", "vmx"]
    )
    assert "0/1" in capsys.readouterr().out


EXPLORE = ["explore", "--vcpus", "1", "--ops", "2", "--vcpu-ops", "run,sti", "--initial"]
EXPLORE += ["PIT_REINJ"]


@pytest.mark.parametrize("flag, rc", [([], 0), (["--fail-on-perf"], 1)])
def test_explore_perf_finding_is_no_proof(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag, rc
) -> None:
    argv = [*EXPLORE, "--impl", "perf-eager-irqwin", "--out", str(tmp_path)]
    assert main(argv + flag) == rc
    out = " ".join(capsys.readouterr().out.split())
    assert "proof:" not in out
    assert "findings that are not bugs: irqwin-write-lock (perf); no proof" in out


def test_explore_final_takes_the_lazy_path(tmp_path: Path, capsys) -> None:
    argv = [*EXPLORE, "--impl", "final", "--fail-on-perf", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "proof: no bug in any schedule" in capsys.readouterr().out


def test_hypothesis_reports_perf_only_when_asked() -> None:
    from hypothesis import settings

    from difftest.impls import load
    from difftest.oracle.findings import Kind
    from difftest.property import SEARCH_SETTINGS, minimal_failure
    from difftest.shrink import shrink

    impl = load("perf-eager-irqwin")
    config = settings(SEARCH_SETTINGS, max_examples=60)
    assert minimal_failure(impl, seed=0, config=config).result is None
    found = minimal_failure(impl, seed=0, config=config, perf=True).result
    assert found is not None and found.first_bug is None
    assert found.first_failure(perf=True).kind is Kind.IRQWIN_WRITE_LOCK
    small = shrink(impl, found)  # shrinks by the perf kind, as for a bug
    assert small.first_failure(perf=True).kind is Kind.IRQWIN_WRITE_LOCK
    assert small.scenario.n_ops <= found.scenario.n_ops
    final = load("final")
    assert minimal_failure(final, seed=0, config=config, perf=True).result is None


def test_explore_fail_on_perf_writes_a_reproducer(tmp_path: Path, capsys) -> None:
    from difftest.repro import load as load_repro

    argv = [*EXPLORE, "--impl", "perf-eager-irqwin", "--fail-on-perf", "--out", str(tmp_path)]
    assert main(argv) == 1
    [path] = tmp_path.glob("*.json")
    repro = load_repro(path)
    assert repro.finding is not None and repro.finding.kind.value == "irqwin-write-lock"
    capsys.readouterr()
    assert main(["replay", str(path)]) == 0  # a perf finding fails only with --fail-on-perf
    assert "irqwin-write-lock" in capsys.readouterr().out
