"""The pytest plugin as a user meets it: options, profiles, the fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VARIANT = ROOT / "examples" / "my_variant.py"


@pytest.fixture
def run(pytester: pytest.Pytester, request: pytest.FixtureRequest):
    # Installed, the plugin loads through its pytest11 entry point; from a
    # source tree it has to be named.
    extra = (
        []
        if request.config.pluginmanager.has_plugin("difftest")
        else [
            "-p",
            "difftest.frontends.pytest_plugin",
        ]
    )

    def go(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess(*extra, "-p", "no:cacheprovider", *args)

    return go


def test_fixture_fails_with_table_and_reproducer(pytester: pytest.Pytester, run) -> None:
    pytester.makepyfile(
        test_mine=f"""
        def test_my_variant(difftest):
            difftest.check({str(VARIANT) + ":NoFlagClear"!r})
        """
    )
    r = run("--difftest-out", "out")
    r.assert_outcomes(failed=1)
    text = r.stdout.str()
    assert "no-flag-clear diverges from the reference: counter" in text
    assert "digest:" in text and "reproducer:" in text  # the causal digest, as in check
    files = sorted((pytester.path / "out").glob("*.json"))
    assert len(files) == 1
    d = json.loads(files[0].read_text())
    assert d["format"] == "difftest-repro" and d["finding"]["kind"] == "counter"
    assert not (pytester.path / "corpus" / "regressions").exists()


def test_save_regressions_flag(pytester: pytest.Pytester, run) -> None:
    pytester.makepyfile(
        test_mine="""
        def test_seed(difftest):
            difftest.check("seed", vcpus=1, ops=1, examples=300)
        """
    )
    r = run("--difftest-save-regressions", "--difftest-out", "out")
    r.assert_outcomes(failed=1)
    assert len(list((pytester.path / "corpus" / "regressions").glob("seed-*.json"))) == 1


def test_fixture_passes_correct_version(pytester: pytest.Pytester, run) -> None:
    pytester.makepyfile(
        test_mine="""
        def test_final(difftest):
            difftest.check("final", vcpus=2, ops=2, examples=100)
            difftest.check_sequential("final", vcpus=2, examples=30)
        """
    )
    run().assert_outcomes(passed=1)


def test_impl_option_parametrizes(pytester: pytest.Pytester, run) -> None:
    pytester.makepyfile(
        test_mine="""
        def test_each(difftest_impl, difftest):
            difftest.check(difftest_impl, vcpus=1, ops=1, examples=300)
        """
    )
    r = run("--difftest-impl", "final", "--difftest-impl", "seed", "-v")
    r.assert_outcomes(passed=1, failed=1)
    r.stdout.fnmatch_lines(["*test_each?final? PASSED*", "*test_each?seed? FAILED*"])


def test_unknown_impl_is_a_usage_error(pytester: pytest.Pytester, run) -> None:
    pytester.makepyfile(test_mine="def test_x(difftest_impl):\n    pass\n")
    r = run("--difftest-impl", "nosuch")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--difftest-impl: unknown implementation 'nosuch'*"])


def test_profiles_registered() -> None:
    from hypothesis import settings

    import difftest.frontends.pytest_plugin  # noqa: F401

    ci = settings.get_profile("difftest-ci")
    nightly = settings.get_profile("difftest-nightly")
    assert ci.deadline is None and nightly.max_examples > ci.max_examples


def test_fail_on_perf_option(pytester: pytest.Pytester, run) -> None:
    pytester.makepyfile(
        test_mine="""
        def test_perf(difftest):
            difftest.check("perf-eager-irqwin", vcpus=1, ops=2, examples=60)
        """
    )
    run().assert_outcomes(passed=1)  # a perf finding alone passes
    r = run("--difftest-fail-on-perf", "--difftest-out", "out")
    r.assert_outcomes(failed=1)
    assert "irqwin-write-lock" in r.stdout.str()
    [f] = (pytester.path / "out").glob("*.json")
    assert json.loads(f.read_text())["finding"]["kind"] == "irqwin-write-lock"
