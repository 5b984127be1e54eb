"""The causal digest: the interleaving cut down to what the divergence needs.

The slice (``causal``) picks the steps; consecutive kept steps of one thread
become one line; a line that only ran because the scheduler preempted the
thread of the line before it is marked ``!``. Each line is then checked
mechanically on the real model: moving its steps behind the next line's
(a swap) or out of the race altogether (its thread postponed to the end) must
change the verdict. A line for which neither does is kept only as context and
says so. The digest ends with what the reference expected.
"""

from __future__ import annotations

from dataclasses import dataclass

from difftest.impls.kernel.world import World
from difftest.model.scenario import Scenario
from difftest.oracle.findings import Finding, Kind
from difftest.report.causal import (
    Traced,
    causal_slice,
    reorder,
    traced,
    verdict_holds,
    without_op,
)
from difftest.report.table import (
    changes_text,
    function_of,
    report_footer,
    report_header,
    vendor_op,
)
from difftest.report.wrap import DEFAULT_WIDTH, longest_piece, wrap


@dataclass
class Line:
    """Consecutive kept steps of one thread."""

    tid: int
    steps: list[int]  # step indices, ascending
    preempts: int | None = None  # the thread preempted so that this line could run
    role: str = ""  # "order", "needed" or "context" once checked

    @property
    def label(self) -> str:
        a, b = self.steps[0], self.steps[-1]
        return f"{a}" if a == b else f"{a}-{b}"


@dataclass
class Digest:
    traced: Traced
    lines: list[Line]

    @property
    def finding(self) -> Finding | None:
        return self.traced.finding


def build(
    impl: type[World],
    scenario: Scenario,
    schedule: list[int],
    *,
    strict: bool = True,
    recorded: Kind | None = None,
    check: bool = True,
) -> Digest:
    t = traced(impl, scenario, schedule, strict=strict, recorded=recorded)
    kept = sorted(causal_slice(t))
    lines: list[Line] = []
    for i in kept:
        tid = t.trace[i].tid
        if lines and lines[-1].tid == tid:
            lines[-1].steps.append(i)
        else:
            lines.append(Line(tid, [i]))
    d = Digest(t, lines)
    if check and t.finding is not None:
        classify(impl, scenario, t.result.execution.schedule, d)
    for prev, line in zip(lines, lines[1:], strict=False):
        # a preemption matters when undoing the order it made changes the verdict
        a, b = prev.steps[-1], line.steps[0]
        if prev.role == "order" and any(t.preempted[p] == prev.tid for p in range(a + 1, b + 1)):
            line.preempts = prev.tid
    return d


def classify(impl: type[World], scenario: Scenario, schedule: list[int], d: Digest) -> None:
    """Mark each line by what moving it does to the verdict (module docstring)."""
    f = d.finding
    assert f is not None
    lines = d.lines
    for i, line in enumerate(lines):
        start = line.steps[0]
        if i + 1 < len(lines):
            swapped = reorder(schedule, line.tid, start, lines[i + 1].steps[-1])
        elif i > 0:
            swapped = reorder(schedule, lines[i - 1].tid, lines[i - 1].steps[0], line.steps[-1])
        else:
            swapped = None
        start = line.steps[0]
        if swapped is not None and not verdict_holds(impl, scenario, swapped, f.kind):
            line.role = "order"
        elif any(_needed(impl, scenario, schedule, d, line.tid, s, f.kind) for s in line.steps):
            line.role = "needed"
        else:
            line.role = "context"


def _needed(
    impl: type[World],
    scenario: Scenario,
    schedule: list[int],
    d: Digest,
    tid: int,
    step: int,
    kind: Kind,
) -> bool:
    """Without the operation this step serves, does the verdict change?"""
    smaller = without_op(scenario, tid, d.traced.op_index[step])
    return smaller is not None and not verdict_holds(impl, smaller, schedule, kind)


def step_text(d: Digest, i: int, vendor: str) -> tuple[str, str]:
    s = d.traced.trace[i]
    op = vendor_op(s.op, vendor)
    text = f"{op} > {changes_text(s)}" if s.changes else op
    return function_of(s, vendor), text


MAX_ROW_LINES = 4  # a longer row (a livelock's loop) is cut at a step, never in a name
# Past this many row lines, a thread whose every kept line is context is folded
# into one line under the rows, so that the digest still fits an email.
MAX_ROWS = 16


def line_text(d: Digest, line: Line, vendor: str, steps: list[int] | None = None) -> str:
    parts: list[str] = []
    last_fn = None
    for i in line.steps if steps is None else steps:
        fn, text = step_text(d, i, vendor)
        if fn != last_fn:
            parts.append(f"{fn}: {text}" if fn else text)
            last_fn = fn
        else:
            parts[-1] += f"; {text}"
    return "; ".join(parts)


def render(
    d: Digest, names: list[str], *, vendor: str = "svm", width: int = DEFAULT_WIDTH
) -> list[str]:
    """The digest block: one line (wrapped) per merged run of kept steps."""
    t = d.traced
    total = len(t.trace)
    if d.finding is not None and d.finding.where != "quiescence":
        total = d.finding.step + 1
    kept = sum(len(x.steps) for x in d.lines)
    out = wrap(
        f"digest: {kept} of {total} steps, those the divergence depends on (--full shows them all)",
        width,
    )
    if any(x.preempts is not None for x in d.lines):
        out.extend(wrap("! = runs because the thread of the line above was preempted", width))
    if any(x.role == "context" for x in d.lines):
        out.extend(wrap("~ = context: moving it alone does not change the verdict", width))
    labw = max([len(x.label) for x in d.lines] + [4])
    marks = any(x.preempts is not None for x in d.lines) + any(x.role == "context" for x in d.lines)
    namew = max(len(n) for n in names)
    indent = " " * (labw + marks + 1 + namew + 2)
    rows: list[tuple[Line, list[str]]] = []
    for x in d.lines:
        mark = ("!" if x.preempts is not None else "") + ("~" if x.role == "context" else "")
        head = f"{x.label:>{labw}}{mark:<{marks}} {names[x.tid]:<{namew}}  "
        rows.append((x, _row(d, x, vendor, width, head, indent)))
    folded = folded_threads(d) if sum(len(r) for _, r in rows) > MAX_ROWS else set()
    for x, r in rows:
        if x.tid not in folded:
            out.extend(r)
    for tid in sorted(folded):
        labels = ", ".join(x.label for x in d.lines if x.tid == tid)
        out.extend(wrap(f"~ also context, {names[tid]}: steps {labels}", width, "", "  "))
    return out


def folded_threads(d: Digest) -> set[int]:
    """Threads whose every kept line is context (and that do not precede a
    preemption mark): shown as one line of step numbers when the digest is long."""
    tids = {x.tid for x in d.lines}
    busy = {x.tid for x in d.lines if x.role != "context"}
    busy |= {x.preempts for x in d.lines if x.preempts is not None}
    return tids - busy


def _row(d: Digest, x: Line, vendor: str, width: int, head: str, indent: str) -> list[str]:
    def lay(text: str) -> list[str]:
        if len(indent) + longest_piece(text) > width:  # a long name: the text goes below
            return [head.rstrip(), *wrap(text, width, "    ", "    ")]
        return wrap(text, width, head, indent)

    rows = lay(line_text(d, x, vendor))
    n = len(x.steps)
    while len(rows) > MAX_ROW_LINES and n > 1:
        n -= 1
        more = f"; ... {len(x.steps) - n} more steps (--full shows them)"
        rows = lay(line_text(d, x, vendor, x.steps[:n]) + more)
    return rows


def render_brief(
    impl: str,
    scenario: Scenario,
    d: Digest,
    *,
    width: int = DEFAULT_WIDTH,
    command: str | None = None,
) -> str:
    """The whole brief report: header, digest, what the reference expected."""
    out = report_header(impl, scenario, d.finding, width, command)
    if d.finding is None:
        out.extend(wrap("no divergence: --full shows the whole interleaving", width))
        return "\n".join(out)
    out.extend(render(d, scenario.thread_names, vendor=scenario.vendor, width=width))
    out.extend(report_footer(d.finding, scenario.vendor, width))
    return "\n".join(out)


def digest_lines(text: str) -> list[str]:
    """The digest part of a brief report (from ``digest:`` to the end)."""
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if line.startswith("digest:"):
            return lines[k:]
    return lines
