"""Result files: names claimed atomically (no overwrite, even by concurrent
processes), temporary files cleaned up, the umask honoured."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from difftest.files import claim_new, sweep_temps, write_atomic, write_new
from difftest.repro import Repro, save_new
from difftest.repro import load as load_repro

ROOT = Path(__file__).resolve().parent.parent
KNOWN = ROOT / "corpus" / "known" / "prepatch-two-vcpu-window.json"
WRITERS, WRITES = 8, 40


def _writer(directory: str, writer: int, start: multiprocessing.synchronize.Event) -> None:
    base = load_repro(KNOWN)
    start.wait()
    for i in range(WRITES):
        assert base.finding is not None
        f = type(base.finding)(**{**base.finding.__dict__, "message": f"writer {writer} #{i}"})
        save_new(Path(directory), Repro(base.impl, base.scenario, base.schedule, f))


def test_concurrent_writers_never_overwrite_each_other(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    files = sorted(tmp_path.iterdir())
    assert all(not f.name.startswith(".") for f in files)  # no temporary file left
    messages = {load_repro(f).finding.message for f in files}  # type: ignore[union-attr]
    assert len(files) == WRITERS * WRITES
    assert messages == {f"writer {w} #{i}" for w in range(WRITERS) for i in range(WRITES)}


def test_write_new_refuses_an_existing_name(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    assert write_new(path, "first")
    assert not write_new(path, "second")
    assert path.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_claim_new_skips_taken_names(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("old")
    p = claim_new(tmp_path, lambda n: "x.json" if n == 1 else f"x-{n}.json", "new")
    assert p.name == "x-2.json" and (tmp_path / "x.json").read_text() == "old"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        a = save_new(tmp_path, load_repro(KNOWN))
        write_atomic(tmp_path / "b.txt", "table")
    finally:
        os.umask(old)
    assert stat.S_IMODE(a.stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == mode


def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*a: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "r.json", "data")
    assert list(tmp_path.iterdir()) == []


def test_temporary_files_of_dead_writers_are_swept(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=lambda: None)
    p.start()
    p.join()
    assert p.pid is not None
    dead = tmp_path / f".r.json.{p.pid}.0123abcd.tmp"
    live = tmp_path / f".r.json.{os.getppid()}.0123abcd.tmp"  # a live process: kept
    mine = tmp_path / ".unrelated.tmp"  # not of our pattern: kept
    for f in (dead, live, mine):
        f.write_text("partial")
    assert sweep_temps(tmp_path) == [dead]
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted([live.name, mine.name])
    save_new(tmp_path, load_repro(KNOWN))  # saving sweeps too
    assert json.loads(next(tmp_path.glob("*.json")).read_text())["format"] == "difftest-repro"
