"""What difftest reports: a finding is a divergence from the specification."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Kind(StrEnum):
    MISSED_INTERCEPT = "missed-intercept"
    BLOCKED_INJECTION = "blocked-injection"
    WARN = "warn"
    LOST_WINDOW = "lost-window"
    LOST_INTERRUPT = "lost-interrupt"
    STALE_WINDOW = "stale-window"
    DELAYED_WINDOW = "delayed-window"
    STUCK_INHIBIT = "stuck-inhibit"
    MISSING_INHIBIT = "missing-inhibit"
    WRONG_INHIBITS = "wrong-inhibits"
    LOST_UPDATE = "lost-update"
    COUNTER = "counter"
    STALE_APICV = "stale-apicv"
    IRQWIN_WRITE_LOCK = "irqwin-write-lock"
    TPR_DESYNC = "tpr-desync"
    CR8_INTERCEPT = "cr8-intercept"
    DEADLOCK = "deadlock"
    STEP_BUDGET = "step-budget"


# "bug" findings fail a check; "latency" and "perf" are shown to the reviewer but
# do not make a version wrong (a delayed window is still delivered; an extra write
# lock costs contention, not correctness).
SEVERITY = {k: "bug" for k in Kind}
SEVERITY[Kind.DELAYED_WINDOW] = "latency"
SEVERITY[Kind.STALE_WINDOW] = "latency"
SEVERITY[Kind.IRQWIN_WRITE_LOCK] = "perf"
SEVERITY[Kind.CR8_INTERCEPT] = "perf"

MEANING = {
    Kind.MISSED_INTERCEPT: "guest access to the APIC page went through a present SPTE "
    "while the vCPU's APICv was off: KVM failed to intercept it",
    Kind.WARN: "a kernel WARN_ON fired",
    Kind.BLOCKED_INJECTION: "an interrupt was injected into L1 while L1 blocked it (GIF=0 "
    "or RFLAGS.IF=0)",
    Kind.LOST_WINDOW: "an ExtINT is pending but nothing will ever deliver it "
    "(V_IRQ ignored by AVIC, or no window requested)",
    Kind.LOST_INTERRUPT: "KVM acknowledged an interrupt that is neither queued nor delivered",
    Kind.STALE_WINDOW: "an IRQ window whose interrupt went away before injection stays "
    "counted (IRQWIN set) until that vCPU's next injected interrupt",
    Kind.DELAYED_WINDOW: "the guest opened an IRQ window that AVIC ignored; "
    "the interrupt came later, after a kick",
    Kind.STUCK_INHIBIT: "IRQWIN stays set with no window outstanding and no other "
    "reason: AVIC is off for the whole VM for good",
    Kind.MISSING_INHIBIT: "APICv is activated while a vCPU waits for an IRQ window",
    Kind.WRONG_INHIBITS: "the non-IRQWIN inhibit bits differ from the committed updates",
    Kind.LOST_UPDATE: "an inhibit update issued by an ioctl was never committed, or twice",
    Kind.COUNTER: "the IRQ-window counter differs from the number of outstanding windows",
    Kind.STALE_APICV: "a vCPU's apicv_active differs from what the inhibit state implies",
    Kind.IRQWIN_WRITE_LOCK: "apicv_update_lock taken for write for IRQWIN although "
    "another reason already inhibited APICv",
    Kind.TPR_DESYNC: "the CPU's TPR (V_TPR) differs from the TPR the guest wrote: AVIC "
    "delivers or withholds the guest's interrupts by the wrong priority",
    Kind.CR8_INTERCEPT: "a CR8 write exited while AVIC was active (INTERCEPT_CR8_WRITE "
    "left set): a #VMEXIT per TPR write for nothing",
    Kind.DEADLOCK: "every unfinished thread is blocked",
    Kind.STEP_BUDGET: "the step budget ran out: livelock or runaway retry loop",
}


@dataclass(frozen=True)
class Finding:
    kind: Kind
    message: str
    step: int  # index into the schedule of the step that exposed it
    thread: str  # thread that ran that step, or "-" for checks at quiescence
    where: str  # kernel function, or "quiescence"
    expected: str = ""  # what the specification expected instead

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    @property
    def signature(self) -> str:
        """Deduplication key: the same kind of divergence at the same place."""
        return f"{self.kind.value}@{self.where}"

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["kind"] = self.kind.value
        return d

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Finding:
        return cls(
            kind=Kind(d["kind"]),
            message=str(d["message"]),
            step=int(d["step"]),  # type: ignore[arg-type]
            thread=str(d["thread"]),
            where=str(d["where"]),
            expected=str(d.get("expected", "")),
        )
