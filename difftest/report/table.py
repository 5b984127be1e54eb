"""The interleaving table: one column per thread, one block per run of
consecutive steps of one thread, each step named by what it does and followed
by the state it changed. Plain text for a mailing-list email: 80 columns by
default, any width from 60 up, and no name is ever cut (``report.wrap``).

When the threads' columns are too narrow for the longest name, the table
switches to lanes: each block is labelled with its thread and indented by the
thread's lane, so every line has the full width for its text.
"""

from __future__ import annotations

from dataclasses import dataclass

from difftest.engine.executor import Step
from difftest.model.scenario import Scenario
from difftest.model.state import Reason, bit, reasons_str
from difftest.oracle.findings import MEANING, Finding
from difftest.report.wrap import DEFAULT_WIDTH, longest_piece, wrap

# Helpers whose own name adds nothing: a step inside one is shown under its caller.
_HELPERS = frozenset(
    {
        "kvm_make_request",
        "kvm_check_request",
        "kvm_vcpu_exiting_guest_mode",
        "kvm_request_pending",
        "kvm_vcpu_kick",
        "kvm_mmu_invalidate_begin",
        "kvm_mmu_invalidate_end",
        "kvm_arch_vcpu_ioctl_run",
        "vcpu_idle",
        "_ioctl_thread",
        "svm_handle_vintr",
        "svm_handle_npf",
        "kvm_set_apicv_inhibit",
        "kvm_clear_apicv_inhibit",
    }
)

# Model helpers that are not kernel functions: the model splits a kernel function
# in two to share its tail between versions. A step inside one belongs to (and is
# printed as) its caller, the kernel function whose body it is.
MODEL_HELPERS = frozenset({"_apicv_update"})


def kernel_name(fn: str, vendor: str = "svm") -> str:
    """Python's ``_foo`` stands for the kernel's ``__foo``; the vendor's
    ``kvm_x86_ops.vcpu_run`` is ``svm_vcpu_run`` or ``vmx_vcpu_run``."""
    if fn in ("vcpu_run", "svm_vcpu_run", "vmx_vcpu_run"):
        return f"{vendor}_vcpu_run"
    return "_" + fn if fn.startswith("_") and not fn.startswith("__") else fn


def vendor_op(op: str, vendor: str) -> str:
    """The hardware step is VMRUN on SVM and VMRESUME (VM-entry) on VMX."""
    if vendor == "vmx" and op.startswith("VMRUN:"):
        return "VMRESUME:" + op[len("VMRUN:") :]
    return op


def function_of(step: Step, vendor: str = "svm") -> str:
    names = [n for n in step.stack if n not in _HELPERS and n not in MODEL_HELPERS]
    return kernel_name(names[-1], vendor) if names else ""


def describe_scenario(s: Scenario, width: int = DEFAULT_WIDTH) -> list[str]:
    init = 0
    for r in s.initial:
        init |= bit(Reason[r])
    head = (
        f"scenario: {s.vendor.upper()}, enable_apicv={int(s.enable_apicv)}, initial inhibits: "
        f"{reasons_str(init)}, ExtINT pending at start on: "
        f"{', '.join(f'vcpu{i}' for i in s.extint) or 'none'}"
    )
    lines = wrap(head, width, "", "  ")
    for i, v in enumerate(s.vcpus):
        extra = "" if v.apic_enabled else ", APIC disabled"
        text = f"vcpu{i} (IF={int(v.guest_if)}{extra}): {' '.join(v.program) or '-'}"
        lines.extend(wrap(text, width, "  ", "    "))
    for i, p in enumerate(s.ioctls):
        lines.extend(wrap(f"ioctl{i}: {', '.join(p) or '-'}", width, "  ", "    "))
    return lines


# Steps that only re-check something and changed nothing: hidden unless full.
_QUIET = (
    "check_request",
    "kvm_vcpu_exit_request",
    "WARN_ON_ONCE",
    "idle",
    "kvm_cpu_has_injectable_intr",
)


def is_quiet(s: Step) -> bool:
    return not s.changes and s.op.startswith(_QUIET)


def changes_text(s: Step) -> str:
    return " ".join(f"{k}={new}" for k, (_, new) in s.changes.items())


@dataclass
class Block:
    """A run of consecutive steps of one thread."""

    tid: int
    first: int
    last: int
    text: list[tuple[int, str, str]]  # (indent, text, continuation indent)

    @property
    def label(self) -> str:
        return f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"


def blocks(steps: list[Step], vendor: str) -> list[Block]:
    out: list[Block] = []
    i = 0
    while i < len(steps):
        tid = steps[i].tid
        j = i
        while j < len(steps) and steps[j].tid == tid:
            j += 1
        text: list[tuple[int, str, str]] = []
        last_fn = None
        for s in steps[i:j]:
            fn = function_of(s, vendor)
            if fn and fn != last_fn:
                text.append((0, fn, "  "))
                last_fn = fn
            text.append((2, vendor_op(s.op, vendor), "    "))
            if s.changes:
                text.append((2, "> " + changes_text(s), "    "))
        out.append(Block(tid, steps[i].index, steps[j - 1].index, text))
        i = j
    return out


def _cell(block: Block, colw: int) -> list[str]:
    lines: list[str] = []
    for indent, text, cont in block.text:
        lines.extend(wrap(text, colw, " " * indent, cont))
    return lines


def _need(bs: list[Block]) -> int:
    """Columns a cell needs so that no piece of text has to be cut."""
    return max(
        (
            ind + max(len(t) if ind == 0 else 0, 2 + longest_piece(t))
            for b in bs
            for ind, t, _ in b.text
        ),
        default=8,
    )


def render_table(
    trace: list[Step],
    names: list[str],
    *,
    width: int = DEFAULT_WIDTH,
    upto: int | None = None,
    full: bool = False,
    vendor: str = "svm",
) -> list[str]:
    """The interleaving up to and including step ``upto``."""
    steps = [s for s in trace if (upto is None or s.index <= upto) and (full or not is_quiet(s))]
    bs = blocks(steps, vendor)
    stepw = max(4, *(len(b.label) for b in bs)) if bs else 4
    ncol = len(names)
    colw = (width - stepw - 3 * ncol) // ncol
    need = _need(bs)
    if colw >= max(need, *(len(n) for n in names)):
        return _grid(bs, names, stepw, colw)
    return _lanes(bs, names, stepw, width, need)


def _grid(bs: list[Block], names: list[str], stepw: int, colw: int) -> list[str]:
    sep = "-" * stepw + "".join("-+-" + "-" * colw for _ in names)
    out = [(f"{'step':>{stepw}}" + "".join(f" | {n:<{colw}}" for n in names)).rstrip(), sep]
    for b in bs:
        for n, text in enumerate(_cell(b, colw)):
            cells = ["" for _ in names]
            cells[b.tid] = text
            head = b.label if n == 0 else ""
            out.append((f"{head:>{stepw}}" + "".join(f" | {c:<{colw}}" for c in cells)).rstrip())
    out.append(sep)
    return out


def _lanes(bs: list[Block], names: list[str], stepw: int, width: int, need: int) -> list[str]:
    namew = max(len(n) for n in names)
    prefix = stepw + 1 + namew + 3
    room = width - prefix
    shift = min(8, max(0, (room - need) // max(1, len(names) - 1)))
    lanes = "  ".join(names)
    out = [f"{'step':>{stepw}} {'thread':<{namew}} | lanes: {lanes}"[:width].rstrip()]
    out.append("-" * width)
    for b in bs:
        pad = " " * (shift * b.tid)
        for n, text in enumerate(_cell(b, room - shift * b.tid)):
            head = (
                f"{b.label:>{stepw}} {names[b.tid]:<{namew}}"
                if n == 0
                else " " * (stepw + 1 + namew)
            )
            out.append(f"{head} | {pad}{text}".rstrip())
    out.append("-" * width)
    return out


def finding_where(finding: Finding, vendor: str) -> str:
    return finding.where if finding.where == "quiescence" else kernel_name(finding.where, vendor)


def report_header(
    impl: str, scenario: Scenario, finding: Finding | None, width: int, command: str | None
) -> list[str]:
    out: list[str] = []
    if finding is None:
        out.extend(wrap(f"difftest: {impl}: no divergence from the reference", width))
    else:
        out.extend(
            wrap(f"difftest: {impl} diverges from the reference: {finding.kind.value}", width)
        )
        out.extend(wrap(MEANING[finding.kind], width, "  "))
    if command:
        out.extend(wrap(f"reproduce: {command}", width, "", "  "))
    out.append("")
    out.extend(describe_scenario(scenario, width))
    out.append("")
    return out


def report_footer(finding: Finding | None, vendor: str, width: int) -> list[str]:
    if finding is None:
        return []
    at = (
        "at quiescence"
        if finding.where == "quiescence"
        else f"at step {finding.step} ({finding.thread}, {finding_where(finding, vendor)})"
    )
    out = [""]
    out.extend(wrap(f"divergence {at}: {finding.message}", width, "", "  "))
    if finding.expected:
        out.extend(wrap(f"the reference expects: {finding.expected}", width, "", "  "))
    return out


def render_report(
    impl: str,
    scenario: Scenario,
    trace: list[Step],
    finding: Finding | None,
    *,
    width: int = DEFAULT_WIDTH,
    full: bool = False,
    command: str | None = None,
) -> str:
    """The whole table, headed by the finding and the command that reproduces it."""
    names = scenario.thread_names
    vendor = scenario.vendor
    out = report_header(impl, scenario, finding, width, command)
    upto = None
    if finding is not None and finding.where != "quiescence":
        upto = finding.step
    upto_steps = [s for s in trace if upto is None or s.index <= upto]
    hidden = 0 if full else sum(1 for s in upto_steps if is_quiet(s))
    out.extend(
        wrap(
            f"interleaving: {len(upto_steps)} steps"
            + (f" ({hidden} re-checks that changed nothing hidden)" if hidden else "")
            + "; '>' = state changed",
            width,
        )
    )
    out.extend(render_table(trace, names, width=width, upto=upto, full=full, vendor=vendor))
    out.extend(report_footer(finding, vendor, width))
    return "\n".join(out)
