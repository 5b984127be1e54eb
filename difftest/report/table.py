"""The interleaving table: one column per thread, one block per run of
consecutive steps of one thread, each step named by what it does and followed
by the state it changed. Plain text for a mailing-list email (80-100 columns).
"""

from __future__ import annotations

import textwrap

from difftest.engine.executor import Step
from difftest.model.scenario import Scenario
from difftest.model.state import Reason, bit, reasons_str
from difftest.oracle.findings import MEANING, Finding

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


def kernel_name(fn: str) -> str:
    """Python's ``_foo`` stands for the kernel's ``__foo``."""
    if fn == "vcpu_run":
        return "svm_vcpu_run"
    return "_" + fn if fn.startswith("_") and not fn.startswith("__") else fn


def function_of(step: Step) -> str:
    names = [n for n in step.stack if n not in _HELPERS]
    return kernel_name(names[-1]) if names else ""


def describe_scenario(s: Scenario) -> list[str]:
    init = 0
    for r in s.initial:
        init |= bit(Reason[r])
    lines = [
        f"scenario: {s.vendor.upper()}, enable_apicv={int(s.enable_apicv)}, initial inhibits: "
        f"{reasons_str(init)}, ExtINT pending at start on: "
        f"{', '.join(f'vcpu{i}' for i in s.extint) or 'none'}"
    ]
    for i, v in enumerate(s.vcpus):
        extra = "" if v.apic_enabled else ", APIC disabled"
        lines.append(f"  vcpu{i} (IF={int(v.guest_if)}{extra}): {' '.join(v.program) or '-'}")
    for i, p in enumerate(s.ioctls):
        lines.append(f"  ioctl{i}: {', '.join(p) or '-'}")
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


def render_table(
    trace: list[Step],
    names: list[str],
    *,
    width: int = 96,
    upto: int | None = None,
    full: bool = False,
) -> list[str]:
    """The interleaving up to and including step ``upto``."""
    ncol = len(names)
    stepw = 7
    colw = max(8, (width - stepw - 3 * ncol) // ncol)
    sep = "-" * stepw + "".join("-+-" + "-" * colw for _ in names)
    out = [f"{'step':>{stepw}}" + "".join(f" | {n:<{colw}}" for n in names), sep]
    steps = [s for s in trace if (upto is None or s.index <= upto) and (full or not is_quiet(s))]
    i = 0
    while i < len(steps):
        tid = steps[i].tid
        j = i
        while j < len(steps) and steps[j].tid == tid:
            j += 1
        block = steps[i:j]
        lines: list[str] = []
        last_fn = None
        for s in block:
            fn = function_of(s)
            if fn and fn != last_fn:
                lines.append(fn[:colw])
                last_fn = fn
            lines.extend(textwrap.wrap(s.op, colw, initial_indent="  ", subsequent_indent="    "))
            if s.changes:
                text = " ".join(f"{k}={new}" for k, (_, new) in s.changes.items())
                lines.extend(
                    textwrap.wrap(text, colw, initial_indent="  > ", subsequent_indent="    ")
                )
        first, last = block[0].index, block[-1].index
        label = f"{first}" if first == last else f"{first}-{last}"
        for n, text in enumerate(lines):
            cells = ["" for _ in names]
            cells[tid] = text
            head = label if n == 0 else ""
            out.append(f"{head:>{stepw}}" + "".join(f" | {c:<{colw}}" for c in cells).rstrip())
        i = j
    out.append(sep)
    return out


def render_report(
    impl: str,
    scenario: Scenario,
    trace: list[Step],
    finding: Finding | None,
    *,
    width: int = 96,
    full: bool = False,
) -> str:
    names = scenario.thread_names
    out = []
    if finding is None:
        out.append(f"difftest: {impl}: no divergence from the reference")
    else:
        out.append(f"difftest: {impl} diverges from the reference: {finding.kind.value}")
        out.extend(
            textwrap.wrap(MEANING[finding.kind], width, initial_indent="  ", subsequent_indent="  ")
        )
    out.append("")
    out.extend(describe_scenario(scenario))
    out.append("")
    upto = None
    if finding is not None and finding.where != "quiescence":
        upto = finding.step
    upto_steps = [s for s in trace if upto is None or s.index <= upto]
    hidden = 0 if full else sum(1 for s in upto_steps if is_quiet(s))
    out.append(
        f"interleaving: {len(upto_steps)} steps"
        + (f" ({hidden} re-checks that changed nothing hidden)" if hidden else "")
        + "; '>' = state changed"
    )
    out.extend(render_table(trace, names, width=width, upto=upto, full=full))
    if finding is not None:
        at = (
            "at quiescence"
            if finding.where == "quiescence"
            else (f"at step {finding.step} ({finding.thread}, {finding.where})")
        )
        out.append("")
        out.extend(
            textwrap.wrap(f"divergence {at}: {finding.message}", width, subsequent_indent="  ")
        )
        if finding.expected:
            out.extend(
                textwrap.wrap(
                    f"the reference expects: {finding.expected}", width, subsequent_indent="  "
                )
            )
    return "\n".join(out)
