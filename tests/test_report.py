"""The interleaving report: fits a mailing-list email, names the divergence."""

from __future__ import annotations

import pytest
from helpers import FOUR_THREADS, NESTED_LEAK, PER_VCPU_APIC_1, SEAN, search

from difftest.impls import BUILTIN, load
from difftest.oracle.findings import MEANING, Kind
from difftest.report.table import render_report
from difftest.runner import run
from difftest.schedulers import RandomScheduler, ReplayScheduler


def _report(impl, scenario, seed):
    r = run(load(impl), scenario, RandomScheduler(seed), trace=True)
    return r, render_report(impl, scenario, r.execution.trace, r.first_bug)


@pytest.mark.parametrize("impl", list(BUILTIN))
def test_four_thread_report_fits_100_columns(impl):
    assert len(FOUR_THREADS.thread_names) == 4
    for seed in range(15):
        _, text = _report(impl, FOUR_THREADS, seed)
        long = [line for line in text.splitlines() if len(line) > 100]
        assert not long, long


def test_report_names_the_divergence():
    r = search("prepatch", SEAN, Kind.LOST_WINDOW)
    r = run(load("prepatch"), SEAN, ReplayScheduler(r.execution.schedule), trace=True)
    text = render_report("prepatch", SEAN, r.execution.trace, r.first_bug)
    lines = text.splitlines()
    assert lines[0] == "difftest: prepatch diverges from the reference: lost-window"
    assert "divergence at quiescence" in text
    assert "the reference expects:" in text
    assert "vcpu0" in text and "vcpu1" in text
    assert MEANING[Kind.LOST_WINDOW].split()[0] in text


def test_report_clean_run():
    _, text = _report("final", SEAN, 0)
    assert text.splitlines()[0] == "difftest: final: no divergence from the reference"
    assert "divergence" not in text.split("\n", 1)[1]


def test_report_stops_at_in_flight_finding():
    r = search("broken-per-vcpu-irqwin", PER_VCPU_APIC_1, Kind.MISSED_INTERCEPT)
    r = run(
        load("broken-per-vcpu-irqwin"),
        PER_VCPU_APIC_1,
        ReplayScheduler(r.execution.schedule),
        trace=True,
    )
    text = render_report("broken-per-vcpu-irqwin", PER_VCPU_APIC_1, r.execution.trace, r.first_bug)
    assert f"at step {r.first_bug.step} (vcpu0, svm_vcpu_run)" in text
    assert "svm_vcpu_run" in text


def test_report_kernel_names():
    _, text = _report("prepatch", NESTED_LEAK, 0)
    # Python's _foo is printed as the kernel's __foo.
    assert "__kvm_set_or_clear_apicv_inhibit" in text or "__apicv_update" in text
    assert "stuck-inhibit" in text.splitlines()[0]


def test_report_deterministic():
    assert _report("prepatch", FOUR_THREADS, 3)[1] == _report("prepatch", FOUR_THREADS, 3)[1]


@pytest.mark.parametrize("impl", ["prepatch", "final"])
def test_four_thread_table_rows_fit_96_columns(impl):
    """The table itself (not the header sentence) honours width=96."""
    from difftest.report.table import render_table

    for seed in range(10):
        r = run(load(impl), FOUR_THREADS, RandomScheduler(seed), trace=True)
        rows = render_table(r.execution.trace, FOUR_THREADS.thread_names, width=96)
        assert max(len(row) for row in rows) <= 96


def test_full_report_shows_more_steps():
    r = run(load("final"), FOUR_THREADS, RandomScheduler(0), trace=True)
    short = render_report("final", FOUR_THREADS, r.execution.trace, None)
    full = render_report("final", FOUR_THREADS, r.execution.trace, None, full=True)
    assert len(full.splitlines()) > len(short.splitlines())
