"""The mutant scoreboard's variants: each broken-* mutation is a real, reachable
bug, found by seeded random schedules on a minimal hand-written scenario, while
``final`` and ``reference`` stay clean on that same scenario. Then the
scoreboard itself on a tiny budget."""

from __future__ import annotations

import pytest
from helpers import V, assert_clean, search

from difftest import scoreboard
from difftest.frontends.cli import main
from difftest.impls import BROKEN, CORRECT
from difftest.model.scenario import Scenario, VcpuSpec
from difftest.oracle.findings import Kind
from difftest.scoreboard import render, score
from difftest.search import SEARCHES

# One vCPU maps the APIC page, then userspace inhibits: the zap races the fault.
APIC_THEN_INHIBIT = Scenario(vcpus=(V("apic"),), ioctls=(("set PIT_REINJ",),))
# vCPU1 asks for a window and inhibits while vCPU0 goes in and out of the guest.
ENTRY_VS_INHIBIT = Scenario(vcpus=(V("run", "run"), V("run")), extint=(1,))
ONE_WINDOW = Scenario(vcpus=(V("sti", "run"),), extint=(0,))
DIRECT_INJECT = Scenario(vcpus=(V(guest_if=True),), extint=(0,))
CLEAR_OTHER_REASON = Scenario(
    vcpus=(V("run", "sti"),),
    ioctls=(("clear PIT_REINJ",),),
    initial=("PIT_REINJ",),
    extint=(0,),
)
TWO_LAZY_WINDOWS = Scenario(vcpus=(V("sti"), V("sti")), initial=("PIT_REINJ",), extint=(0, 1))
VMRUN = Scenario(vcpus=(V("vmrun", "vmexit"),))
# The wider interrupt model (issue 9). L1 does not intercept INTR: its ExtINT is
# injected into L2 while a LAPIC interrupt is still pending there.
L1_IRQ_INTO_L2 = Scenario(
    vcpus=(VcpuSpec(("sti_vmrun", "run"), intercept_intr=False),),
    ioctls=(("lapic 0",),),
    extint=(0,),
    irq_source="split",
)
PIC_DIRECT = Scenario(vcpus=(V("run", guest_if=True),), extint=(0,), irq_source="pic")
INJECT_THEN_UPDATE = Scenario(
    vcpus=(V("run", guest_if=True),), ioctls=(("set HYPERV",),), extint=(0,), irq_source="split"
)
LAPIC_WHILE_INHIBITED = Scenario(
    vcpus=(V("run", guest_if=True),),
    ioctls=(("lapic 0",),),
    initial=("PIT_REINJ",),
    irq_source="split",
)
# GIF, #VMEXIT and KVM_REINJECT_CONTROL (issue 9). L1 clears GIF, then an ExtINT
# arrives: without vGIF the STGI intercept is the window.
EXTINT_BEHIND_CLGI = Scenario(
    vcpus=(V("clgi", "stgi", guest_if=True),),
    ioctls=(("extint 0",),),
    irq_source="split",
    vgif=False,
)
EXTINT_WHILE_GIF0 = Scenario(
    vcpus=(V("clgi", "run", "run", guest_if=True),), ioctls=(("extint 0",),), irq_source="split"
)
# L1 (IF=0, not intercepting INTR) enters L2 with an ExtINT pending, L2 exits, L1
# enables interrupts: only nested_svm_vmexit()'s KVM_REQ_EVENT re-arms L1's window.
L2_EXIT_THEN_STI = Scenario(
    vcpus=(VcpuSpec(("vmrun", "vmexit", "sti"), intercept_intr=False),),
    extint=(0,),
    irq_source="split",
)
PIT_REINJ_AGAIN = Scenario(
    vcpus=(V(),), ioctls=(("set PIT_REINJ",),), initial=("PIT_REINJ",), irq_source="split"
)
# Both vCPUs map the APIC page, switch to x2APIC mode and touch the page again: the
# second one's kvm_vcpu_update_apicv() runs while the first deletes the memslot.
X2APIC_PAIR = Scenario(
    vcpus=(V("apic", "x2apic", "apic"), V("apic", "x2apic", "apic")), irq_source="split"
)
# The vCPU is created while HYPERV inhibits APICv (init_vmcb() intercepts CR8
# writes); AVIC comes back; the guest writes its TPR.
AVIC_RETURNS = Scenario(
    vcpus=(V("run", "tpr_high", "tpr_low"),),
    ioctls=(("clear HYPERV",),),
    initial=("HYPERV",),
    irq_source="split",
)

# name -> (scenario, first-bug kind, where it fires, random seeds to try)
MUTANTS = {
    "broken-store-before-kick": (ENTRY_VS_INHIBIT, Kind.WARN, "vcpu_enter_guest", 200),
    "broken-kick-no-wait": (ENTRY_VS_INHIBIT, Kind.WARN, "vcpu_enter_guest", 400),
    "broken-zap-before-store": (APIC_THEN_INHIBIT, Kind.MISSED_INTERCEPT, "svm_vcpu_run", 4000),
    "broken-zap-after-unlock": (APIC_THEN_INHIBIT, Kind.MISSED_INTERCEPT, "svm_vcpu_run", 4000),
    "broken-fault-seq-late": (APIC_THEN_INHIBIT, Kind.MISSED_INTERCEPT, "svm_vcpu_run", 4000),
    "broken-double-inc": (ONE_WINDOW, Kind.STUCK_INHIBIT, "quiescence", 10),
    "broken-dec-underflow": (DIRECT_INJECT, Kind.COUNTER, "atomic_dec", 10),
    "broken-no-recheck": (CLEAR_OTHER_REASON, Kind.WARN, "svm_set_vintr", 200),
    "broken-counter-plain-add": (TWO_LAZY_WINDOWS, Kind.COUNTER, "atomic_dec", 200),
    "broken-vintr-before-inhibit": (ONE_WINDOW, Kind.WARN, "svm_set_vintr", 10),
    "broken-vm-wide-activation": (VMRUN, Kind.WARN, "vcpu_enter_guest", 10),
    "broken-no-l2-dec": (L1_IRQ_INTO_L2, Kind.STUCK_INHIBIT, "quiescence", 10),
    "broken-pic-ack-keeps-output": (PIC_DIRECT, Kind.STEP_BUDGET, "executor", 10),
    "broken-cancel-no-requeue": (INJECT_THEN_UPDATE, Kind.LOST_INTERRUPT, "quiescence", 50),
    "broken-lapic-no-event": (LAPIC_WHILE_INHIBITED, Kind.LOST_WINDOW, "quiescence", 10),
    "broken-stgi-no-event": (EXTINT_BEHIND_CLGI, Kind.LOST_WINDOW, "quiescence", 200),
    "broken-inject-gif0": (EXTINT_WHILE_GIF0, Kind.BLOCKED_INJECTION, "svm_vcpu_run", 200),
    "broken-vmexit-no-event": (L2_EXIT_THEN_STI, Kind.LOST_WINDOW, "quiescence", 10),
    "broken-pit-reinject-twice": (PIT_REINJ_AGAIN, Kind.LOST_UPDATE, "quiescence", 10),
    "broken-x2apic-enabled-early": (X2APIC_PAIR, Kind.MISSED_INTERCEPT, "svm_vcpu_run", 400),
    "broken-avic-tpr-sync": (AVIC_RETURNS, Kind.TPR_DESYNC, "svm_vcpu_run", 10),
}


def test_every_new_variant_has_a_scenario():
    assert set(MUTANTS) <= set(BROKEN)
    assert len(BROKEN) >= 10


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_detected(name):
    scenario, kind, where, seeds = MUTANTS[name]
    r = search(name, scenario, kind, seeds=seeds)
    assert r is not None, f"{name}: no {kind.value} in {seeds} schedules"
    assert r.first_bug.where == where


SCENARIOS = {
    "apic-then-inhibit": APIC_THEN_INHIBIT,
    "entry-vs-inhibit": ENTRY_VS_INHIBIT,
    "one-window": ONE_WINDOW,
    "direct-inject": DIRECT_INJECT,
    "clear-other-reason": CLEAR_OTHER_REASON,
    "two-lazy-windows": TWO_LAZY_WINDOWS,
    "vmrun": VMRUN,
    "l1-irq-into-l2": L1_IRQ_INTO_L2,
    "pic-direct": PIC_DIRECT,
    "inject-then-update": INJECT_THEN_UPDATE,
    "lapic-while-inhibited": LAPIC_WHILE_INHIBITED,
    "extint-behind-clgi": EXTINT_BEHIND_CLGI,
    "extint-while-gif0": EXTINT_WHILE_GIF0,
    "l2-exit-then-sti": L2_EXIT_THEN_STI,
    "pit-reinj-again": PIT_REINJ_AGAIN,
    "x2apic-pair": X2APIC_PAIR,
    "avic-returns": AVIC_RETURNS,
}


def test_scenario_table_covers_every_mutant_scenario():
    assert {id(s) for s, *_ in MUTANTS.values()} == {id(s) for s in SCENARIOS.values()}


@pytest.mark.parametrize("impl", CORRECT)
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_correct_versions_clean_on_mutant_scenarios(impl, scenario):
    assert_clean(impl, scenario, seeds=300, soft_ok=True)


# -- the scoreboard ----------------------------------------------------------------

QUICK = ["final", "broken-dec-underflow", "broken-vintr-before-inhibit"]


def test_scoreboard_finds_mutants_not_correct_versions():
    board = score(QUICK, ["random"], seeds=2, budget=0.1)
    assert board.false_alarms() == []
    assert board.cells["final", "random"].found == 0
    under = board.cells["broken-dec-underflow", "random"]
    assert under.found_seeds == [0, 1]
    assert set(under.kinds) == {"counter"}
    assert board.cells["broken-vintr-before-inhibit", "random"].kinds == {"warn": 2}
    # What a seed finds depends on the seed only: run again, same reproducers.
    again = score(QUICK[1:], ["random"], seeds=2, budget=0.1)
    for impl in QUICK[1:]:
        a, b = board.cells[impl, "random"], again.cells[impl, "random"]
        assert (a.executions, a.ops, a.steps) == (b.executions, b.ops, b.steps)
    text = render(board)
    assert max(len(line) for line in text.splitlines()) <= 100
    rows = [line.split()[0] for line in text.splitlines() if line.split()[:1] != []]
    assert [r for r in rows if r in QUICK] == QUICK  # the order asked for


def test_scoreboard_shrink_never_grows_a_reproducer():
    name = "broken-dec-underflow"
    raw = score([name], ["random"], seeds=1, budget=0.2)
    small = score([name], ["random"], seeds=1, budget=0.2, shrink_repros=True)
    a, b = raw.cells[name, "random"], small.cells[name, "random"]
    assert a.found == b.found == 1
    assert b.ops[0] < a.ops[0]


def test_mutants_command_iterates_the_search_registry(monkeypatch, capsys):
    monkeypatch.setitem(SEARCHES, "random-again", SEARCHES["random"])
    rc = main(["mutants", "--impls", "broken-dec-underflow", "--seeds", "1", "--budget", "0.1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "random-again: detected 1/1 broken variants" in out
    assert "random: detected 1/1 broken variants" in out


def test_mutants_command_fails_loudly_when_a_correct_version_shows_a_bug(monkeypatch, capsys):
    # Pretend a mutant is correct: the command must refuse to call the board clean.
    monkeypatch.setattr(scoreboard, "CORRECT", ("broken-dec-underflow",))
    rc = main(["mutants", "--impls", "broken-dec-underflow", "--seeds", "1", "--budget", "0.1"])
    assert rc == 1
    captured = capsys.readouterr()
    assert "FALSE ALARM: correct implementation broken-dec-underflow" in captured.out
    assert "FALSE ALARM" in captured.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--impls", "nosuch"], "unknown implementation 'nosuch'"),
        (["--searches", "nosuch"], "unknown search 'nosuch'"),
        (["--seeds", "0"], "--seeds 0: must be between 1 and 100000"),
        (["--budget", "0"], "--budget 0.0: seconds, positive"),
        (["--impls", "final,final"], "--impls repeats final"),
    ],
)
def test_mutants_command_bad_input_exits_2(argv, message, capsys):
    assert main(["mutants", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
