"""The wider interrupt model (issue 9): where ExtINTs come from, LAPIC delivery,
L1 interrupts into L2, cancelled injection, and old reproducers' compatibility."""

from __future__ import annotations

import json

import pytest
from helpers import V, all_kinds

from difftest.frontends.cli import main
from difftest.impls import load
from difftest.impls.final import Final
from difftest.model.scenario import Scenario, ScenarioError, VcpuSpec
from difftest.oracle.findings import Kind
from difftest.runner import run
from difftest.schedulers import RandomScheduler

SEEDS = 25


def _runs(impl: str, s: Scenario, seeds: int = SEEDS):
    cls = load(impl)
    return [run(cls, s, RandomScheduler(k)) for k in range(seeds)]


def test_old_scenario_json_is_the_legacy_model_and_round_trips_unchanged():
    old = {
        "vendor": "svm",
        "enable_apicv": True,
        "initial": [],
        "extint": [0],
        "vcpus": [{"program": ["sti"], "guest_if": False, "apic_enabled": True}],
        "ioctls": [["extint 0"]],
    }
    s = Scenario.from_json(old)
    assert s.irq_source == "legacy"
    assert s.to_json() == old
    wide = Scenario.from_json({**old, "irq_source": "split"})
    assert wide.to_json()["irq_source"] == "split"
    assert wide.to_json()["vcpus"][0]["lvt0"] is True


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"irq_source": "ioapic"}, "unknown irq_source"),
        ({"irq_source": "split", "ioctls": [["pic mask"]]}, "needs irq_source pic"),
        ({"irq_source": "pic", "ioctls": [["extint 0"]]}, "use 'pic raise'"),
        ({"ioctls": [["lapic 0"]]}, "other than legacy"),
        ({"irq_source": "split", "ioctls": [["lapic 3"]]}, "no such vCPU"),
    ],
)
def test_bad_interrupt_scenarios_are_rejected(changes, message):
    d = {"vcpus": [{"program": []}], **changes}
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_json(d)


def test_check_rejects_an_unknown_source(capsys):
    assert main(["check", "--impl", "final", "--irq-source", "ioapic"]) == 2
    assert "--irq-source" in capsys.readouterr().err


@pytest.mark.parametrize("impl", ["prepatch", "final", "reference"])
def test_one_pic_ack_lowers_the_output_for_every_vcpu(impl):
    """Both vCPUs accept ExtINT and can take it at once: exactly one gets it."""
    s = Scenario(
        vcpus=(V("run", guest_if=True), V("run", "run", guest_if=True)),
        ioctls=(("pic raise",),),
        irq_source="pic",
    )
    for r in _runs(impl, s):
        vm = r.world.vm
        assert sum(v.delivered for v in vm.vcpus) == 1
        assert not vm.pic_output and r.first_bug is None


def test_pic_wakes_only_the_first_vcpu_whose_lvt0_accepts_extint():
    s = Scenario(
        vcpus=(VcpuSpec((), lvt0=False), VcpuSpec(()), VcpuSpec(())),
        ioctls=(("pic raise",),),
        irq_source="pic",
    )
    w = load("final")(s)
    threads = dict(w.threads())
    gen = threads["ioctl0"]
    for _ in gen:
        pass
    assert [bool(v.requests) for v in w.vm.vcpus] == [False, True, False]


def test_xen_upcall_is_level_until_the_guest_clears_it():
    s = Scenario(vcpus=(V("run", guest_if=True),), extint=(0,), irq_source="xen")
    for r in _runs("final", s):
        v = r.world.vm.vcpus[0]
        assert v.delivered == 1 and not v.xen_upcall and r.first_bug is None


def test_avic_delivers_a_lapic_interrupt_without_a_window():
    s = Scenario(vcpus=(V("run", "sti"),), ioctls=(("lapic 0",),), irq_source="split")
    for r in _runs("final", s):
        vm = r.world.vm
        assert vm.vcpus[0].delivered == 1
        assert "IRQWIN" not in vm.write_locks  # never inhibited for a window
        assert r.findings == []


def test_lapic_interrupt_is_injected_while_avic_is_inhibited():
    s = Scenario(
        vcpus=(V("run", guest_if=True),),
        ioctls=(("lapic 0",),),
        initial=("PIT_REINJ",),
        irq_source="split",
    )
    for r in _runs("final", s):
        assert r.world.vm.vcpus[0].delivered == 1 and r.first_bug is None


def test_cancelled_injection_is_requeued_and_delivered_once():
    s = Scenario(
        vcpus=(V("run", guest_if=True),),
        ioctls=(("set HYPERV",),),
        extint=(0,),
        irq_source="split",
    )
    cancelled = []

    class Counting(Final):
        def svm_complete_interrupts(self, vcpu):
            cancelled.append(vcpu.injected)
            return super().svm_complete_interrupts(vcpu)

    for k in range(80):
        r = run(Counting, s, RandomScheduler(k))
        assert r.world.vm.vcpus[0].delivered == 1 and r.first_bug is None
    assert True in cancelled  # an injected ExtINT was requeued at least once


@pytest.mark.parametrize("intercept", [True, False])
def test_l1_interrupt_while_l2_runs(intercept):
    """L1 intercepting INTR: a nested #VMEXIT (GIF=0), the ExtINT goes to L1 once
    L1's STGI sets GIF again. Otherwise KVM injects it into L2 (svm_inject_irq with
    is_guest_mode()); the STGI is then an L2 action, which L1 does not see."""
    s = Scenario(
        vcpus=(VcpuSpec(("sti_vmrun", "run", "stgi"), intercept_intr=intercept),),
        extint=(0,),
        irq_source="split",
    )
    for r in _runs("final", s):
        v = r.world.vm.vcpus[0]
        assert v.delivered == 1 and r.first_bug is None
        assert v.guest_mode is not intercept


def test_final_stale_window_when_the_pic_line_is_masked():
    """final counts a window for the PIC's ExtINT; the guest masks the line before
    the injection: avic_irq_window stays set until the vCPU's next svm_inject_irq()
    (latency), where prepatch's VINTR exit cleared IRQWIN at once."""
    s = Scenario(vcpus=(V("run", "sti"),), ioctls=(("pic mask",),), extint=(0,), irq_source="pic")
    assert Kind.STALE_WINDOW in all_kinds("final", s, seeds=40)
    assert Kind.STALE_WINDOW not in all_kinds("prepatch", s, seeds=40)
    assert all_kinds("reference", s, seeds=40) == set()


def test_reproducer_records_the_source(tmp_path):
    argv = ["check", "--impl", "broken-cancel-no-requeue", "--irq-source", "split"]
    assert main([*argv, "--runs", "500", "--out", str(tmp_path)]) == 1
    (path,) = tmp_path.glob("*.json")
    assert json.loads(path.read_text())["scenario"]["irq_source"] == "split"
    assert main(["replay", str(path)]) == 1
