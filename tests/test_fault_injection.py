"""Fault injection for the nightly path (slow): SIGKILL and SIGINT at random
points of ``check`` while it writes and of ``fuzz --jobs 2``, twenty times each
(``DIFFTEST_FAULT_ROUNDS`` overrides). After every kill: each reproducer loads
(none truncated), none written earlier changed or vanished (none lost or
overwritten); at the end a rerun completes and leaves no temporary file."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from difftest.repro import load as load_repro

ROUNDS = int(os.environ.get("DIFFTEST_FAULT_ROUNDS", "20"))
CLI = [sys.executable, "-m", "difftest.frontends.cli"]


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.glob("*.json")
        if p.is_file()
    }


def _check_folder(folder: Path, before: dict[str, str]) -> dict[str, str]:
    now = _snapshot(folder)
    for name, digest in before.items():
        assert now.get(name) == digest, f"{name} was lost or overwritten"
    for name in now:
        load_repro(folder / name)  # complete and valid, never truncated
    return now


def _kill_at_random(cmd: list[str], rnd: random.Random, latest: float, env: dict) -> int:
    p = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as at a terminal
    )
    time.sleep(rnd.uniform(0.0, latest))
    p.send_signal(rnd.choice([signal.SIGKILL, signal.SIGINT]))
    try:
        return p.wait(timeout=300)
    except subprocess.TimeoutExpired:  # SIGINT during a long shrink: finish it off
        p.kill()
        return p.wait()


@pytest.mark.slow
def test_check_killed_while_writing(tmp_path: Path) -> None:
    rnd = random.Random(1)
    out = tmp_path / "out"
    env = {**os.environ}
    seen: dict[str, str] = {}
    for i in range(ROUNDS):
        cmd = [*CLI, "check", "--impl", "prepatch", "--runs", "300", "--seed", str(i % 3)]
        _kill_at_random([*cmd, "--no-shrink", "--out", str(out)], rnd, 4.0, env)
        if out.exists():
            seen = _check_folder(out, seen)
    # A rerun writes beside what is there, and sweeps the temporaries of killed writers.
    rc = subprocess.run([*CLI, "check", "--impl", "prepatch", "--runs", "300", "--no-shrink"]
                        + ["--out", str(out)], env=env, capture_output=True).returncode  # fmt: skip
    assert rc == 1
    after = _check_folder(out, seen)
    assert len(after) == len(seen) + 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_fuzz_jobs_2_killed_at_random_points(tmp_path: Path) -> None:
    rnd = random.Random(2)
    corpus, artifacts = tmp_path / "corpus", tmp_path / "artifacts"
    env = {**os.environ, "TMPDIR": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cmd = [*CLI, "fuzz", "--impl", "prepatch", "--jobs", "2", "--time", "30"]
    cmd += ["--corpus", str(corpus), "--artifacts", str(artifacts), "--progress", "1"]
    seen: dict[str, str] = {}
    inputs: dict[str, bytes] = {}
    for _ in range(ROUNDS):
        _kill_at_random(cmd, rnd, 12.0, env)
        time.sleep(1)  # libFuzzer's jobs get SIGTERM from the kernel when difftest dies
        if artifacts.exists():
            seen = _check_folder(artifacts, seen)
        for p in corpus.iterdir() if corpus.exists() else []:
            data = p.read_bytes()
            assert inputs.setdefault(p.name, data) == data, f"corpus input {p.name} changed"
    p = subprocess.run(cmd[:-2] + ["--progress", "5"], env=env, capture_output=True, text=True)
    assert p.returncode == 1, p.stderr[-2000:]  # the rerun resumes and reports the bug
    final = _check_folder(artifacts, seen)
    assert final and all(name.startswith("prepatch-") for name in final)
    assert set(inputs) <= {q.name for q in corpus.iterdir()}  # the corpus only grows
    assert not [q for q in artifacts.iterdir() if q.name.startswith(".")]
    assert not list(tmp_path.glob("difftest-fuzz-*.sh"))
