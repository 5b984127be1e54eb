"""Scenarios, implementation loading (built-in and plugins), the executor and
its synchronisation primitives."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from helpers import FOUR_THREADS, SEAN, SEED_IDLE_WAIT, V
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from difftest.check import GenParams, run_seed
from difftest.engine.executor import execute
from difftest.engine.points import Point
from difftest.engine.sync import RwSem
from difftest.impls import BUILTIN, ImplError, load
from difftest.impls.final import Final
from difftest.impls.kernel.world import World
from difftest.model.scenario import (
    VCPU_OPS,
    Scenario,
    ScenarioError,
    VcpuSpec,
    generate,
    parse_ioctl,
)
from difftest.model.state import Reason
from difftest.oracle.findings import Kind
from difftest.runner import run
from difftest.schedulers import RandomScheduler, RandomSource

# -- scenarios -----------------------------------------------------------------------


def test_thread_names_and_ops():
    assert FOUR_THREADS.thread_names == ["vcpu0", "vcpu1", "vcpu2", "ioctl0"]
    assert FOUR_THREADS.n_ops == 2 + 2 + 3 + 3
    assert SEAN.thread_names == ["vcpu0", "vcpu1"]


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"vcpus": ()}, "at least one vCPU"),
        ({"vcpus": (V("jump"),)}, "unknown vCPU operation"),
        ({"vcpus": (V(),), "vendor": "arm"}, "unknown vendor"),
        ({"vcpus": (V(),), "ioctls": (("set ABSENT",),)}, "cannot set ABSENT"),
        ({"vcpus": (V(),), "ioctls": (("clear APIC_ID_MODIFIED",),)}, "cannot clear"),
        ({"vcpus": (V(),), "ioctls": (("set NESTED",),)}, "cannot set NESTED"),
        ({"vcpus": (V(),), "ioctls": (("set IRQWIN",),)}, "cannot set IRQWIN"),
        ({"vcpus": (V(),), "ioctls": (("set FOO",),)}, "unknown inhibit reason"),
        ({"vcpus": (V(),), "ioctls": (("extint 1",),)}, "no such vCPU"),
        ({"vcpus": (V(),), "ioctls": (("extint x",),)}, "no such vCPU"),
        ({"vcpus": (V(),), "ioctls": (("extint -1",),)}, "no such vCPU"),
        ({"vcpus": (V(),), "ioctls": (("toggle PIT_REINJ",),)}, "unknown ioctl"),
        ({"vcpus": (V(),), "ioctls": (("set",),)}, "unknown ioctl"),
        ({"vcpus": (V(),), "initial": ("IRQWIN",)}, "initial reason"),
        ({"vcpus": (V(),), "initial": ("NESTED",)}, "initial reason"),
        ({"vcpus": (V(),), "initial": ("BOGUS",)}, "initial reason"),
        ({"vcpus": (V(),), "extint": (1,)}, "extint vCPU 1"),
        ({"vcpus": (V(),), "extint": (-1,)}, "extint vCPU -1"),
    ],
)
def test_invalid_scenarios(kwargs, needle):
    with pytest.raises(ScenarioError, match=needle):
        Scenario(**kwargs)


@pytest.mark.parametrize(
    "op, parsed",
    [
        ("set PIT_REINJ", ("inhibit", Reason.PIT_REINJ, True)),
        ("clear PIT_REINJ", ("inhibit", Reason.PIT_REINJ, False)),
        ("set BLOCKIRQ", ("inhibit", Reason.BLOCKIRQ, True)),
        ("clear HYPERV", ("inhibit", Reason.HYPERV, False)),
        ("clear ABSENT", ("inhibit", Reason.ABSENT, False)),
        ("extint 1", ("extint", 1, True)),
    ],
)
def test_parse_ioctl(op, parsed):
    assert parse_ioctl(op, 2) == parsed


def test_all_valid_ops_accepted():
    Scenario(
        vcpus=(V(*VCPU_OPS),),
        ioctls=(
            (
                "set PIT_REINJ",
                "clear PIT_REINJ",
                "set BLOCKIRQ",
                "clear BLOCKIRQ",
                "set HYPERV",
                "clear HYPERV",
                "clear ABSENT",
                "extint 0",
                "lapic 0",
                "init 0",
                "sipi 0",
            ),
        ),
        initial=("PIT_REINJ", "ABSENT", "HYPERV", "BLOCKIRQ", "PHYSICAL_ID_TOO_BIG"),
        irq_source="split",
        vgif=False,
    )


def test_wider_model_ops_need_a_wider_source():
    # The legacy model (format-1 reproducers) has no GIF, reset, INIT or vGIF knob.
    for op in ("clgi", "stgi", "reset"):
        with pytest.raises(ScenarioError):
            Scenario(vcpus=(V(op),))
    with pytest.raises(ScenarioError):
        Scenario(vcpus=(V("run"),), ioctls=(("init 0",),))
    with pytest.raises(ScenarioError):
        Scenario(vcpus=(V("run"),), vgif=False)


def test_scenario_is_hashable_and_frozen():
    assert hash(SEAN) == hash(Scenario(vcpus=(V("sti"), V("run", "sti")), extint=(0, 1)))
    with pytest.raises(AttributeError):
        SEAN.vendor = "vmx"  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad",
    [None, [], "x", {"vcpus": 3}, {"vcpus": [{"guest_if": 1}]}, {"vcpus": [{"program": [1]}]}],
)
def test_from_json_rejects(bad):
    with pytest.raises(ScenarioError):
        Scenario.from_json(bad)


def test_from_json_defaults():
    s = Scenario.from_json({"vcpus": [{"program": ["run"]}]})
    assert s == Scenario(vcpus=(VcpuSpec(("run",)),))


def test_initial_reasons_masked_by_vendor():
    sc = Scenario(vcpus=(V(),), initial=("PIT_REINJ", "HYPERV"), vendor="vmx")
    r = run(load("final"), sc, RandomScheduler(0))
    assert r.world.vm.apicv_inhibit_reasons == 1 << Reason.HYPERV


class _Draws:
    def __init__(self, data):
        self.data = data

    def draw(self, n):
        return self.data.draw(st.integers(0, n - 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_scenarios_round_trip_json(data):
    s = generate(
        _Draws(data),
        vcpus=data.draw(st.integers(1, 3)),
        ioctls=data.draw(st.integers(0, 2)),
        ops=data.draw(st.integers(0, 4)),
        nested=data.draw(st.booleans()),
        vendor=data.draw(st.sampled_from(["svm", "vmx"])),
    )
    assert Scenario.from_json(s.to_json()) == s


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hypothesis_correct_versions_never_diverge(data):
    from difftest.schedulers import ChoiceScheduler

    src = _Draws(data)
    s = generate(src, vcpus=2, ioctls=1, ops=3)
    for name in ("final", "reference"):
        r = run(load(name), s, ChoiceScheduler(src))
        assert r.first_bug is None, (name, s, r.findings)


# -- implementation loading -------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILTIN))
def test_builtin_loads(name):
    cls = load(name)
    assert issubclass(cls, World)
    assert cls.name == name


@pytest.mark.parametrize("spec", ["nope", "Final", "", "final "])
def test_unknown_name(spec):
    with pytest.raises(ImplError, match="unknown implementation"):
        load(spec)


PLUGIN = """
from difftest.impls.final import Final
from difftest.impls.prepatch import Prepatch


class Mine(Final):
    name = "mine"


class Eager(Prepatch):
    name = "eager"


NOT_A_CLASS = 3


class NotAWorld:
    pass
"""


def test_plugin_loading(tmp_path: Path):
    f = tmp_path / "myplug.py"
    f.write_text(PLUGIN)
    cls = load(f"{f}:Mine")
    assert issubclass(cls, Final)
    assert cls.name == "mine"
    r = run(cls, SEAN, RandomScheduler(0))
    assert r.impl == "mine"
    assert r.first_bug is None
    eager = load(f"{f}:Eager")
    from helpers import search

    assert search(eager, SEAN, Kind.LOST_WINDOW) is not None
    # Loading twice gives a working class again.
    assert load(f"{f}:Mine").name == "mine"


@pytest.mark.parametrize("name", ["Missing", "NOT_A_CLASS", "NotAWorld"])
def test_plugin_bad_class(tmp_path: Path, name):
    f = tmp_path / "p.py"
    f.write_text(PLUGIN)
    with pytest.raises(ImplError, match="no implementation class"):
        load(f"{f}:{name}")


def test_plugin_missing_file(tmp_path: Path):
    with pytest.raises(ImplError, match="not found"):
        load(f"{tmp_path / 'nope.py'}:X")


def test_plugin_import_error(tmp_path: Path):
    f = tmp_path / "broken_plugin.py"
    f.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ImplError) as ei:
        load(f"{f}:X")
    assert "RuntimeError: boom" in str(ei.value)
    assert "\n" not in str(ei.value)
    f.write_text("def oops(:\n")
    with pytest.raises(ImplError, match="failed to import"):
        load(f"{f}:X")


def test_impl_error_is_value_error():
    assert issubclass(ImplError, ValueError)


# -- executor and primitives ---------------------------------------------------------------


def test_rwsem():
    s = RwSem("s")
    assert s.can_read() and s.can_write()
    s.readers = 2
    assert s.can_read() and not s.can_write()
    s.readers = 0
    s.writer = 1
    assert not s.can_read() and not s.can_write()


class _Toy:
    """A minimal executor world: two threads, one waits for the other."""

    def __init__(self):
        self.current = 0
        self.now = 0
        self.flag = False
        self.stuck = None

    def threads(self):
        def setter():
            yield Point("set", "flag", True)
            self.flag = True

        def waiter():
            yield Point("wait", "flag", False, lambda: self.flag)

        return [("a", waiter()), ("b", setter())]

    def halted(self):
        return False

    def on_stuck(self, kind, detail):
        self.stuck = (kind, detail)


def test_executor_blocking_point():
    w = _Toy()
    ex = execute(w, RandomScheduler(0), max_steps=10)
    assert ex.outcome == "done"
    assert ex.schedule == [1, 0]
    assert w.stuck is None


def test_executor_deadlock_reported():
    w = _Toy()
    orig = w.threads

    def only_waiter():
        return orig()[:1]

    w.threads = only_waiter
    ex = execute(w, RandomScheduler(0), max_steps=10)
    assert ex.outcome == "deadlock"
    assert w.stuck[0] == "deadlock" and "a in wait(flag)" in w.stuck[1]


def test_trace_steps_record_stacks():
    r = run(load("final"), SEED_IDLE_WAIT, RandomScheduler(0), trace=True)
    tr = r.execution.trace
    assert [s.index for s in tr] == list(range(len(tr)))
    assert all(s.tid == 0 for s in tr)
    assert any("kvm_inc_or_dec_irq_window_inhibit" in s.stack for s in tr)
    assert not any("down_write" in s.stack for s in tr)  # primitives are hidden
    assert any("irq_window_count" in s.changes for s in tr)


def test_world_initial_state():
    sc = Scenario(vcpus=(V(), V(apic_enabled=False)), initial=("PIT_REINJ",), extint=(1,))
    w = load("final")(sc)
    assert w.vm.apicv_inhibit_reasons == 1 << Reason.PIT_REINJ
    assert not w.vm.vcpus[0].apicv_active
    assert w.vm.vcpus[1].extint_pending and not w.vm.vcpus[0].extint_pending
    w = load("final")(Scenario(vcpus=(V(), V(apic_enabled=False))))
    assert w.vm.vcpus[0].apicv_active and not w.vm.vcpus[1].apicv_active


def test_random_source_range():
    src = RandomSource(3)
    assert all(0 <= src.draw(5) < 5 for _ in range(200))
    assert {src.draw(3) for _ in range(200)} == {0, 1, 2}


@pytest.mark.parametrize("impl", ["final", "seed", "reference", "broken-store-before-kick"])
def test_runs_leave_no_cyclic_garbage(impl: str) -> None:
    """``runner.run`` retires its world: a run's objects, halted runs' suspended
    threads included, are freed by reference counting, never left to the cycle
    collector (README, Performance)."""
    cls = load(impl)
    for params in (GenParams(irq_source="legacy"), GenParams()):
        run_seed(cls, 0, 0, params)  # caches of first use
        gc.collect()
        gc.disable()
        try:
            results = [run_seed(cls, 0, i, params) for i in range(40)]
            halted = any(r.execution.outcome == "halted" for r in results)
            assert halted or not impl.startswith("broken-")
            del results
            assert gc.collect() == 0
        finally:
            gc.enable()
