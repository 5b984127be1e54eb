"""The exit-status contract (difftest.errors) for every subcommand: 2 for bad
arguments (one line, before any work), 3 for an exception in a plugin (its own
frames only), 4 for a search that ran out of time before it could say clean."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from difftest.errors import EXIT_INCOMPLETE, EXIT_INTERNAL, EXIT_USAGE
from difftest.frontends.cli import _parser, main

ROOT = Path(__file__).resolve().parent.parent

BAD_ARGS = {
    "runs-0": (["check", "--impl", "final", "--runs", "0"], "--runs 0"),
    "runs-negative": (["check", "--impl", "final", "--runs", "-5"], "--runs -5"),
    "time-negative": (["check", "--impl", "final", "--time", "-1"], "--time -1"),
    "time-nan": (["check", "--impl", "final", "--time", "nan"], "--time nan"),
    "time-inf": (["check", "--impl", "final", "--time", "inf"], "--time inf"),
    "width-0": (["check", "--impl", "final", "--width", "0"], "--width 0"),
    "vcpus-10000": (["check", "--impl", "final", "--vcpus", "10000"], "between 1 and 64"),
    "ops-0": (["check", "--impl", "final", "--ops", "0"], "--ops 0"),
    "replay-width": (["replay", "x.json", "--width", "-3"], "--width -3"),
    "explore-depth-400": (["explore", "--impl", "final", "--pct", "3", "--depth", "400"], "400"),
    "explore-time-nan": (["explore", "--impl", "final", "--time", "nan"], "--time nan"),
    "explore-vcpus-9": (["explore", "--impl", "final", "--vcpus", "9"], "between 1 and 8"),
    "explore-empty-alphabet": (
        ["explore", "--impl", "final", "--vcpu-ops", ","],
        "--vcpu-ops names no operation",
    ),
    "explore-empty-ioctls": (
        ["explore", "--impl", "final", "--ioctls", "1", "--ioctl-ops", ""],
        "--ioctl-ops names no operation",
    ),
    "explore-exotic-digit": (
        ["explore", "--impl", "final", "--ioctls", "1", "--ioctl-ops", "extint \u00b2"],
        "no such vCPU",
    ),
    "fuzz-time-nan": (["fuzz", "--impl", "final", "--time", "nan"], "--time nan"),
    "fuzz-seed-2**70": (["fuzz", "--impl", "final", "--seed", str(2**70)], "0 and 4294967295"),
    "fuzz-progress-negative": (["fuzz", "--impl", "final", "--progress", "-1"], "--progress"),
    "fuzz-jobs-0": (["fuzz", "--impl", "final", "--jobs", "0"], "--jobs 0"),
    "fuzz-merge-vcpus": (["fuzz-merge", "--impl", "final", "--vcpus", "0"], "--vcpus 0"),
    "mutants-seeds": (["mutants", "--seeds", "0"], "--seeds 0"),
    "mutants-budget-nan": (["mutants", "--budget", "nan"], "--budget nan"),
    "threads-cap": (["check", "--impl", "final", "--vcpus", "64", "--ioctls", "100"], "at most"),
    "unknown-impl": (["check", "--impl", "nosuch"], "unknown implementation"),
    "out-name-too-long": (["check", "--impl", "final", "--out", "x" * 5000], "too long"),
    "out-nul-byte": (["check", "--impl", "final", "--out", "a\0b"], "null byte"),
    "replay-nul-byte": (["replay", "a\0b"], "null byte"),
    "replay-raw-nul-byte": (["replay", "--raw", "a\0b", "--impl", "final"], "null byte"),
    "replay-missing": (["replay", "no/such/file.json"], "No such file"),
    "no-subcommand": ([], "required"),
}


def _one_line(err: str) -> str:
    err = err.strip()
    assert err.startswith("difftest: "), err
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("case", list(BAD_ARGS))
def test_bad_arguments_exit_2_with_one_line_before_any_work(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, needle = BAD_ARGS[case]
    assert main(argv) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""  # nothing ran
    assert needle in _one_line(err)


@pytest.mark.parametrize(
    "flag, target",
    [("--out", "file"), ("--out", "under-file"), ("--out", "proc"), ("--corpus", "file")],
)
def test_output_paths_are_checked_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, target: str
) -> None:
    f = tmp_path / "taken"
    f.write_text("keep me")
    path = {"file": f, "under-file": f / "sub", "proc": Path("/proc/difftest-no-such")}[target]
    cmd = ["check", "--impl", "prepatch", "--runs", "300", "--no-shrink"]
    if flag == "--corpus":
        cmd = ["fuzz", "--impl", "prepatch", "--time", "5"]
    assert main([*cmd, flag, str(path)]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == "" and flag in _one_line(err)
    assert f.read_text() == "keep me"


def test_every_subcommand_help_states_the_contract() -> None:
    sub = next(a for a in _parser()._actions if a.dest == "cmd")
    for name, p in sub.choices.items():  # type: ignore[union-attr]
        text = p.format_help()
        for words in ("0 clean", "1 bug finding", "2 usage", "3 internal", "4 incomplete"):
            assert words in " ".join(text.split()), (name, words)


def _plugin(tmp_path: Path, body: str) -> str:
    path = tmp_path / "plug.py"
    path.write_text(textwrap.dedent(body))
    return f"{path}:Plug"


RAISES = """
    from difftest.impls.final import Final

    def helper():
        raise RuntimeError("plugin bug")

    class Plug(Final):
        def svm_inject_irq(self, vcpu, reinjected):
            helper()
            yield from Final.svm_inject_irq(self, vcpu, reinjected)
"""
EXITS_ON_IMPORT = """
    import sys
    sys.exit(0)
"""
EXITS_IN_RUN = """
    import sys
    from difftest.impls.final import Final

    class Plug(Final):
        def svm_inject_irq(self, vcpu, reinjected):
            sys.exit(0)
            yield
"""


@pytest.mark.parametrize("body", [RAISES, EXITS_ON_IMPORT, EXITS_IN_RUN])
def test_an_exception_in_a_plugin_is_exit_3_with_its_own_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str
) -> None:
    spec = _plugin(tmp_path, body)
    assert main(["check", "--impl", spec, "--runs", "200", "--out", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "plug.py" in err and "plugin frames only" in err
    assert "/difftest/" not in err  # no frame of difftest itself
    assert err.strip().splitlines()[-1].startswith("difftest: ")


def test_explore_out_of_time_while_enumerating_exits_4() -> None:
    # 8 vCPUs: each scenario is canonicalised over 40,320 permutations, so
    # enumeration alone takes far longer than the budget.
    p = subprocess.run(
        [sys.executable, "-m", "difftest.frontends.cli", "explore", "--impl", "final"]
        + ["--vcpus", "8", "--time", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert p.returncode == EXIT_INCOMPLETE, p.stderr
    assert "incomplete" in p.stdout


def test_explore_out_of_time_while_searching_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explore", "--impl", "final", "--vcpus", "2", "--ops", "2", "--time", "0.5"]
    assert main(argv) == EXIT_INCOMPLETE
    assert "incomplete" in capsys.readouterr().out


def test_internal_error_of_difftest_is_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import difftest.frontends.cli as cli

    def boom(*a: object, **k: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(cli, "random_check", boom)
    assert main(["check", "--impl", "final", "--runs", "1"]) == EXIT_INTERNAL
    assert "internal error" in capsys.readouterr().err.splitlines()[-1]
