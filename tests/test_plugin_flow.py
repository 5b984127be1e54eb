"""The way back from a plugin's finding: reproducers that resolve from any folder,
replay that never imports a file the command line did not name, and the pytest
plugin's report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from difftest.frontends.cli import main

ROOT = Path(__file__).resolve().parent.parent
VARIANT = ROOT / "examples" / "my_variant.py"

# Importing this file leaves a mark: replay must not do it unasked.
MARKING = """
from pathlib import Path

Path(MARKER).write_text("imported")
"""


def _found(tmp_path: Path, monkeypatch, capsys) -> tuple[Path, Path, Path]:
    """check a marking copy of the example plugin from a sub-folder; returns the
    plugin, its import marker and the reproducer."""
    marker = tmp_path / "imported"
    plugin = tmp_path / "work" / "variant.py"
    plugin.parent.mkdir()
    plugin.write_text(MARKING.replace("MARKER", repr(str(marker))) + VARIANT.read_text())
    monkeypatch.chdir(plugin.parent)
    assert (
        main(["check", "--impl", "variant.py:NoFlagClear", "--runs", "300", "--no-coverage"]) == 1
    )
    capsys.readouterr()
    (repro,) = (plugin.parent / "difftest-out").glob("*.json")
    marker.unlink()
    return plugin, marker, repro


def test_plugin_reproducer_and_its_replay(tmp_path: Path, monkeypatch, capsys) -> None:
    """One plugin finding (its search is the slow part), then every replay rule."""
    plugin, marker, repro = _found(tmp_path, monkeypatch, capsys)
    # The reproducer stores the absolute plugin spec and the file's hash.
    d = json.loads(repro.read_text())
    assert d["impl"] == f"{plugin}:NoFlagClear"
    assert len(d["impl_sha256"]) == 64
    # Replay imports no code a file names: without --impl it refuses, imports nothing.
    monkeypatch.chdir(tmp_path)
    assert main(["replay", str(repro)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "replay imports no code a file names: pass --impl" in err
    assert not marker.exists()
    # From another folder, with --impl, it reproduces; an edited plugin is warned about.
    assert main(["replay", str(repro), "--impl", f"{plugin}:NoFlagClear"]) == 1
    out, err = capsys.readouterr()
    assert "verdict: reproduced" in out and "changed since" not in err
    plugin.write_text(plugin.read_text() + "\n# edited\n")
    assert main(["replay", str(repro), "--impl", f"{plugin}:NoFlagClear"]) == 1
    assert "changed since the reproducer was written" in capsys.readouterr().err


@pytest.fixture
def run(pytester: pytest.Pytester, request: pytest.FixtureRequest):
    extra = (
        []
        if request.config.pluginmanager.has_plugin("difftest")
        else ["-p", "difftest.frontends.pytest_plugin"]
    )

    def go(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess(*extra, "-p", "no:cacheprovider", *args)

    return go


def test_pytest_report_and_its_reproducer(
    pytester: pytest.Pytester, run, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    spec = f"{VARIANT}:NoFlagClear"
    pytester.makepyfile(
        test_mine=f"""
        from hypothesis import given, settings, strategies as st

        def test_my_variant(difftest):
            difftest.check({spec!r}, vcpus=2, ops=3)

        @given(st.integers())
        def test_users_own(x):
            # --difftest-profile is for difftest's searches, not the user's tests
            assert settings().max_examples == 100
        """
    )
    r = run(
        "--difftest-out", "out", "--difftest-profile", "nightly", "-rf", "--difftest-impl", spec
    )
    r.assert_outcomes(failed=1, passed=1)
    text = r.stdout.str()
    assert f"difftest: implementations under test: {spec}; profile nightly" in text
    r.stdout.fnmatch_lines(
        ["FAILED test_mine.py::test_my_variant - *COUNTER: no-flag-clear: counter in atomic_dec"]
    )
    assert "pytest_plugin.py" not in text
    (repro,) = (pytester.path / "out").glob("*.json")
    assert json.loads(repro.read_text())["impl"] == spec
    assert main(["replay", str(repro), "--impl", spec]) == 1
    assert "verdict: reproduced" in capsys.readouterr().out


def test_pytest_reports_uncovered_change(pytester: pytest.Pytester, run) -> None:
    plugin = pytester.path / "unreachable.py"
    plugin.write_text(
        "from difftest.impls.final import Final\n"
        "from difftest.impls.prepatch import Prepatch\n\n\n"
        "class Unreachable(Final):\n"
        '    name = "unreachable"\n\n'
        "    def svm_set_vintr(self, vcpu):\n"
        "        if vcpu.guest_mode and not vcpu.guest_mode:\n"
        "            vcpu.v_irq = False\n"
        "        yield from Prepatch.svm_set_vintr(self, vcpu)\n"
    )
    pytester.makepyfile(
        test_mine=f"""
        def test_unreachable(difftest):
            difftest.check({str(plugin) + ":Unreachable"!r}, vcpus=1, ops=2, examples=50)
        """
    )
    r = run()
    r.assert_outcomes(passed=1)
    r.stdout.fnmatch_lines(["*difftest: coverage of the change*", "*svm_set_vintr:10  never ran*"])
    r = run("--difftest-require-coverage")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*UncoveredChange: clean, but 1 line and 1 branch*"])
