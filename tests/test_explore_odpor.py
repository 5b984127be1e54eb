"""Optimal DPOR (wakeup trees, ``difftest.explore.odpor``): the same outcomes,
finding kinds and equivalence classes as naive enumeration of every schedule,
and no execution abandoned by a sleep set where a race reversal is known to be
enabled."""

from __future__ import annotations

import pytest

from difftest.engine.points import Kfunc, wr
from difftest.engine.sync import Mutex, lock, unlock
from difftest.explore import explore
from difftest.explore.dpor import Explorer, Outcome
from difftest.explore.odpor import Branch, OptimalExplorer, tree_insert, weak_initial
from difftest.explore.stateful import explore_stateful
from difftest.explore.track import Footprint
from difftest.impls import BUILTIN
from difftest.impls.final import Final
from difftest.model.scenario import Scenario
from difftest.oracle.findings import Kind
from tests.helpers import SEAN, ZAP_NO_SEQ, V, impl_cls

TINY = [
    Scenario(vcpus=(V(),), ioctls=(("set PIT_REINJ",),)),
    Scenario(vcpus=(V(),), ioctls=(("extint 0",),)),
    Scenario(vcpus=(V(),), ioctls=(("clear PIT_REINJ",),), initial=("PIT_REINJ",)),
]
RUN_SET = Scenario(vcpus=(V("run"),), ioctls=(("set PIT_REINJ",),), extint=(0,))
APIC_SET = Scenario(vcpus=(V("apic"),), ioctls=(("set PIT_REINJ",),))


def _naive(impl: object, s: Scenario) -> Outcome:
    out = Explorer(impl_cls(impl), s, reduce=False, stop_on_bug=False, collect=True).explore()
    assert not out.stats.timed_out
    return out


def _optimal(impl: object, s: Scenario) -> Outcome:
    return OptimalExplorer(impl_cls(impl), s, stop_on_bug=False, collect=True).explore()


def _agrees(impl: object, s: Scenario) -> Outcome:
    naive, got = _naive(impl, s), _optimal(impl, s)
    assert got.outcomes == naive.outcomes, impl
    assert got.kinds == naive.kinds
    assert got.stats.classes == naive.stats.classes
    assert got.stats.complete == got.stats.classes  # no class twice
    return got


@pytest.mark.parametrize(
    "impl", ["reference", "prepatch", "seed", "final", "broken-irqwin-from-set"]
)
@pytest.mark.parametrize("i", range(len(TINY)))
def test_optimal_agrees_with_naive_on_tiny_scenarios(impl: str, i: int) -> None:
    _agrees(impl, TINY[i])


ONE_OP = {
    "apic+set": APIC_SET,
    "run+set": RUN_SET,
    "sti+clear": Scenario(
        vcpus=(V("sti"),), ioctls=(("clear PIT_REINJ",),), initial=("PIT_REINJ",), extint=(0,)
    ),
}
# test_explore's pairs: every shipped version, and broken variants on a
# scenario where they show their bug
PAIRS = [
    ("reference", "sti+clear"),
    ("prepatch", "sti+clear"),
    ("seed", "run+set"),
    ("final", "apic+set"),
    ("broken-irqwin-from-set", "sti+clear"),
    ("broken-zap-no-seq", "apic+set"),
    ("broken-store-before-kick", "apic+set"),
    ("broken-kick-no-wait", "sti+clear"),
    ("broken-zap-before-store", "apic+set"),
    ("broken-zap-after-unlock", "apic+set"),
    ("broken-fault-seq-late", "apic+set"),
    ("broken-double-inc", "run+set"),
    ("broken-no-recheck", "sti+clear"),
    ("broken-vintr-before-inhibit", "run+set"),
]


def _agrees_with_stateful(impl: str, name: str) -> None:
    """Where naive enumeration takes minutes, against the stateful search (itself
    checked against naive enumeration in test_explore)."""
    s = ONE_OP[name]
    want = explore_stateful(impl_cls(impl), s, stop_on_bug=False, collect=True)
    got = _optimal(impl, s)
    assert got.outcomes == want.outcomes and got.kinds == want.kinds, (impl, name)
    assert got.stats.complete == got.stats.classes


@pytest.mark.parametrize(("impl", "name"), PAIRS)
def test_optimal_agrees_with_the_stateful_search(impl: str, name: str) -> None:
    _agrees_with_stateful(impl, name)


@pytest.mark.slow
@pytest.mark.parametrize("impl", list(BUILTIN))
@pytest.mark.parametrize("name", list(ONE_OP))
def test_optimal_agrees_with_the_stateful_search_everywhere(impl: str, name: str) -> None:
    _agrees_with_stateful(impl, name)


def test_halting_step_conflicts_with_everything() -> None:
    """A bug halts the run: a step of another thread run before the halting one
    changes the final state, so the halting step conflicts with every step.
    Both DPORs missed the outcome "one ioctl step, then the WARN" here before."""
    naive = _agrees("broken-vintr-before-inhibit", RUN_SET)
    old = Explorer(
        impl_cls("broken-vintr-before-inhibit"), RUN_SET, stop_on_bug=False, collect=True
    )
    assert old.explore().outcomes == naive.outcomes


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["final", "broken-zap-after-unlock", "seed"])
def test_optimal_agrees_with_naive_on_run_and_set(impl: str) -> None:
    _agrees(impl, RUN_SET)


@pytest.mark.parametrize(
    "impl", ["broken-zap-no-seq", "broken-fault-seq-late", "broken-zap-before-store"]
)
def test_optimal_finds_mmu_races(impl: str) -> None:
    """Each needs one specific race reversed behind a lock (see test_explore)."""
    o = explore(impl_cls(impl), APIC_SET, optimal=True)
    assert o.counterexample is not None
    assert o.counterexample.first_bug.kind == Kind.MISSED_INTERCEPT


def test_optimal_bounded_finds_the_known_bugs() -> None:
    o = explore(impl_cls("prepatch"), SEAN, preemptions=2, optimal=True)
    assert o.counterexample is not None and o.preemptions is not None and o.preemptions <= 2
    assert o.counterexample.first_bug.kind == Kind.LOST_WINDOW
    o = explore(impl_cls("broken-zap-no-seq"), ZAP_NO_SEQ, preemptions=2, optimal=True)
    assert o.counterexample is not None
    assert o.counterexample.first_bug.kind == Kind.MISSED_INTERCEPT


def test_optimal_wastes_no_execution() -> None:
    """Counting executions a sleep set abandons, at most 1.05 per class (here
    none), where the old DPOR abandons one in five."""
    got = _optimal("final", APIC_SET)
    old = Explorer(impl_cls("final"), APIC_SET, stop_on_bug=False).explore()
    assert got.stats.classes == old.stats.classes
    assert got.stats.complete + got.stats.sleep_blocked <= 1.05 * got.stats.classes
    assert old.stats.sleep_blocked * 5 >= old.stats.complete


class _TwoLockers(Final):
    """Two threads each set a flag under one mutex: a blocked acquisition is not
    enabled, so the race to reverse is between the two acquisitions, not the
    release and the acquisition that waited for it."""

    name = "two-lockers"

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.toy = Mutex("toy")

    def threads(self) -> list[tuple[str, Kfunc]]:
        return [("a", self._set(0, True)), ("b", self._set(1, False))]

    def _set(self, tid: int, value: bool) -> Kfunc:
        yield from lock(self.toy, tid)
        yield wr("set", "apic_spte")
        self.vm.apic_spte = value
        yield from unlock(self.toy)


def test_optimal_reverses_the_acquisitions_of_a_lock() -> None:
    got = _agrees(_TwoLockers, TINY[0])
    assert len(got.outcomes) == 2  # either thread sets the flag last
    assert got.stats.sleep_blocked == 0


def _fp(reads: str = "", writes: str = "") -> Footprint:
    f = Footprint()
    f.reads, f.writes = set(reads.split()), set(writes.split())
    return f


def test_weak_initials_and_insertion() -> None:
    x, y = _fp(writes="x"), _fp(reads="x")
    z = _fp(writes="z")
    assert weak_initial([(0, x), (1, y)], 1, None) == (False, 1)  # y reads x's write
    assert weak_initial([(0, x), (1, z)], 1, None) == (True, 1)
    assert weak_initial([(0, x)], 2, z) == (True, None)  # commutes with all of v
    assert weak_initial([(0, x)], 2, None)[0] is False  # unknown: conflicts
    tree: list[Branch] = []
    assert tree_insert(tree, [(0, x), (1, y)])
    assert not tree_insert(tree, [(0, x)])  # a prefix of a branch: covered
    assert not tree_insert(tree, [(2, z), (0, x), (1, y)])  # z commutes: equivalent
    assert tree_insert(tree, [(1, _fp(writes="x"))])  # conflicts with 0 first
    assert [b.tid for b in tree] == [0, 1]
