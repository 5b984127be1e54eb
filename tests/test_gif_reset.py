"""Issue 9: GIF/vGIF, INIT/SIPI, userspace reset and KVM_REINJECT_CONTROL on the
wider interrupt model. Each test names the kernel function whose branch it pins."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import V, assert_clean, bug_kinds, search

from difftest.check import GenParams, random_check
from difftest.impls import load
from difftest.model.scenario import Scenario, VcpuSpec
from difftest.model.state import MpState, Reason, bit
from difftest.oracle.findings import Kind
from difftest.runner import run
from difftest.schedulers import RandomScheduler

# vcpu1 waits for a window for its ExtINT (IF=0); an INIT puts it in wait-for-SIPI.
INIT_WHILE_WAITING = Scenario(
    vcpus=(V("run", guest_if=True), V("run", "run")),
    ioctls=(("init 1",),),
    extint=(1,),
    irq_source="split",
)
# The same with a VMM's reset of vcpu1 (KVM_SET_MP_STATE to INIT_RECEIVED, no
# kvm_vcpu_reset()).
RESET_WHILE_WAITING = Scenario(
    vcpus=(V("run", guest_if=True), V("run", "reset")),
    extint=(1,),
    irq_source="split",
)


# -- INIT / reset: svm_vcpu_reset() -> init_vmcb() never clears avic_irq_window ----------


@pytest.mark.parametrize(
    "scenario", [INIT_WHILE_WAITING, RESET_WHILE_WAITING], ids=["init", "reset"]
)
def test_final_keeps_irqwin_after_init_or_reset(scenario):
    """final's window stays counted for a vCPU in wait-for-SIPI: only svm_inject_irq()
    retires avic_irq_window, and that vCPU injects nothing until a SIPI."""
    kinds = bug_kinds("final", scenario, seeds=50)
    assert kinds[Kind.STUCK_INHIBIT] > 0, kinds
    r = search("final", scenario, Kind.STUCK_INHIBIT, seeds=50)
    vm = r.world.vm
    assert vm.vcpus[1].mp_state == MpState.INIT_RECEIVED
    assert vm.vcpus[1].irq_window and vm.irq_window_count == 1
    assert vm.apicv_inhibit_reasons == bit(Reason.IRQWIN)
    assert Kind.COUNTER in {f.kind for f in r.findings}


def test_prepatch_keeps_irqwin_after_init():
    """prepatch: init_vmcb() drops V_IRQ, no VINTR exit comes, IRQWIN stays until
    another vCPU's window exit."""
    assert search("prepatch", INIT_WHILE_WAITING, Kind.STUCK_INHIBIT, seeds=50) is not None


@pytest.mark.parametrize(
    "scenario", [INIT_WHILE_WAITING, RESET_WHILE_WAITING], ids=["init", "reset"]
)
def test_reference_clean_after_init_or_reset(scenario):
    assert_clean("reference", scenario, seeds=100)


def test_sipi_after_init_runs_the_rest_of_the_program():
    s = replace(INIT_WHILE_WAITING, ioctls=(("init 1", "sipi 1"),))
    for k in range(30):
        r = run(load("reference"), s, RandomScheduler(k))
        assert r.execution.outcome == "done"
        assert r.world.vm.vcpus[1].mp_state == MpState.RUNNABLE


def test_init_of_the_bsp_keeps_it_runnable_and_clean():
    """kvm_apic_accept_events(): the BSP stays RUNNABLE; LINT0 is ExtINT again
    (KVM_X86_QUIRK_LINT0_REENABLED) and the window is re-requested."""
    s = Scenario(vcpus=(V("run", "run"),), ioctls=(("init 0",),), extint=(0,), irq_source="split")
    for impl in ("final", "prepatch", "reference"):
        assert_clean(impl, s, seeds=60)
    r = run(load("final"), s, RandomScheduler(0))
    assert r.world.vm.vcpus[0].mp_state == MpState.RUNNABLE


def test_init_is_latched_while_gif_is_clear():
    """svm_apic_init_signal_blocked(): with GIF=0 the INIT waits; the vCPU stays runnable."""
    s = Scenario(vcpus=(V("clgi", "run"),), ioctls=(("init 0",),), irq_source="split")
    for k in range(30):
        r = run(load("final"), s, RandomScheduler(k))
        v = r.world.vm.vcpus[0]
        if v.init_pending:
            assert not v.gif and v.mp_state == MpState.RUNNABLE
            return
    pytest.fail("the INIT never arrived while GIF was clear")


# -- GIF / vGIF: svm_set_gif(), svm_enable_irq_window()'s "vgif || gif_set(svm)" --------


@pytest.mark.parametrize("vgif", [True, False])
@pytest.mark.parametrize("impl", ["final", "reference", "prepatch", "seed"])
def test_extint_behind_clgi_is_delivered_after_stgi(impl, vgif):
    s = Scenario(
        vcpus=(V("clgi", "stgi", "run", guest_if=True),),
        ioctls=(("extint 0",),),
        irq_source="split",
        vgif=vgif,
    )
    for k in range(40):
        r = run(load(impl), s, RandomScheduler(k))
        assert r.world.vm.vcpus[0].delivered == 1
        if impl in ("final", "reference"):  # the seed draft double-counts (its own bug)
            assert r.first_bug is None, r.findings


@pytest.mark.parametrize("vgif", [True, False])
def test_prepatch_nested_leak_by_vgif(vgif):
    """L1 intercepting INTR: after the INTR #VMEXIT (GIF=0) vGIF arms V_IRQ, L1's STGI
    opens the window and the VINTR exit clears IRQWIN. Without vGIF the STGI
    intercept raises KVM_REQ_EVENT, the ExtINT is injected directly, and IRQWIN stays."""
    s = Scenario(
        vcpus=(V("sti_vmrun", "vmexit", "run"),), extint=(0,), irq_source="split", vgif=vgif
    )
    kinds = bug_kinds("prepatch", s, seeds=30)
    assert (kinds == {None: 30}) == vgif, kinds
    assert_clean("final", s, seeds=30)


def test_prepatch_nested_leak_with_l1_irqs_into_l2_even_with_vgif():
    s = Scenario(
        vcpus=(VcpuSpec(("sti_vmrun", "vmexit", "run"), intercept_intr=False),),
        extint=(0,),
        irq_source="split",
    )
    assert bug_kinds("prepatch", s, seeds=30) == {Kind.STUCK_INHIBIT: 30}


# -- KVM_REINJECT_CONTROL: kvm_pit_set_reinject() returns early when unchanged ----------


def test_pit_reinject_unchanged_takes_no_lock():
    s = Scenario(
        vcpus=(V(),), ioctls=(("set PIT_REINJ",),), initial=("PIT_REINJ",), irq_source="split"
    )
    r = run(load("final"), s, RandomScheduler(0))
    assert r.findings == []
    assert r.world.vm.write_locks.get("PIT_REINJ", 0) == 0
    legacy = run(load("final"), replace(s, irq_source="legacy"), RandomScheduler(0))
    assert legacy.world.vm.write_locks.get("PIT_REINJ", 0) == 1  # the format-1 model


# -- every configuration is generated ----------------------------------------------------


def test_generator_draws_every_configuration():
    from difftest.schedulers.random import RandomSource

    seen_ops, vgif, apicv, sources = set(), set(), set(), set()
    params = GenParams(resets=True)
    for i in range(400):
        s = params.scenario(RandomSource(i))
        seen_ops |= {op for v in s.vcpus for op in v.program}
        seen_ops |= {op.split()[0] for p in s.ioctls for op in p}
        vgif.add(s.vgif)
        apicv.add(s.enable_apicv)
        sources.add(s.irq_source)
    assert {"clgi", "stgi", "reset", "vmrun", "vmexit", "init", "sipi"} <= seen_ops
    assert vgif == {True, False} and apicv == {True, False}
    assert sources == {"pic", "split", "xen"}


def test_random_check_with_resets_finds_final_finding_reference_clean():
    params = GenParams(resets=True)
    assert random_check(load("reference"), seed=5, runs=300, params=params).bug_runs == 0
    s = random_check(load("final"), seed=5, runs=600, params=params)
    assert set(k for k in s.runs_with if k in ("stuck-inhibit", "counter"))


# -- nested_run_pending: svm_interrupt_allowed()'s and svm_check_nested_events()' -EBUSY --

# An L1 ExtINT pending across L1's VMRUN into an L2 whose L1 does not intercept INTR.
PENDING_AT_VMRUN = Scenario(
    vcpus=(VcpuSpec(("sti_vmrun", "run"), intercept_intr=False),),
    extint=(0,),
    irq_source="split",
)


def _recording(impl: str) -> type:
    """``impl`` with a log of the events the nested_run_pending paths decide."""
    base = load(impl)

    class Recording(base):  # type: ignore[misc, valid-type]
        log: list[tuple[str, bool, bool]]

        def vcpu_run(self, vcpu, op, force_immediate_exit=False):
            self.__dict__.setdefault("log", []).append(
                ("entry", vcpu.nested_run_pending, force_immediate_exit)
            )
            return (yield from super().vcpu_run(vcpu, op, force_immediate_exit))

        def svm_inject_irq(self, vcpu, reinjected):
            self.__dict__.setdefault("log", []).append(
                ("inject", vcpu.nested_run_pending, vcpu.guest_mode)
            )
            return (yield from super().svm_inject_irq(vcpu, reinjected))

        def kvm_apic_accept_events(self, vcpu):
            self.__dict__.setdefault("log", []).append(
                ("accept", vcpu.nested_run_pending, vcpu.init_pending)
            )
            return (yield from super().kvm_apic_accept_events(vcpu))

        def kvm_vcpu_reset(self, vcpu, init_event):
            self.__dict__.setdefault("log", []).append(
                ("reset", vcpu.nested_run_pending, vcpu.guest_mode)
            )
            return (yield from super().kvm_vcpu_reset(vcpu, init_event))

    return Recording


@pytest.mark.parametrize("impl", ["final", "reference", "prepatch"])
def test_no_l1_interrupt_into_l2_before_the_vmrun_completes(impl):
    """The first entry after VMRUN neither injects nor opens a window: -EBUSY asks for
    an immediate exit, and the ExtINT goes into L2 at the entry after it."""
    cls = _recording(impl)
    for k in range(30):
        r = run(cls, PENDING_AT_VMRUN, RandomScheduler(k))
        log = r.world.__dict__["log"]
        assert ("entry", True, True) in log, log  # the pending VMRUN's entry exits at once
        assert all(not pending for what, pending, _ in log if what == "inject"), log
        assert ("inject", False, True) in log, log  # then injected into L2
        assert r.world.vm.vcpus[0].delivered == 1
        assert not r.world.vm.vcpus[0].nested_run_pending
        if impl != "prepatch":
            assert r.first_bug is None, r.findings


def test_init_waits_for_the_pending_vmrun():
    """kvm_apic_accept_events(): an INIT that arrives while the VMRUN is pending is
    left latched (-EBUSY) and taken at the next entry; the vCPU ends in
    wait-for-SIPI, out of L2, on every schedule."""
    s = Scenario(
        vcpus=(V("run"), VcpuSpec(("sti_vmrun", "run"), intercept_intr=False)),
        ioctls=(("init 1",),),
        irq_source="split",
    )
    cls = _recording("reference")
    deferred = 0
    for k in range(60):
        r = run(cls, s, RandomScheduler(k))
        log = r.world.__dict__["log"]
        assert ("reset", True, True) not in log, (k, log)
        deferred += ("accept", True, True) in log
        v = r.world.vm.vcpus[1]
        assert r.execution.outcome == "done", (k, r.findings)
        assert v.mp_state == MpState.INIT_RECEIVED and not v.guest_mode, k
        assert not v.init_pending and not v.nested_run_pending, k
    assert deferred > 0  # some schedule delivers the INIT while the VMRUN is pending
