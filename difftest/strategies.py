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
    NESTED_OPS,
    RESET_OPS,
    SETTABLE,
    VCPU_IOCTLS,
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
# In the alphabet on request (``Bounds(vcpu_ops=...)``, ``Bounds(modparams=True)``):
# the ci budget's tests measure the search on the alphabet above.
GIF_AND_RESET_OPS = ("stgi", "clgi", "reset")
_NESTED_OPS = NESTED_OPS
INHIBIT_IOCTLS = tuple(f"{how} {r.name}" for r, hows in SETTABLE.items() for how in hows)
# What generation draws from: the reasons a running VM flips at will.
_GEN_INHIBIT_IOCTLS = tuple(
    f"{how} {r}" for r in ("PIT_REINJ", "BLOCKIRQ", "HYPERV") for how in ("set", "clear")
)
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
    resets: bool = False  # INIT, SIPI and userspace resets (final's known finding)
    # Also draw clgi/stgi, vGIF off and enable_apicv=0 (module parameters).
    modparams: bool = False

    def vcpu_alphabet(self) -> tuple[str, ...]:
        ops = self.vcpu_ops or (
            VCPU_OPS_SIMPLEST_FIRST + (GIF_AND_RESET_OPS if self.modparams else ())
        )
        return tuple(
            o
            for o in ops
            if (self.nested or o not in _NESTED_OPS) and (self.resets or o not in RESET_OPS)
        )

    def ioctl_alphabet(self, n_vcpus: int) -> tuple[str, ...]:
        targeted = ("extint", "init", "sipi") if self.resets else ("extint",)
        per_vcpu = tuple(f"{k} {i}" for k in targeted for i in range(n_vcpus))
        if self.ioctl_ops is None:
            return per_vcpu[:n_vcpus] + _GEN_INHIBIT_IOCTLS + per_vcpu[n_vcpus:]
        return tuple(o for o in self.ioctl_ops if o.split()[0] not in VCPU_IOCTLS or o in per_vcpu)


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
def _vcpu_slot(draw: st.DrawFn, bounds: Bounds) -> tuple[VcpuSpec, bool] | None:
    if not draw(st.integers(0, 7)):
        return None
    program = _slots(draw, bounds.vcpu_alphabet(), bounds.max_ops)
    return VcpuSpec(program, guest_if=draw(st.booleans())), _one_in(draw, 3)


@st.composite
def _ioctl_slot(draw: st.DrawFn, bounds: Bounds) -> tuple[str, ...]:
    if not draw(st.integers(0, 7)):
        return ()
    return _slots(draw, bounds.ioctl_alphabet(bounds.max_vcpus), bounds.max_ops)


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
    vslots = [draw(_vcpu_slot(bounds)) for _ in range(bounds.max_vcpus)]
    if all(v is None for v in vslots):
        vslots[0] = (VcpuSpec(()), False)  # a VM has at least one vCPU
    position = {}
    for slot, v in enumerate(vslots):
        if v is not None:
            position[slot] = len(position)
    iprogs = [draw(_ioctl_slot(bounds)) for _ in range(bounds.max_ioctl_threads)]
    choices = INITIAL_CHOICES if bounds.initial is None else bounds.initial
    initial = tuple(r for i, r in enumerate(choices) if _one_in(draw, 2 if i == 0 else 8))
    vcpus = [v for v in vslots if v is not None]
    slots = list(position)
    ioctls = []
    for k, prog in enumerate(iprogs):
        # "extint N" (and init/sipi) name vCPU slot N; one for a deleted vCPU goes too.
        ops = tuple(
            op
            if op.split()[0] not in VCPU_IOCTLS
            else f"{op.split()[0]} {position[int(op.split()[1])]}"
            for op in prog
            if op.split()[0] not in VCPU_IOCTLS or int(op.split()[1]) in position
        )
        if ops:
            ioctls.append(ops)
            slots.append(bounds.max_vcpus + k)
    # Module parameters, simplest (the defaults) first: vGIF off, enable_apicv=0.
    vgif = not (bounds.modparams and _one_in(draw, 4))
    enable_apicv = not (bounds.modparams and _one_in(draw, 16))
    scenario = Scenario(
        vcpus=tuple(v for v, _ in vcpus),
        ioctls=tuple(ioctls),
        initial=initial,
        vendor=bounds.vendor,
        extint=tuple(i for i, (_, e) in enumerate(vcpus) if e),
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
