"""Hypothesis strategies: a scenario, then its schedule, from one choice sequence.

The scenario is drawn first; scheduling decisions are drawn lazily, one per
step where more than one thread can run, while the execution proceeds. So
Hypothesis sees one sequence of choices and shrinks operations and schedule
together: fewer vCPUs, shorter programs, simpler operations, and every
scheduling choice towards 0, which keeps the running thread (no preemption).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from difftest.impls.kernel.world import World
from difftest.model.scenario import (
    ANY,
    GIF_OPS,
    PIC_OPS,
    RESET_OPS,
    SETTABLE,
    TPR_OPS,
    VCPU_IOCTLS,
    X2APIC_OPS,
    Scenario,
    VcpuSpec,
)
from difftest.runner import Result, run
from difftest.schedulers.base import ChoiceSource

# Simplest first: Hypothesis shrinks a sampled element towards index 0.
# Repeats weight generation towards what the inhibit logic races on.
VCPU_OPS_SIMPLEST_FIRST = (
    "run",
    "sti",
    "cli",
    "apic",
    "sti",
    "cli",
    "apic",
    "vmrun",
    "sti_vmrun",
    "vmexit",
)
_NESTED_OPS = ("vmrun", "sti_vmrun", "vmexit", *GIF_OPS)
INHIBIT_IOCTLS = tuple(f"{how} {r.name}" for r, hows in SETTABLE.items() for how in hows)
# What generation draws from: the reasons a running VM flips at will.
_GEN_INHIBIT_IOCTLS = tuple(
    f"{how} {r}" for r in ("PIT_REINJ", "BLOCKIRQ", "HYPERV") for how in ("set", "clear")
)
# Simplest first: split is the per-vCPU source closest to the legacy model.
_HYPOTHESIS_SOURCES = ("split", "pic", "xen")
INITIAL_CHOICES = ("PIT_REINJ", "HYPERV", "BLOCKIRQ", "ABSENT")


@dataclass(frozen=True)
class Bounds:
    """How big a generated scenario may be, and from which operations."""

    max_vcpus: int = 3
    max_ioctl_threads: int = 1
    max_ops: int = 4  # per thread
    nested: bool = True
    vendor: str = "svm"
    vcpu_ops: tuple[str, ...] | None = None  # None: every vCPU operation
    ioctl_ops: tuple[str, ...] | None = None  # None: every inhibit ioctl, "extint N"
    initial: tuple[str, ...] | None = None  # reasons that may be set at start; None: all
    # Where ExtINTs come from (IRQ_SOURCES); "any": drawn first, shrinking towards
    # split. The default keeps the legacy model, whose shrinking the tests pin.
    irq_source: str = "legacy"
    # The wider sources add CLGI/STGI (with nested operations) and draw vGIF off
    # and enable_apicv=0; ``resets`` adds userspace resets and INIT/SIPI IPIs.
    resets: bool = False

    def vcpu_alphabet(self, source: str = "legacy") -> tuple[str, ...]:
        ops = self.vcpu_ops
        if ops is None:
            ops = VCPU_OPS_SIMPLEST_FIRST
            if source != "legacy":
                ops += GIF_OPS + TPR_OPS + X2APIC_OPS + (RESET_OPS if self.resets else ())
        return tuple(o for o in ops if self.nested or o not in _NESTED_OPS)

    def ioctl_alphabet(self, n_vcpus: int, source: str = "legacy") -> tuple[str, ...]:
        extints = tuple(f"extint {i}" for i in range(n_vcpus))
        lapics = tuple(f"lapic {i}" for i in range(n_vcpus))
        if source == "pic":
            irqs: tuple[str, ...] = PIC_OPS + lapics
        elif source == "legacy":
            irqs = extints
        else:
            irqs = extints + lapics
        if source != "legacy" and (self.resets or self.ioctl_ops is not None):
            irqs += tuple(f"{k} {i}" for k in ("init", "sipi") for i in range(n_vcpus))
        if self.ioctl_ops is None:
            return irqs + _GEN_INHIBIT_IOCTLS
        return tuple(o for o in self.ioctl_ops if _vcpu_arg(o) is None or o in irqs)


def _vcpu_arg(op: str) -> int | None:
    """The vCPU an ``extint N`` / ``lapic N`` / ``init N`` / ``sipi N`` operation names."""
    parts = op.split()
    return int(parts[1]) if parts[0] in VCPU_IOCTLS else None


DEFAULT_BOUNDS = Bounds()


class HypothesisSource:
    """A ``ChoiceSource`` whose every draw is a Hypothesis integer draw."""

    _ints: dict[int, st.SearchStrategy[int]] = {}

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def draw(self, n: int) -> int:
        s = self._ints.get(n)
        if s is None:
            s = self._ints[n] = st.integers(0, n - 1)
        return self._draw(s)


def _slots(draw: st.DrawFn, alphabet: tuple[str, ...], n: int) -> tuple[str, ...]:
    """``n`` slots, each empty or one operation. An empty slot is choice 0, so
    shrinking deletes operations; generation fills most slots, as bugs need
    busy threads."""
    picks = (draw(st.integers(0, len(alphabet))) for _ in range(n))
    return tuple(alphabet[k - 1] for k in picks if k)


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """True with probability 1/n; shrinks to False."""
    return draw(st.integers(0, n - 1)) == n - 1


@st.composite
def _vcpu_slot(draw: st.DrawFn, bounds: Bounds, source: str) -> tuple[VcpuSpec, bool] | None:
    wide = source != "legacy"
    if not draw(st.integers(0, 7)):
        return None
    program = _slots(draw, bounds.vcpu_alphabet(source), bounds.max_ops)
    guest_if = draw(st.booleans())
    if not wide:
        return VcpuSpec(program, guest_if=guest_if), _one_in(draw, 3)
    # Shrinks towards LVT0 accepting ExtINT and L1 intercepting INTR.
    lvt0 = not _one_in(draw, 3)
    intercept = not (bounds.nested and _one_in(draw, 2))
    return VcpuSpec(program, guest_if, lvt0=lvt0, intercept_intr=intercept), _one_in(draw, 3)


@st.composite
def _ioctl_slot(draw: st.DrawFn, bounds: Bounds, source: str) -> tuple[str, ...]:
    if not draw(st.integers(0, 7)):
        return ()
    return _slots(draw, bounds.ioctl_alphabet(bounds.max_vcpus, source), bounds.max_ops)


@st.composite
def slotted_scenarios(
    draw: st.DrawFn, bounds: Bounds = DEFAULT_BOUNDS
) -> tuple[Scenario, list[int]]:
    """A scenario and the slot of each of its threads.

    Slots rather than lists: while generating, a scenario is as busy as
    ``generate()``'s; while shrinking, Hypothesis empties whole vCPUs, threads
    and single operations by lowering one choice to 0. Each vCPU is its own
    span of choices, so deleting it takes its program and pending interrupt
    along, and threads keep their slot number, so the schedule choices that
    follow still name the same threads (see ``PreemptionScheduler``).
    """
    source = bounds.irq_source
    if source == ANY:
        source = draw(st.sampled_from(_HYPOTHESIS_SOURCES))
    wide = source != "legacy"
    vslots = [draw(_vcpu_slot(bounds, source)) for _ in range(bounds.max_vcpus)]
    if all(v is None for v in vslots):
        vslots[0] = (VcpuSpec(()), False)  # a VM has at least one vCPU
    position = {}
    for slot, v in enumerate(vslots):
        if v is not None:
            position[slot] = len(position)
    iprogs = [draw(_ioctl_slot(bounds, source)) for _ in range(bounds.max_ioctl_threads)]
    choices = INITIAL_CHOICES if bounds.initial is None else bounds.initial
    initial = tuple(r for i, r in enumerate(choices) if _one_in(draw, 2 if i == 0 else 8))
    vcpus = [v for v in vslots if v is not None]
    slots = list(position)
    ioctls = []
    for k, prog in enumerate(iprogs):
        # "extint N" / "lapic N" / "init N" / "sipi N" name vCPU slot N; an
        # interrupt for a deleted vCPU goes too.
        ops = tuple(
            op if (n := _vcpu_arg(op)) is None else f"{op.split()[0]} {position[n]}"
            for op in prog
            if _vcpu_arg(op) is None or _vcpu_arg(op) in position
        )
        if ops:
            ioctls.append(ops)
            slots.append(bounds.max_vcpus + k)
    # Module parameters, simplest (the defaults) first: vGIF off in one example in
    # 4, enable_apicv=0 in one in 16 (the wider sources only).
    vgif = not (wide and bounds.vendor == "svm" and _one_in(draw, 4))
    enable_apicv = not (wide and _one_in(draw, 16))
    scenario = Scenario(
        vcpus=tuple(v for v, _ in vcpus),
        ioctls=tuple(ioctls),
        initial=initial,
        vendor=bounds.vendor,
        extint=tuple(i for i, (_, e) in enumerate(vcpus) if e),
        irq_source=source,
        vgif=vgif,
        enable_apicv=enable_apicv,
    )
    return scenario, slots


def scenarios(bounds: Bounds = DEFAULT_BOUNDS) -> st.SearchStrategy[Scenario]:
    return slotted_scenarios(bounds).map(lambda x: x[0])


class PreemptionScheduler:
    """A schedule as a lazily drawn list of preemptions.

    Before each preemption the source is asked "another one?" (0: no, run every
    thread until it blocks or ends from here on), then after how many
    scheduling points (0: at the next one) and to which thread. So the simplest
    choices are "no preemption", and a shrinker that lowers one number either
    deletes a preemption or moves it earlier; the number of preemptions is the
    number of "yes" answers. When the running thread blocks or ends, the next
    one is chosen freely (slot draw, 0 = the first runnable); that is not a
    preemption.

    Threads are named by slot, not by position among the runnable ones, so a
    recorded choice still names the same thread after shrinking deletes another.
    """

    # Swarm-style: each execution first draws how eager it is to preempt
    # ("another one?" is yes unless a draw in range(MORE[k]) is 0). A few
    # well-placed preemptions (the PCT observation) and dense bursts both occur;
    # index 0, the sparsest, is where shrinking goes.
    MORE = (2, 4, 16)
    GAP_SCALES = 5  # gaps up to 2, 4, 8, 16 or 32 points, the scale drawn each time

    def __init__(self, source: ChoiceSource, slots: list[int], n_slots: int) -> None:
        self.source = source
        self.thread_of = {slot: tid for tid, slot in enumerate(slots)}
        self.n_slots = n_slots
        self.countdown: int | None = None
        self.more = self.MORE[0]

    def new_execution(self) -> None:
        self.more = self.MORE[self.source.draw(len(self.MORE))]
        self._plan()

    def _plan(self) -> None:
        more = self.source.draw(self.more) != 0
        # A mixture of scales: dense bursts of preemptions reach windows a step
        # or two wide; long gaps let whole operations run in between.
        self.countdown = self.source.draw(2 << self.source.draw(self.GAP_SCALES)) if more else None

    def _pick(self, runnable: Sequence[int], exclude: int | None) -> int | None:
        tid = self.thread_of.get(self.source.draw(self.n_slots))
        return tid if tid in runnable and tid != exclude else None

    def next_task(self, runnable: Sequence[int], current: int | None) -> int:
        if current not in runnable:
            if len(runnable) == 1:
                return runnable[0]
            tid = self._pick(runnable, None)
            return runnable[0] if tid is None else tid
        if len(runnable) == 1 or self.countdown is None:
            return current
        if self.countdown > 0:
            self.countdown -= 1
            return current
        tid = self._pick(runnable, current)
        self._plan()
        return current if tid is None else tid


@st.composite
def executions(
    draw: st.DrawFn,
    impl: type[World],
    bounds: Bounds = DEFAULT_BOUNDS,
    scenario: Scenario | None = None,
) -> Result:
    """One run of ``impl``: the scenario (unless given) and then, lazily, the schedule."""
    if scenario is None:
        scenario, slots = draw(slotted_scenarios(bounds))
        n_slots = bounds.max_vcpus + bounds.max_ioctl_threads
    else:
        slots = list(range(len(scenario.thread_names)))
        n_slots = len(slots)
    return run(impl, scenario, PreemptionScheduler(HypothesisSource(draw), slots, n_slots))
