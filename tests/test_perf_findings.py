"""A perf finding (a write lock for IRQWIN while another reason inhibits) is a
finding in check and explore: listed, never a proof, and a failure with
--fail-on-perf. perf-eager-irqwin (the counter without its lockless peek) has no
other divergence."""

from __future__ import annotations

from pathlib import Path

import pytest

from difftest.frontends.cli import main

EXPLORE = ["explore", "--vcpus", "1", "--ops", "2", "--vcpu-ops", "run,sti"]
EXPLORE += ["--initial", "PIT_REINJ"]


@pytest.mark.parametrize("flag, rc", [([], 0), (["--fail-on-perf"], 1)])
def test_check_perf_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str], flag, rc) -> None:
    argv = ["check", "--impl", "perf-eager-irqwin", "--runs", "100", "--out", str(tmp_path)]
    assert main(argv + flag) == rc
    out = capsys.readouterr().out
    assert "irqwin-write-lock  perf" in out
    assert " bug " not in out.split("findings (runs showing each kind):")[1].split("\n\n")[0]


@pytest.mark.parametrize("flag, rc", [([], 0), (["--fail-on-perf"], 1)])
def test_explore_perf_finding_is_no_proof(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag, rc
) -> None:
    argv = [*EXPLORE, "--impl", "perf-eager-irqwin", "--out", str(tmp_path)]
    assert main(argv + flag) == rc
    out = capsys.readouterr().out
    assert "proof:" not in out
    assert "irqwin-write-lock" in out


def test_final_takes_the_lazy_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*EXPLORE, "--impl", "final", "--fail-on-perf", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "proof: no bug in any schedule" in capsys.readouterr().out


def test_scoreboard_counts_perf_only_when_asked() -> None:
    from difftest.scoreboard import score

    quiet = score(["perf-eager-irqwin"], ["random"], seeds=1, budget=2.0)
    loud = score(["perf-eager-irqwin"], ["random"], seeds=1, budget=2.0, perf=True)
    assert quiet.cells["perf-eager-irqwin", "random"].found == 0
    cell = loud.cells["perf-eager-irqwin", "random"]
    assert cell.found == 1 and set(cell.kinds) == {"irqwin-write-lock"}
