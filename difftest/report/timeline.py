"""A picture of an interleaving: one lane per thread, time to the right.

Drawn with ``drawsvg`` (a small, maintained SVG library: shapes, groups,
markers and tooltips as Python objects, no browser or native dependency).
Lock holds are bars on the holder's lane, requests and kicks are arrows to
the target vCPU's lane, preemptions are red triangles on the preempted lane,
and the divergence is a red vertical line. The brief picture shows the
digest's steps, each with its kernel function; the full one shows every step.
The HTML page embeds the SVG and the text report: no script, no network
fetch, so it can be kept as a CI artefact.
"""

from __future__ import annotations

import html
import re

import drawsvg as dw

from difftest.engine.executor import Step
from difftest.model.scenario import Scenario
from difftest.oracle.findings import Finding
from difftest.report.table import changes_text, function_of, vendor_op

LOCK_COLOURS = {"apicv_update_lock": "#4e79a7", "mmu_lock": "#f28e2b"}
_TARGET = re.compile(r"\bvcpu(\d+)\.(requests|mode)$")

LANE_H = 56
LEFT = 90
TOP = 40
UNIT = 150  # width of one shown step (brief)
UNIT_FULL = 18  # width of one step (full)
GAP = 24  # width of a run of hidden steps (brief)


class _Axis:
    """Step index -> x: shown steps get a unit each, hidden runs a small gap."""

    def __init__(self, shown: list[int], n: int, unit: float, gap: float) -> None:
        self.xs: dict[int, float] = {}
        x = LEFT + gap
        prev = -1
        for s in range(n + 1):
            if s in shown or s == n:
                if s - prev > 1:
                    x += gap
                self.xs[s] = x
                x += unit
                prev = s
        self.end = x
        self.shown = shown

    def __call__(self, step: int) -> float:
        if step in self.xs:
            return self.xs[step]
        before = [s for s in self.xs if s < step]
        b = max(before) if before else min(self.xs)
        return self.xs[b] + (UNIT_FULL if not before else 0) + 4


def _lock_holds(trace: list[Step], upto: int) -> list[tuple[int, str, int, int, str]]:
    """(thread, lock, from step, to step, mode) for every hold in the trace."""
    open_: dict[tuple[int, str], tuple[int, str]] = {}
    holds = []
    for s in trace:
        if s.index > upto:
            break
        if s.op in ("down_read", "down_write", "lock"):
            open_[s.tid, s.obj] = (s.index, "read" if s.op == "down_read" else "write")
        elif s.op in ("up_read", "up_write", "unlock") and (s.tid, s.obj) in open_:
            start, mode = open_.pop((s.tid, s.obj))
            holds.append((s.tid, s.obj, start, s.index, mode))
    for (tid, lock), (start, mode) in open_.items():
        holds.append((tid, lock, start, upto, mode))
    return holds


def _labels(s: Step, vendor: str) -> tuple[str, str]:
    """The kernel function and what the step did (and changed)."""
    text = vendor_op(s.op, vendor) + (f" > {changes_text(s)}" if s.changes else "")
    return function_of(s, vendor), text


def _target(s: Step) -> int | None:
    if s.op.startswith(("make_request(", "kick ")):
        m = _TARGET.match(s.obj)
        if m:
            return int(m.group(1))
    return None


def draw(
    scenario: Scenario,
    trace: list[Step],
    finding: Finding | None,
    *,
    shown: list[int] | None = None,
    preempted: list[int | None] | None = None,
    title: str = "",
) -> dw.Drawing:
    """The timeline; ``shown`` (the digest's steps) makes it brief."""
    names = scenario.thread_names
    vendor = scenario.vendor
    upto = len(trace) - 1
    if finding is not None and finding.where != "quiescence":
        upto = min(upto, finding.step)
    brief = shown is not None
    steps = sorted(shown) if shown is not None else [s.index for s in trace if s.index <= upto]
    by_index = {s.index: s for s in trace}
    labels = {i: _labels(by_index[i], vendor) for i in steps}
    # a column wide enough for the longest name: the picture never cuts one
    longest = max((len(x) for pair in labels.values() for x in pair), default=10)
    unit = max(UNIT, 6.5 * longest + 16)
    axis = _Axis(steps, upto + 1, unit if brief else UNIT_FULL, GAP if brief else 0)
    width = axis.end + 40
    height = TOP + LANE_H * len(names) + 60
    d = dw.Drawing(width, height, font_family="monospace", font_size=11)
    d.append(dw.Rectangle(0, 0, width, height, fill="white"))
    arrow = dw.Marker(-0.1, -0.5, 0.9, 0.5, scale=6, orient="auto")
    arrow.append(dw.Lines(-0.1, -0.5, -0.1, 0.5, 0.9, 0, fill="#59a14f", close=True))
    d.append(dw.Text(title, 13, 8, 20, font_weight="bold"))

    def lane_y(tid: int) -> float:
        return TOP + LANE_H * tid + LANE_H / 2

    for tid, name in enumerate(names):
        g = dw.Group(class_="lane", id=f"lane-{name}", data_thread=name)
        y = lane_y(tid)
        g.append(dw.Line(LEFT, y, axis.end, y, stroke="#bbbbbb", stroke_width=2))
        g.append(dw.Text(name, 12, 8, y + 4, font_weight="bold"))
        d.append(g)
    locks = dw.Group(class_="locks")
    for tid, lock, a, b, mode in _lock_holds(trace, upto):
        x0, x1 = axis(a), axis(b)
        colour = LOCK_COLOURS.get(lock, "#76b7b2")
        bar = dw.Rectangle(
            x0,
            lane_y(tid) - 16,
            max(4.0, x1 - x0),
            8,
            fill=colour,
            fill_opacity=0.45 if mode == "read" else 0.9,
            class_="lock-hold",
        )
        bar.append_title(f"{names[tid]} holds {lock} for {mode}, steps {a}-{b}")
        locks.append(bar)
    d.append(locks)
    for i in steps:
        s = by_index[i]
        x, y = axis(i), lane_y(s.tid)
        fn, text = labels[i]
        dot = dw.Circle(x, y, 4 if brief else 3, fill="#333333", class_="step")
        dot.append_title(f"step {i} {names[s.tid]}: {fn}: {text}")
        d.append(dot)
        if brief:
            d.append(dw.Text(str(i), 9, x - 4, y - 20, fill="#666666"))
            d.append(dw.Text(fn, 10, x - 4, y + 16))
            d.append(dw.Text(text, 9, x - 4, y + 27, fill="#555555"))
        t = _target(s)
        if t is not None and t != s.tid and t < len(names):
            ln = dw.Line(
                x, y, x + 10, lane_y(t), stroke="#59a14f", stroke_width=1.5, marker_end=arrow
            )
            ln.append_title(f"step {i}: {names[s.tid]} {s.op}")
            g = dw.Group(class_="request")
            g.append(ln)
            d.append(g)
    if preempted is not None:
        for i in steps:
            p = preempted[i] if i < len(preempted) else None
            if p is None:
                continue
            x, y = axis(i) - 8, lane_y(p)
            tri = dw.Lines(x - 5, y - 12, x + 5, y - 12, x, y - 4, fill="#e15759", close=True)
            tri.append_title(f"step {i}: {names[p]} preempted")
            g = dw.Group(class_="preemption")
            g.append(tri)
            d.append(g)
    if finding is not None:
        x = axis(upto) + 8 if finding.where != "quiescence" else axis.end - 10
        g = dw.Group(id="divergence", class_="divergence")
        g.append(
            dw.Line(x, TOP - 8, x, TOP + LANE_H * len(names), stroke="#e15759", stroke_width=3)
        )
        g.append(
            dw.Text(
                f"divergence: {finding.kind.value}",
                12,
                min(x, width - 200),
                TOP + LANE_H * len(names) + 18,
                fill="#e15759",
                font_weight="bold",
            )
        )
        g.append_title(finding.message)
        d.append(g)
    legend_y = height - 14
    items = [("#4e79a7", "apicv_update_lock held"), ("#f28e2b", "mmu_lock held")]
    items += [("#59a14f", "request / kick"), ("#e15759", "preemption, divergence")]
    x = 8.0
    for colour, label in items:
        d.append(dw.Rectangle(x, legend_y - 9, 10, 10, fill=colour))
        d.append(dw.Text(label, 10, x + 14, legend_y))
        x += 20 + 7 * len(label)
    return d


def svg(drawing: dw.Drawing) -> str:
    return drawing.as_svg()


def page(drawing: dw.Drawing, title: str, report: str) -> str:
    """A self-contained HTML page: the picture and the text report."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        "<style>body{font-family:sans-serif;margin:16px;background:#fff}"
        "pre{font-size:12px;background:#f6f6f6;padding:8px}"
        "#timeline svg{max-width:100%;height:auto}</style>\n</head>\n<body>\n"
        f'<div id="timeline">{drawing.as_svg()}</div>\n'
        f'<pre id="report">{html.escape(report)}</pre>\n</body>\n</html>\n'
    )
