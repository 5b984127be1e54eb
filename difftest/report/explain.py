"""The full explanation of one result: replay it with tracing and render it."""

from __future__ import annotations

from difftest.impls.kernel.world import World
from difftest.report.table import render_report
from difftest.report.wrap import DEFAULT_WIDTH
from difftest.runner import Result, run
from difftest.schedulers.replay import ReplayScheduler


def explain(
    impl: type[World],
    r: Result,
    width: int = DEFAULT_WIDTH,
    *,
    full: bool = False,
    command: str | None = None,
) -> str:
    """Runs are recorded untraced for speed; the table comes from a traced replay."""
    traced = run(impl, r.scenario, ReplayScheduler(r.execution.schedule), trace=True)
    f = traced.first_bug or (traced.findings[0] if traced.findings else None)
    assert traced.execution.trace is not None
    return render_report(
        impl.name, r.scenario, traced.execution.trace, f, width=width, full=full, command=command
    )


def preemptions(impl: type[World], r: Result) -> int:
    """Switches away from a thread that could have kept running."""
    sched = ReplayScheduler(r.execution.schedule)
    run(impl, r.scenario, sched)
    return sched.preemptions
