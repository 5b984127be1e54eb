"""Ctrl-C or SIGTERM during ``check`` or its shrink: the finding is written
(unshrunk first), the shrink shows progress, and the exit status is 130."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from difftest.frontends.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _start(out: Path, runs: int) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "difftest.frontends.cli", "check", "--impl", "prepatch"]
    cmd += ["--irq-source", "legacy"]  # per-vCPU ExtINTs: the lost window comes first
    return subprocess.Popen(
        [*cmd, "--runs", str(runs), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        # As at a terminal: a runner that started us with SIGINT ignored (a
        # non-interactive shell's background job) must not hand that on.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for(p: subprocess.Popen[str], words: str) -> str:
    seen = ""
    assert p.stderr is not None
    while words not in seen:
        line = p.stderr.readline()
        assert line, f"exited before {words!r}: {seen}"
        seen += line
    return seen


def _replays(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["replay", str(path)]) == 1
    assert "verdict: reproduced" in capsys.readouterr().out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_the_runs_writes_unshrunk_then_shrinks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sig: int
) -> None:
    p = _start(tmp_path, 1_000_000)
    _wait_for(p, "with findings")  # the progress line after the first bug runs
    p.send_signal(sig)
    _wait_for(p, "shrinking (start)")
    unshrunk = list(tmp_path.glob("*-unshrunk.json"))
    assert len(unshrunk) == 1  # on disk before the shrink starts
    p.send_signal(signal.SIGINT)  # a second interrupt stops the shrink
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    _replays(unshrunk[0], capsys)
    for f in tmp_path.glob("*.json"):
        _replays(f, capsys)


def test_interrupt_during_the_shrink_keeps_the_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = _start(tmp_path, 300)
    _wait_for(p, "shrinking (scenario)")  # a first smaller scenario is found
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    files = sorted(tmp_path.glob("*.json"))
    assert [f.name for f in files] == [
        "prepatch-lost-window-unshrunk.json",
        "prepatch-lost-window.json",
    ]
    for f in files:
        _replays(f, capsys)
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".")]
