"""The wheel is complete: built with ``pip wheel .``, installed in a fresh venv and
run outside any checkout, ``difftest fuzz`` finds prepatch's bug (the target and
the seed corpora are package data). About a minute and a half plus the network
time of the install, so it is marked slow and CI runs it as its own step
(``.ci/run``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_fuzz_from_an_installed_wheel_finds_the_prepatch_bug(tmp_path: Path) -> None:
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        env=env,
    )
    (wheel,) = dist.glob("difftest-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "-q", str(wheel)], check=True, env=env)
    work.mkdir()
    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import difftest; print(difftest.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(venv) in where and str(ROOT) not in where  # the wheel, not this checkout
    p = subprocess.run(
        [venv / "bin" / "difftest", "fuzz", "--impl", "prepatch", "--time", "20"],
        cwd=work,
        env={**env, "XDG_CACHE_HOME": str(tmp_path / "cache"), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 1, p.stderr[-2000:]
    assert "distinct findings" in p.stdout
    assert list((work / "fuzz-artifacts" / "prepatch").glob("prepatch-*.json"))
    assert not list(tmp_path.glob("difftest-fuzz-*.sh"))  # no launcher left in TMPDIR
