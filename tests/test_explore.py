"""DPOR: finds the known bugs, proves small configurations clean, and explores
the same outcomes as naive enumeration of every schedule."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from difftest.engine.points import Kfunc, rd, wr
from difftest.explore import Bound, explore, scenarios, stateful
from difftest.explore.dpor import Explorer, Outcome
from difftest.explore.scenarios import canonical
from difftest.explore.stateful import StatefulExplorer, explore_stateful
from difftest.explore.statekey import GenericStateKey, StateKey, UncoveredState
from difftest.frontends.cli import main
from difftest.impls import BUILTIN
from difftest.impls.final import Final
from difftest.model.scenario import Scenario
from difftest.model.state import Reason
from difftest.oracle.findings import Kind
from difftest.runner import run
from difftest.schedulers.replay import ReplayScheduler
from tests.helpers import SEAN, ZAP_NO_SEQ, V, impl_cls

# Small enough that naive enumeration of every schedule finishes in a second.
TINY = [
    Scenario(vcpus=(V(),), ioctls=(("set PIT_REINJ",),)),
    Scenario(vcpus=(V(),), ioctls=(("extint 0",),)),
    Scenario(vcpus=(V(),), ioctls=(("clear PIT_REINJ",),), initial=("PIT_REINJ",)),
]


@pytest.mark.parametrize("impl", ["final", "prepatch", "broken-irqwin-from-set"])
@pytest.mark.parametrize("scenario", TINY)
def test_dpor_agrees_with_naive_enumeration(impl: str, scenario: Scenario) -> None:
    cls = impl_cls(impl)
    dpor = explore(cls, scenario, stop_on_bug=False, collect=True)
    naive = explore(cls, scenario, reduce=False, stop_on_bug=False, collect=True)
    assert not naive.stats.timed_out
    assert dpor.outcomes == naive.outcomes
    assert dpor.stats.complete <= naive.stats.complete
    assert dpor.stats.classes == naive.stats.classes


def test_dpor_reduces() -> None:
    s = TINY[0]
    dpor = explore(impl_cls("final"), s, stop_on_bug=False)
    naive = explore(impl_cls("final"), s, reduce=False, stop_on_bug=False)
    assert dpor.stats.complete * 5 < naive.stats.complete
    assert dpor.stats.per_class == 1.0


def test_sean_prepatch_within_two_preemptions() -> None:
    o = explore(impl_cls("prepatch"), SEAN, preemptions=2)
    assert o.counterexample is not None and o.preemptions is not None
    assert o.preemptions <= 2
    assert o.counterexample.first_bug.kind == Kind.LOST_WINDOW
    # the counterexample replays on its own
    again = run(impl_cls("prepatch"), SEAN, ReplayScheduler(o.counterexample.execution.schedule))
    assert again.first_bug is not None and again.first_bug.kind == Kind.LOST_WINDOW


def test_zap_no_seq_found() -> None:
    o = explore(impl_cls("broken-zap-no-seq"), ZAP_NO_SEQ, preemptions=2)
    assert o.counterexample is not None
    assert o.counterexample.first_bug.kind == Kind.MISSED_INTERCEPT


@pytest.mark.parametrize("impl", ["final", "reference"])
def test_correct_versions_proved_clean(impl: str) -> None:
    small = [
        Scenario(vcpus=(V("apic"), V("apic")), extint=(0, 1)),
        Scenario(vcpus=(V("apic"),), ioctls=(("set PIT_REINJ",),)),
    ]
    for s in [*small, *TINY]:
        o = explore(impl_cls(impl), s)
        assert o.counterexample is None
        assert not o.stats.timed_out and o.stats.classes >= 1


def test_scenario_enumeration_dedups_symmetry() -> None:
    got = list(scenarios(Bound(vcpus=2, ops=1, vcpu_ops=("sti", "apic"))))
    # (sti,apic) and (apic,sti) with ExtINT on both vCPUs are the same scenario
    assert len(got) == 3
    assert len({canonical(s) for s in got}) == 3


def test_cli_explore_counterexample_and_proof(tmp_path, capsys) -> None:
    args = [
        "explore",
        "--vcpus",
        "2",
        "--ops",
        "2",
        "--vcpu-ops",
        "apic",
        "--ioctls",
        "1",
        "--extint",
        "none",
        "--preemptions",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main([*args, "--impl", "broken-zap-no-seq"]) == 1
    out = capsys.readouterr().out
    assert "counterexample with 1 preemption" in out and "reproducer:" in out
    assert len(list(tmp_path.glob("*.json"))) == 1
    assert (
        main(
            [
                "explore",
                "--impl",
                "final",
                "--vcpus",
                "1",
                "--ops",
                "1",
                "--vcpu-ops",
                "apic,run",
                "--ioctls",
                "1",
                "--ioctl-ops",
                "set PIT_REINJ",
            ]
        )
        == 0
    )
    assert "proof: no bug in any schedule of the 2 scenarios" in capsys.readouterr().out
    one = ["explore", "--impl", "final", "--vcpus", "1", "--vcpu-ops", "apic", "--ioctls", "1"]
    one += ["--ioctl-ops", "set PIT_REINJ"]
    assert main([*one, "--no-deepen"]) == 0
    undeepened = capsys.readouterr().out
    assert main(one) == 0
    deepened = capsys.readouterr().out
    assert "proof: no bug in any schedule of the 1 scenarios" in undeepened

    def executions(out: str) -> int:
        return int(out.split(" executions")[0].rsplit(" ", 1)[1])

    assert executions(undeepened) < executions(deepened)
    assert main([*args[:-2], "--impl", "final", "--vcpus", "1", "--ops", "1", "--naive"]) == 0
    assert "proof within the bound: no bug in any schedule with at most 1" in (
        capsys.readouterr().out
    )


def test_cli_explore_bad_input(capsys) -> None:
    assert main(["explore", "--impl", "nope"]) == 2
    assert main(["explore", "--impl", "final", "--ioctl-ops", "bogus"]) == 2
    assert main(["explore", "--impl", "final", "--preemptions", "-1"]) == 2
    err = capsys.readouterr().err
    assert "unknown implementation" in err and "bogus" in err


# One APIC access against one inhibit: the three APIC-page MMU races live in
# one equivalence class each. DPOR used to miss that class (37 of naive
# enumeration's 38) by backtracking only at the latest conflicting step, a
# lock release its blocked acquisition could never have overtaken; the race is
# with the acquisition before it (Flanagan and Godefroid's co-enabled steps).
APIC_THEN_INHIBIT = Scenario(vcpus=(V("apic"),), ioctls=(("set PIT_REINJ",),))


@pytest.mark.parametrize(
    "impl", ["broken-zap-no-seq", "broken-fault-seq-late", "broken-zap-before-store"]
)
def test_dpor_finds_mmu_races(impl: str) -> None:
    assert explore(impl_cls(impl), APIC_THEN_INHIBIT).counterexample is not None


@pytest.mark.parametrize(
    ("impl", "bound"),
    [("broken-zap-no-seq", 1), ("broken-fault-seq-late", 1), ("broken-zap-before-store", 2)],
)
def test_naive_bounded_enumeration_finds_mmu_races(impl: str, bound: int) -> None:
    o = explore(impl_cls(impl), APIC_THEN_INHIBIT, preemptions=bound, reduce=False)
    assert o.counterexample is not None and o.preemptions == bound


# -- the stateful search against naive enumeration ----------------------------
#
# Soundness of state caching: on every configuration below naive enumeration of
# every schedule finishes, and the stateful search must reach exactly the same
# outcomes (how the run ended, the finding kinds, the final state) and the same
# finding kinds, unbounded and within preemption bounds 1 and 2.

ONE_OP = {
    "apic+set": Scenario(vcpus=(V("apic"),), ioctls=(("set PIT_REINJ",),)),
    "run+set": Scenario(vcpus=(V("run"),), ioctls=(("set PIT_REINJ",),), extint=(0,)),
    "sti+clear": Scenario(
        vcpus=(V("sti"),), ioctls=(("clear PIT_REINJ",),), initial=("PIT_REINJ",), extint=(0,)
    ),
}
# (impl, scenario): every shipped version, and broken variants on a scenario
# where they show their bug
BOUNDED = [
    ("reference", "sti+clear"),
    ("prepatch", "sti+clear"),
    ("seed", "run+set"),
    ("seed", "sti+clear"),
    ("final", "apic+set"),
    ("final", "sti+clear"),
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
UNBOUNDED = [
    (impl, i)
    for impl in ("reference", "prepatch", "seed", "final", "broken-irqwin-from-set")
    for i in range(len(TINY))
]


def _naive(impl: str, s: Scenario, bound: int | None) -> Outcome:
    o = Explorer(impl_cls(impl), s, reduce=False, bound=bound, stop_on_bug=False, collect=True)
    out = o.explore()
    assert not out.stats.timed_out
    return out


@pytest.mark.parametrize(("impl", "name"), BOUNDED)
def test_stateful_agrees_with_naive_within_bounds(impl: str, name: str) -> None:
    s = ONE_OP[name]
    for bound in (1, 2):
        naive = _naive(impl, s, bound)
        ex = StatefulExplorer(impl_cls(impl), s, bound=bound, stop_on_bug=False, collect=True)
        got = ex.explore()
        assert got.outcomes == naive.outcomes, (impl, name, bound)
        assert got.kinds == naive.kinds
        # and the first-bug search finds a counterexample exactly when there is one
        first = explore_stateful(impl_cls(impl), s, preemptions=bound)
        assert (first.counterexample is not None) == bool(naive.counterexample)
        if first.counterexample is not None:
            assert first.preemptions is not None and first.preemptions <= bound


# Three threads: whether the thread that ran last can run, and which one it is,
# decide what a bounded visit covers (stateful._covered).
THREE = {
    "two-vcpus": Scenario(vcpus=(V("run"), V("apic")), ioctls=(("set PIT_REINJ",),)),
    "two-sti": Scenario(
        vcpus=(V("sti"), V("run")),
        ioctls=(("clear PIT_REINJ",),),
        initial=("PIT_REINJ",),
        extint=(0,),
    ),
}


def _agrees_within(impl: str, s: Scenario, bound: int) -> None:
    naive = _naive(impl, s, bound)
    got = StatefulExplorer(impl_cls(impl), s, bound=bound, stop_on_bug=False, collect=True)
    out = got.explore()
    assert out.outcomes == naive.outcomes and out.kinds == naive.kinds, (impl, bound)


@pytest.mark.parametrize("impl", ["final", "broken-kick-no-wait"])
@pytest.mark.parametrize("name", list(THREE))
def test_stateful_agrees_with_naive_on_three_threads(impl: str, name: str) -> None:
    _agrees_within(impl, THREE[name], 1)


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["final", "broken-kick-no-wait"])
@pytest.mark.parametrize("name", list(THREE))
def test_stateful_agrees_with_naive_on_three_threads_bound_2(impl: str, name: str) -> None:
    _agrees_within(impl, THREE[name], 2)


@pytest.mark.parametrize(("impl", "i"), UNBOUNDED)
def test_stateful_agrees_with_naive_unbounded(impl: str, i: int) -> None:
    s = TINY[i]
    naive = _naive(impl, s, None)
    got = explore_stateful(impl_cls(impl), s, stop_on_bug=False, collect=True)
    assert got.exhaustive
    assert got.outcomes == naive.outcomes
    assert got.kinds == naive.kinds
    for reduce in (False, True):  # with and without sleep sets
        ex = StatefulExplorer(impl_cls(impl), s, reduce=reduce, stop_on_bug=False, collect=True)
        direct = ex.explore()
        assert direct.outcomes == naive.outcomes and direct.kinds == naive.kinds


@pytest.mark.slow
@pytest.mark.parametrize("impl", list(BUILTIN))
@pytest.mark.parametrize("name", list(ONE_OP))
def test_stateful_agrees_with_naive_everywhere(impl: str, name: str) -> None:
    s = ONE_OP[name]
    for bound in (1, 2, None):
        if bound is None and name != "run+set":
            continue  # naive enumeration of the others takes minutes
        naive = _naive(impl, s, bound)
        for reduce in (False, True) if bound is None else (False,):
            got = StatefulExplorer(
                impl_cls(impl), s, bound=bound, reduce=reduce, stop_on_bug=False, collect=True
            )
            out = got.explore()
            assert out.outcomes == naive.outcomes and out.kinds == naive.kinds, (impl, bound)


class _Spin(Final):
    """A toy world with a livelock: one thread polls a flag the other sets."""

    name = "spin"

    def threads(self) -> list[tuple[str, Kfunc]]:
        return [("poll", self._poll()), ("set", self._set())]

    def _poll(self) -> Kfunc:
        while not self.vm.apic_spte:
            yield rd("poll", "apic_spte")

    def _set(self) -> Kfunc:
        yield wr("set", "apic_spte")
        self.vm.apic_spte = True


def _cut_by_budget_as_one(outcomes: set) -> set:
    """A run the step budget cut ends wherever the cut fell (naive enumeration has
    one per position of the cut); the stateful search reports the cycle once."""
    return {o if o[0] != "budget" else ("budget",) for o in outcomes}


def test_stateful_reports_a_cycle_as_the_step_budget_naive_runs_into() -> None:
    s = TINY[0]  # two threads
    naive = _naive(_Spin, s, None)
    assert "step-budget" in naive.kinds
    for reduce in (False, True):
        got = StatefulExplorer(_Spin, s, reduce=reduce, stop_on_bug=False, collect=True).explore()
        assert _cut_by_budget_as_one(got.outcomes) == _cut_by_budget_as_one(naive.outcomes)
        assert got.kinds == naive.kinds
    first = explore_stateful(_Spin, s)
    assert first.counterexample is not None
    assert first.counterexample.execution.outcome == "budget"


def test_state_key_refuses_what_it_cannot_cover() -> None:
    w = impl_cls("final")(TINY[0])
    w.stray = object()  # type: ignore[attr-defined]
    key = StateKey(w, [g for _, g in w.threads()], {})
    with pytest.raises(UncoveredState, match="stray"):
        key.key([])


def test_state_key_sees_world_and_position() -> None:
    cls = impl_cls("final")
    keys = []
    intern: dict = {}  # keys are only comparable through one intern table
    for change in (None, "world", "position", "ghost", "observer"):
        w = cls(TINY[0])
        w.observer = SimpleNamespace(seen=0)  # oracle state kept by an observer object
        gens = [g for _, g in w.threads()]
        pending = [next(g) for g in gens]
        if change == "world":
            w.vm.irq_window_count = 1
        elif change == "position":
            pending[1] = next(gens[1])
        elif change == "ghost":
            w.ghost_issued.append((Reason.PIT_REINJ, True))
        elif change == "observer":
            w.observer.seen = 1
        keys.append(StateKey(w, gens, intern).key(pending))
    assert len(set(keys)) == len(keys)
    again = cls(TINY[0])
    again.observer = SimpleNamespace(seen=0)
    gens = [g for _, g in again.threads()]
    assert StateKey(again, gens, intern).key([next(g) for g in gens]) == keys[0]


@pytest.mark.parametrize(
    ("impl", "s"),
    [
        ("final", SEAN),
        ("prepatch", SEAN),
        ("broken-zap-no-seq", ONE_OP["apic+set"]),
        ("reference", THREE["two-sti"]),
        ("seed", ONE_OP["run+set"]),
    ],
)
def test_state_key_tells_apart_what_the_generic_walk_does(monkeypatch, impl: str, s) -> None:
    """``StateKey`` (compiled per class, cached positions) and the generic walk
    (``GenericStateKey``, nothing cached) split the states met by a search the
    same way: equal keys under one exactly when equal under the other; and the
    world keys are the same."""
    to_ref: dict = {}
    to_new: dict = {}
    met = 0
    total = 0

    class Checked(StateKey):
        def key(self, pending):  # type: ignore[no-untyped-def]
            nonlocal met
            new = super().key(pending)
            ref = GenericStateKey(self.world, self.gens, self.intern).key(pending)
            assert ref[0] == new[0]  # the same world key, interned in one table
            assert to_ref.setdefault(new, ref) == ref
            assert to_new.setdefault(ref, new) == new
            met += 1
            return new

    monkeypatch.setattr(stateful, "StateKey", Checked)
    for bound in (None, 1):  # one intern table per search: keys compare within it
        for d in (to_ref, to_new):
            d.clear()
        ex = StatefulExplorer(
            impl_cls(impl), s, bound=bound, stop_on_bug=False, max_executions=1500
        )
        ex.explore()
        total += len(to_new)
    assert met > 100 and total > 50


def test_cli_explore_incomplete_exits_4(capsys) -> None:
    args = ["explore", "--impl", "final", "--vcpus", "2", "--ops", "2", "--width", "200"]
    args += ["--vcpu-ops", "sti,apic,run"]
    assert main([*args, "--max-executions", "5"]) == 4
    out = capsys.readouterr().out
    assert "incomplete: executions ran out after 0 of 45 scenarios" in out
    assert "5 executions; no proof" in out
    # --time is honoured while the scenarios are still being enumerated
    assert main([*args, "--time", "0.000001"]) == 4
    assert "while enumerating scenarios" in capsys.readouterr().out
    assert main([*args, "--max-executions", "0"]) == 2


def test_cli_explore_finds_prepatch_by_deepening(tmp_path, capsys) -> None:
    args = ["explore", "--impl", "prepatch", "--vcpu-ops", "sti,run", "--out", str(tmp_path)]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "counterexample with 1 preemption" in out


@pytest.mark.parametrize("impl", ["reference", "broken-per-vcpu-irqwin", "broken-zap-after-unlock"])
def test_sleep_sets_with_state_caching_visit_every_state(impl: str) -> None:
    """Sleep sets prune transitions, never states (Godefroid 1996, ch. 5): the
    reduced search must store exactly as many states as the plain one."""
    s = ONE_OP["run+set"] if impl != "broken-zap-after-unlock" else ONE_OP["apic+set"]
    plain = StatefulExplorer(impl_cls(impl), s, stop_on_bug=False).explore()
    reduced = StatefulExplorer(impl_cls(impl), s, reduce=True, stop_on_bug=False).explore()
    assert reduced.stats.states == plain.stats.states
    assert reduced.stats.executions < plain.stats.executions


class _Loop(Final):
    """A thread whose only progress is the position of a ``for`` loop."""

    name = "loop"

    def threads(self) -> list[tuple[str, Kfunc]]:
        return [("loop", self._loop()), ("other", self._loop())]

    def _loop(self) -> Kfunc:
        for op in ("same", "same"):
            yield rd(op, "nothing")


def test_state_key_sees_a_for_loops_iterator() -> None:
    """Locals and instruction offset are equal on both turns of the loop; only the
    iterator on the frame's value stack tells them apart."""
    w = _Loop(TINY[0])
    gens = [g for _, g in w.threads()]
    pending = [next(g) for g in gens]
    key = StateKey(w, gens, {})
    first = key.key(pending)
    pending[0] = next(gens[0])
    key.ran(0)
    assert key.key(pending) != first


def test_cli_explore_defaults_reach_nested_and_a_clearing_ioctl(capsys) -> None:
    """Issue 9: the default alphabet has VMRUN/#VMEXIT, and the default ioctls clear a
    reason (a stale or missing IRQWIN shows only once nothing else inhibits)."""
    from difftest.frontends import explore_cmd

    p = __import__("argparse").ArgumentParser()
    explore_cmd.register(p.add_subparsers())
    a = p.parse_args(["explore", "--impl", "final"])
    b = explore_cmd._bound(a)
    assert {"vmrun", "vmexit"} <= set(b.vcpu_ops)
    assert "clear HYPERV" in b.ioctl_ops and "extint" in b.ioctl_ops
    assert b.vgif and b.enable_apicv
    a = p.parse_args(["explore", "--impl", "final", "--no-vgif", "--no-apicv"])
    b = explore_cmd._bound(a)
    assert not b.vgif and not b.enable_apicv
