"""pytest plugin (entry point ``pytest11``): check implementations from pytest.

Options: ``--difftest-impl NAME|FILE.py:CLASS`` (repeatable) parametrizes every
test that takes the ``difftest_impl`` fixture; ``--difftest-profile ci|nightly``
picks the Hypothesis settings of the ``difftest`` fixture's searches only (the
session's own Hypothesis tests keep theirs); ``--difftest-save-regressions``
also saves each failure's reproducer under ``corpus/regressions/``;
``--difftest-require-coverage`` fails a clean search of a plugin whose change
did not fully run.

A user's test file says what to check in a few lines::

    def test_my_variant(difftest):
        difftest.check("my_variant.py:NoFlagClear", vcpu_ops=("run", "sti", "cli"))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import run_state_machine_as_test

from difftest.impls import ImplError, load, plugin_sha256, spec_of
from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario
from difftest.oracle.findings import Kind
from difftest.plugin.change_coverage import ChangeCoverage, plugin_file, report, summarize
from difftest.property import PHASES, Divergence, Search, kind_error, minimal_failure
from difftest.repro import Repro, save_new
from difftest.runner import Result
from difftest.shrink import shrink
from difftest.stateful import machine
from difftest.strategies import Bounds

_COMMON = {
    "deadline": None,  # run time is the model's, not the machine's: no flaky timeouts
    "phases": PHASES,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
# ci: bounded and stable; the fixture's searches use a fixed seed in it.
settings.register_profile(
    "difftest-ci", max_examples=1500, stateful_step_count=8, print_blob=True, **_COMMON
)
# nightly: many more examples and longer sequential programs, fresh seeds.
settings.register_profile(
    "difftest-nightly", max_examples=50_000, stateful_step_count=25, **_COMMON
)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("difftest", "difftest: differential testing of KVM's APICv inhibits")
    g.addoption(
        "--difftest-impl",
        action="append",
        default=[],
        metavar="NAME|FILE.py:CLASS",
        help="implementation for tests taking the difftest_impl fixture (repeatable)",
    )
    g.addoption("--difftest-profile", choices=("ci", "nightly"), default=None)
    g.addoption(
        "--difftest-save-regressions",
        action="store_true",
        help="also save failures' reproducers under corpus/regressions/",
    )
    g.addoption("--difftest-out", default="difftest-out", help="reproducer directory")
    g.addoption(
        "--difftest-fail-on-perf",
        action="store_true",
        help="a perf finding (a write lock the lazy IRQ-window path avoids) fails the search too",
    )
    g.addoption(
        "--difftest-require-coverage",
        action="store_true",
        help="fail a clean search of a plugin if part of its change never ran",
    )


def pytest_configure(config: pytest.Config) -> None:
    for spec in config.getoption("--difftest-impl"):
        try:
            load(spec)
        except ImplError as e:
            raise pytest.UsageError(f"--difftest-impl: {e}") from None
    config.stash[_GAPS] = []


def pytest_report_header(config: pytest.Config) -> str:
    specs = config.getoption("--difftest-impl") or ["final (default)"]
    profile = config.getoption("--difftest-profile") or "ci"
    return f"difftest: implementations under test: {', '.join(specs)}; profile {profile}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    gaps = terminalreporter.config.stash.get(_GAPS, [])
    if gaps:
        terminalreporter.section("difftest: coverage of the change")
        for nodeid, text in gaps:
            terminalreporter.write_line(f"{nodeid}: {text}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "difftest_impl" in metafunc.fixturenames:
        specs = metafunc.config.getoption("--difftest-impl") or ["final"]
        metafunc.parametrize("difftest_impl", [load(s) for s in specs], ids=specs)


_GAPS = pytest.StashKey[list[tuple[str, str]]]()


class UncoveredChange(AssertionError):
    """A clean search of a plugin whose change did not fully run."""


class Checker:
    """What the ``difftest`` fixture gives a test: searches that fail the test
    with the minimal interleaving and leave its reproducer behind."""

    def __init__(self, config: pytest.Config, nodeid: str = "") -> None:
        self.config = config
        self.nodeid = nodeid
        self.require_coverage = config.getoption("--difftest-require-coverage")
        self.perf = config.getoption("--difftest-fail-on-perf")
        self.profile = config.getoption("--difftest-profile") or "ci"
        self.out = Path(config.getoption("--difftest-out"))
        self.regressions = (
            Path(config.rootpath) / "corpus" / "regressions"
            if config.getoption("--difftest-save-regressions")
            else None
        )

    def _settings(self, examples: int | None) -> settings:
        base = settings.get_profile(f"difftest-{self.profile}")
        return base if examples is None else settings(base, max_examples=examples)

    def check(
        self,
        impl: str | type[World],
        *,
        vcpus: int = 3,
        ioctls: int = 1,
        ops: int = 4,
        vcpu_ops: Iterable[str] | None = None,
        ioctl_ops: Iterable[str] | None = None,
        nested: bool = True,
        vendor: str = "svm",
        irq_source: str = "legacy",
        resets: bool = False,
        kinds: Iterable[Kind] | None = None,
        examples: int | None = None,
        scenario: Scenario | None = None,
        fail_on_perf: bool | None = None,
    ) -> None:
        """Concurrent search: scenarios within the bounds, under any schedule.

        ``examples`` overrides the profile's number of examples; ``scenario``
        fixes the operations (for a race you know), and only the schedule is
        searched. ``irq_source`` "any" draws where ExtINTs come from (pic, split,
        xen) with the rest of the scenario; ``resets`` adds userspace resets and
        INIT/SIPI IPIs to the wider sources' alphabets. ``fail_on_perf`` (default: the
        ``--difftest-fail-on-perf`` option) fails on a perf finding too."""
        __tracebackhide__ = True
        cls = load(impl) if isinstance(impl, str) else impl
        bounds = Bounds(
            max_vcpus=vcpus,
            max_ioctl_threads=ioctls,
            max_ops=ops,
            nested=nested,
            vendor=vendor,
            vcpu_ops=tuple(vcpu_ops) if vcpu_ops is not None else None,
            ioctl_ops=tuple(ioctl_ops) if ioctl_ops is not None else None,
            irq_source=irq_source,
            resets=resets,
        )
        # ci replays the same examples on every run; nightly explores afresh.
        seed = 0 if self.profile == "ci" else None
        cov = ChangeCoverage(cls) if plugin_file(cls) is not None else None

        def search(target: type[World]) -> Search:
            return minimal_failure(
                target,
                bounds,
                scenario=scenario,
                kinds=kinds,
                seed=seed,
                config=self._settings(examples),
                perf=self.perf if fail_on_perf is None else fail_on_perf,
            )

        with cov if cov is not None else contextlib.nullcontext():
            s = search(cls)
        if s.result is not None:
            raise self._failure(impl, cls, shrink(cls, s.result))
        self._coverage(cov, search)

    def _coverage(self, cov: ChangeCoverage | None, search: Callable[[type], object]) -> None:
        """Report (or, asked to, fail on) what of a plugin's change the search left out."""
        __tracebackhide__ = True
        if cov is None:
            return
        if cov.base_side.shadow is not None:
            search(cov.base_side.shadow)
        gaps = cov.gaps()
        if not gaps:
            return
        text = report(cov, gaps)
        self.config.stash[_GAPS].append((self.nodeid, text))
        if self.require_coverage:
            raise UncoveredChange(f"clean, but {summarize(gaps)}\n{text}")

    def check_sequential(
        self,
        impl: str | type[World],
        *,
        vcpus: int = 3,
        nested: bool = True,
        examples: int | None = None,
    ) -> None:
        """Operation by operation against ``reference``, no races: a state machine."""
        __tracebackhide__ = True
        cls = load(impl) if isinstance(impl, str) else impl
        m = machine(cls, Bounds(max_vcpus=vcpus, nested=nested))
        if self.profile == "ci":
            m = hypothesis_seed(0)(m)
        try:
            run_state_machine_as_test(
                m, settings=settings(self._settings(examples), report_multiple_bugs=False)
            )
        except Divergence as e:
            raise self._failure(impl, cls, e.result) from None

    def _failure(self, spec: str | type[World], cls: type[World], r: Result) -> Divergence:
        name = spec_of(cls)  # resolves from any folder: difftest replay reads it
        f = r.first_failure(perf=True)
        assert f is not None
        repro = Repro(name, r.scenario, r.execution.schedule, f, plugin_sha256(name))
        paths = [save_new(d, repro) for d in self._dirs()]
        e = kind_error(f.kind)(cls, r)
        e.add_note("reproducer: " + ", ".join(str(p) for p in paths))
        return e

    def _dirs(self) -> list[Path]:
        return [self.out] + ([self.regressions] if self.regressions is not None else [])


@pytest.fixture
def difftest(request: pytest.FixtureRequest) -> Checker:
    return Checker(request.config, request.node.nodeid)
