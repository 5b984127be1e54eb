"""The differential property as Hypothesis sees it: a run with a bug finding
raises ``Divergence``, which carries the run and explains itself lazily.

Each finding kind raises its own subclass, so Hypothesis (which tells failures
apart by exception type and location) keeps and shrinks one minimal example per
kind instead of letting a lost window shrink into an unrelated counter bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed

from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario
from difftest.oracle.findings import SEVERITY, Kind
from difftest.report.explain import explain, preemptions
from difftest.runner import Result
from difftest.strategies import DEFAULT_BOUNDS, Bounds, executions


class Divergence(AssertionError):
    """``impl`` diverged from the specification in ``result``."""

    def __init__(self, impl: type[World], result: Result) -> None:
        super().__init__()
        self.impl = impl
        self.result = result
        self._text: str | None = None

    def __str__(self) -> str:
        # Rendering replays with tracing: only worth it for the example shown.
        if self._text is None:
            r = self.result
            f = r.first_failure(perf=True)
            # The first line is what pytest's short summary shows.
            head = f"{self.impl.name}: {f.kind.value} in {f.where}" if f else self.impl.name
            self._text = (
                f"{head}\n{explain(self.impl, r)}\n\n"
                f"minimal so far: {len(r.scenario.vcpus)} vCPUs, "
                f"{r.scenario.n_ops} operations, {preemptions(self.impl, r)} preemptions, "
                f"{r.execution.steps} steps"
            )
        return self._text


_BY_KIND: dict[Kind, type[Divergence]] = {
    k: type(f"Divergence_{k.name}", (Divergence,), {"__module__": __name__}) for k in Kind
}


def kind_error(kind: Kind) -> type[Divergence]:
    return _BY_KIND[kind]


def check(
    impl: type[World], r: Result, kinds: Iterable[Kind] | None = None, perf: bool = False
) -> None:
    """Raise the kind's ``Divergence`` if ``r`` has a bug finding (of ``kinds``);
    with ``perf``, or when ``kinds`` names a perf kind, a perf finding too."""
    wanted = None if kinds is None else set(kinds)
    perf = perf or (wanted is not None and any(SEVERITY[k] == "perf" for k in wanted))
    f = r.first_failure(perf)
    if f is not None and (wanted is None or f.kind in wanted):
        raise _BY_KIND[f.kind](impl, r)


# Hypothesis's explain phase re-runs a failure hundreds of times to say which
# choices mattered; the interleaving table says that better, far faster.
PHASES = tuple(p for p in Phase if p != Phase.explain)

SEARCH_SETTINGS = settings(
    max_examples=500,
    deadline=None,
    database=None,
    verbosity=Verbosity.quiet,
    report_multiple_bugs=False,
    phases=PHASES,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Search:
    """What a Hypothesis search saw: the shrunk failure, if any, and how many
    examples ran before the first failing one."""

    result: Result | None
    examples_to_first: int | None
    examples: int


def minimal_failure(
    impl: type[World],
    bounds: Bounds = DEFAULT_BOUNDS,
    *,
    scenario: Scenario | None = None,
    kinds: Iterable[Kind] | None = None,
    seed: int | None = 0,
    config: settings = SEARCH_SETTINGS,
    perf: bool = False,
) -> Search:
    """Search with Hypothesis (scenario and schedule, or only the schedule of a
    given ``scenario``) and shrink the first failure.

    The seed is fixed; with ``SEARCH_SETTINGS`` (no example database) the same
    call gives the same answer. With a database, a failure saved by an earlier
    run is replayed first.
    """
    wanted = None if kinds is None else frozenset(kinds)
    seen = Search(None, None, 0)

    def prop(r: Result) -> None:
        seen.examples += 1
        try:
            check(impl, r, wanted, perf)
        except Divergence:
            if seen.examples_to_first is None:
                seen.examples_to_first = seen.examples
            raise

    # One example-database entry per implementation and search space.
    prop._hypothesis_internal_add_digest = repr(  # type: ignore[attr-defined]
        (impl.__module__, impl.__qualname__, bounds, scenario, sorted(wanted or ()))
        + (("perf",) if perf else ())
    ).encode()
    # One result, reported by difftest (table and reproducer), not as a repr.
    config = settings(config, report_multiple_bugs=False, verbosity=Verbosity.quiet)
    test = config(given(executions(impl, bounds, scenario))(prop))
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    try:
        test()
    except Divergence as e:
        seen.result = e.result
    return seen
