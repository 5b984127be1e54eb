"""Fuzzing edges: libFuzzer failing to start is exit 3 with its own line, no
launcher is left in the temporary folder, and raw crash inputs are triaged
(``difftest triage``) and replayed (``replay --raw``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from test_fuzz import TWO_VCPUS, lost_window_inputs

import difftest.frontends.fuzz_cmd as fuzz_cmd
from difftest.frontends.cli import main
from difftest.fuzz import target

TWO = ["--vcpus", "2", "--no-nested", "--irq-source", "split"]  # TWO_VCPUS on the command line


def test_libfuzzer_start_up_failure_is_exit_3_quoting_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = fuzz_cmd.target_command
    # A flag libFuzzer cannot parse (what --seed 2**70 used to pass through).
    monkeypatch.setattr(
        fuzz_cmd, "target_command", lambda *a, **k: [*real(*a, **k), f"-seed={2**70}"]
    )
    argv = ["fuzz", "--impl", "final", "--jobs", "1", "--time", "5"]
    argv += ["--corpus", str(tmp_path / "c"), "--artifacts", str(tmp_path / "a")]
    assert main(argv) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("difftest: libFuzzer failed") and "stoul" in err, err


def test_fork_mode_launcher_is_reused_and_not_in_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, cache = tmp_path / "tmp", tmp_path / "cache"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    ours = argparse.Namespace(
        impl="final", vcpus=3, ops=4, ioctls=1, vendor="svm", feedback="all",
        no_feedback=False, no_nested=False, irq_source="any",
    )  # fmt: skip
    a = target._launcher("t.py", ours)
    b = target._launcher("t.py", ours)
    assert a == b and Path(a).parent == cache / "difftest"
    assert list(tmp.iterdir()) == []
    assert Path(a).read_text().startswith("#!/bin/sh\nexec ")


@pytest.fixture(scope="module")
def crashes() -> list[bytes]:
    return lost_window_inputs(2)


def test_triage_turns_raw_inputs_into_one_reproducer_per_finding(
    tmp_path: Path,
    crashes: list[bytes],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The command's plumbing; the shrink it calls is triage_one's, tested in test_fuzz.py.
    monkeypatch.setattr("difftest.fuzz.triage.shrink", lambda impl, r: r)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i, data in enumerate([*crashes, crashes[0]]):  # a duplicate byte for byte too
        (inbox / f"clusterfuzz-testcase-{i}").write_bytes(data)
    out = tmp_path / "out"
    assert main(["triage", str(inbox), "--impl", "prepatch", *TWO, "--out", str(out)]) == 1
    files = sorted(p.name for p in out.iterdir())
    assert files == ["prepatch-lost-window@quiescence.json", "prepatch-lost-window@quiescence.txt"]
    capsys.readouterr()
    assert main(["replay", str(out / files[0])]) == 1
    assert "verdict: reproduced" in capsys.readouterr().out
    # Again, one file at a time: deduplicated against what is there.
    one = inbox / "clusterfuzz-testcase-1"
    assert main(["triage", str(one), "--impl", "prepatch", *TWO, "--out", str(out)]) == 1
    assert "known" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == files


def test_triage_bad_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", str(tmp_path / "none"), "--impl", "prepatch"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["triage", str(tmp_path), "--impl", "prepatch"]) == 2
    assert "no crash inputs" in capsys.readouterr().err


def test_replay_raw(tmp_path: Path, crashes: list[bytes], capsys: pytest.CaptureFixture[str]):
    f = tmp_path / "crash-1"
    f.write_bytes(crashes[0])
    assert main(["replay", str(f)]) == 2  # not a reproducer: one line that says what to do
    err = capsys.readouterr().err.strip()
    assert "replay --raw" in err and "\n" not in err
    assert main(["replay", "--raw", str(f)]) == 2
    assert "needs --impl" in capsys.readouterr().err
    params = fuzz_cmd.GenParams()
    assert params == fuzz_cmd.GenParams()  # replay --raw decodes with the default bounds
    big = lost_window_inputs_default()
    f.write_bytes(big)
    assert main(["replay", "--raw", str(f), "--impl", "prepatch"]) == 1
    assert "verdict: findings" in capsys.readouterr().out
    assert main(["replay", "--raw", str(f), "--impl", "final"]) == 0


def lost_window_inputs_default() -> bytes:
    """An input on which prepatch shows a bug under the default bounds."""
    from difftest.fuzz.decode import run_bytes
    from difftest.fuzz.seeds import record
    from difftest.impls import load

    impl = load("prepatch")
    for seed in range(3000):
        data = record(impl, seed, fuzz_cmd.GenParams())
        if run_bytes(impl, data).first_bug is not None:
            return data
    raise AssertionError("no buggy input among 3000 random runs")


assert TWO_VCPUS.vcpus == 2 and not TWO_VCPUS.nested and TWO_VCPUS.irq_source == "split"


def test_resets_reach_the_target_and_its_decoder() -> None:
    """``fuzz --resets`` passes the flag to the Atheris target, whose decoder then
    draws userspace resets and INIT/SIPI IPIs (never without it)."""
    from difftest.fuzz.decode import decode

    p = argparse.ArgumentParser()
    fuzz_cmd._common(p)
    args = p.parse_args(["--impl", "final", "--resets"])
    cmd = fuzz_cmd.target_command(args)
    assert "--resets" in cmd
    ours, _ = target.split_args(["t.py", *cmd[2:]], None)
    assert ours.resets and fuzz_cmd._params(args).resets

    def ops(resets: bool) -> set[str]:
        params = fuzz_cmd._params(p.parse_args(["--impl", "final"] + ["--resets"] * resets))
        seen: set[str] = set()
        for i in range(400):
            s, _ = decode(bytes((i * 37 + k * 11) % 256 for k in range(64)), params)
            seen |= {op.split()[0] for t in (*[v.program for v in s.vcpus], *s.ioctls) for op in t}
        return seen

    assert {"reset", "init", "sipi"} <= ops(True)
    assert not {"reset", "init", "sipi"} & ops(False)
