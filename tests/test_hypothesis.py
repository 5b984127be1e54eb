"""The Hypothesis front-end: what the ci profile finds, and how small it shrinks.

Each broken variant is searched once with the ci profile (fixed seed, so the
verdict is stable) and its shrunk reproducer is compared with the smallest
scenario that can be written by hand, which must itself show the bug.
"""

from __future__ import annotations

import pytest
from helpers import V
from hypothesis import settings
from test_mutants import APIC_THEN_INHIBIT, MUTANTS

import difftest.frontends.pytest_plugin  # noqa: F401  (registers the profiles)
from difftest.impls import BROKEN, load
from difftest.model.scenario import Scenario
from difftest.oracle.findings import Kind
from difftest.property import Search, minimal_failure
from difftest.report.explain import preemptions
from difftest.runner import run
from difftest.schedulers import RandomScheduler
from difftest.shrink import shrink
from difftest.strategies import Bounds

CI = settings.get_profile("difftest-ci")

# The smallest scenario showing each variant's bug that we could write by hand.
SMALLEST = {
    "broken-per-vcpu-irqwin": Scenario(vcpus=(V(),), extint=(0,)),
    "broken-irqwin-from-set": Scenario(
        vcpus=(V(),), ioctls=(("clear PIT_REINJ",),), initial=("PIT_REINJ",), extint=(0,)
    ),
    "broken-zap-no-seq": APIC_THEN_INHIBIT,
    **{name: scenario for name, (scenario, *_) in MUTANTS.items()},
    # Created with AVIC inhibited (init_vmcb() intercepts CR8 writes); AVIC comes back;
    # the intercepted CR8 write reaches TASKPRI but not V_TPR.
    "broken-avic-tpr-sync": Scenario(
        vcpus=(V("tpr_high"),),
        ioctls=(("clear PIT_REINJ",),),
        initial=("PIT_REINJ",),
        irq_source="split",
    ),
}

# The APIC-page MMU races are a step or two wide. A change to that path is
# checked with the operations that reach it: APIC accesses against inhibits.
MMU_RACE = Bounds(
    max_vcpus=1,
    max_ops=2,
    vcpu_ops=("run", "apic"),
    ioctl_ops=("set PIT_REINJ", "clear PIT_REINJ"),
    initial=(),
)
# The wider interrupt model's variants: the interrupt sources their paths need.
WIDE = Bounds(irq_source="any")
HOW = {
    "broken-fault-seq-late": {"bounds": MMU_RACE},
    "broken-no-l2-dec": {"bounds": WIDE},
    "broken-cancel-no-requeue": {"bounds": WIDE},
    "broken-lapic-no-event": {"bounds": WIDE},
    "broken-stgi-no-event": {"bounds": WIDE},
    "broken-inject-gif0": {"bounds": WIDE},
    "broken-pit-reinject-twice": {"bounds": WIDE},
    # TPR writes exist on the wider sources; without resets, so that final's own
    # INIT/reset finding (README, "Findings") is not what the search reports.
    "broken-avic-tpr-sync": {"bounds": Bounds(irq_source="split")},
    # L1 with IF=0 not intercepting INTR, an ExtINT, VMRUN, #VMEXIT, STI: rare in
    # random scenarios; Hypothesis searches that scenario's schedules.
    "broken-vmexit-no-event": {"scenario": MUTANTS["broken-vmexit-no-event"][0]},
    # From Bounds(irq_source="pic") the shrinker stops at a "pic raise" op plus one vCPU
    # op (2 ops), not at the line raised before the run (1 op): search that scenario.
    "broken-pic-ack-keeps-output": {"scenario": MUTANTS["broken-pic-ack-keeps-output"][0]},
    # Two preemptions at exact points: Hypothesis searches the schedule of the
    # scenario the race needs (the fixture's ``scenario=``).
    "broken-zap-before-store": {"scenario": APIC_THEN_INHIBIT},
    # Two vCPUs in x2APIC mode and a preemption inside the memslot deletion: rare in
    # random scenarios; Hypothesis searches that scenario's schedules.
    "broken-x2apic-enabled-early": {"scenario": MUTANTS["broken-x2apic-enabled-early"][0]},
}

# The five longest ci searches (about 10 to 16 s each) run with ``pytest -m slow``.
SLOW_SEARCHES = {
    "broken-avic-tpr-sync",
    "broken-counter-plain-add",
    "broken-kick-no-wait",
    "broken-zap-after-unlock",
    "broken-zap-no-seq",
}
VARIANTS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SEARCHES else n for n in BROKEN]

_cache: dict[str, Search] = {}


def ci_search(name: str) -> Search:
    """The ci search, then the final pass every front-end applies (``shrink``)."""
    if name not in _cache:
        impl = load(name)
        s = minimal_failure(impl, config=CI, **HOW.get(name, {}))
        if s.result is not None:
            s.result = shrink(impl, s.result)
        _cache[name] = s
    return _cache[name]


def test_every_variant_has_a_handwritten_smallest_case() -> None:
    assert set(SMALLEST) == set(BROKEN)


@pytest.mark.parametrize("name", VARIANTS)
def test_ci_profile_finds_broken_variant(name: str) -> None:
    r = ci_search(name).result
    assert r is not None, f"{name} not found with the ci profile"
    assert r.first_bug is not None


def shows_bug(name: str, scenario: Scenario, seeds: int = 4000) -> bool:
    impl = load(name)
    return any(run(impl, scenario, RandomScheduler(k)).first_bug for k in range(seeds))


@pytest.mark.parametrize("name", VARIANTS)
def test_shrunk_no_longer_than_handwritten(name: str) -> None:
    hand = SMALLEST[name]
    assert shows_bug(name, hand), f"the hand-written case for {name} shows no bug"
    r = ci_search(name).result
    assert r is not None
    assert r.scenario.n_ops <= hand.n_ops, r.scenario
    assert len(r.scenario.thread_names) <= len(hand.thread_names), r.scenario


def test_prepatch_two_vcpu_window_shrinks_to_seans_interleaving() -> None:
    """2 vCPUs, at most 4 operations, at most 2 preemptions."""
    impl = load("prepatch")
    s = minimal_failure(impl, Bounds(nested=False), kinds={Kind.LOST_WINDOW}, config=CI)
    r = s.result
    assert r is not None
    assert len(r.scenario.vcpus) == 2, r.scenario
    assert r.scenario.n_ops <= 4, r.scenario
    assert preemptions(impl, r) <= 2


def test_prepatch_nested_leak_found() -> None:
    impl = load("prepatch")
    r = minimal_failure(impl, kinds={Kind.STUCK_INHIBIT}, config=CI).result
    assert r is not None
    ops = {op for v in r.scenario.vcpus for op in v.program}
    assert ops & {"vmrun", "sti_vmrun"}, r.scenario  # the leak needs a nested entry


def test_seed_double_count_found() -> None:
    """The seed double-counts a window with no race at all (see README)."""
    r = minimal_failure(load("seed"), config=CI).result
    assert r is not None and r.first_bug is not None
    assert r.first_bug.kind in (Kind.COUNTER, Kind.STUCK_INHIBIT)
    assert len(r.scenario.vcpus) == 1


@pytest.mark.parametrize("name", ["final", "reference"])
def test_ci_profile_passes_correct_versions(name: str) -> None:
    assert minimal_failure(load(name), config=CI).result is None
