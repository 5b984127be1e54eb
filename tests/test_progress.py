"""The progress display: in place on a terminal, plain lines when piped."""

from __future__ import annotations

import io

from difftest.frontends.progress import Progress, Status


def test_piped_progress_prints_plain_periodic_lines() -> None:
    out = io.StringIO()
    with Progress("check", total=100, every=0.0, stream=out, tty=False) as p:
        for n in (10, 50, 100):
            p.update(n, findings=n // 50)
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == 4  # one per update (every=0) and the final one
    assert lines[1].startswith("  check: 50/100 runs, ") and "/s, findings 1" in lines[1]
    assert lines[-1].endswith("findings 2")


def test_piped_progress_is_periodic() -> None:
    out = io.StringIO()
    with Progress("shrink", unit="candidates", every=3600, stream=out, tty=False) as p:
        for n in range(1, 50):
            p.update(n, extra="2 ops")
    assert out.getvalue().splitlines() == [out.getvalue().splitlines()[-1]]
    assert "shrink: 49 candidates" in out.getvalue()


def test_terminal_progress_rewrites_in_place() -> None:
    out = io.StringIO()
    with Progress("check", total=1000, stream=out, tty=True) as p:
        for n in range(0, 1001, 100):
            p.update(n, findings=3)
    text = out.getvalue()
    assert "\r" in text  # rewritten, not appended
    assert text.count("\n") <= 1
    last = text.split("\r")[-1]
    assert "1000/1000" in last and "findings 3" in last and "runs/s" in last


def test_status_line() -> None:
    out = io.StringIO()
    s = Status(stream=out, tty=False)
    s.show("  fuzz x: 1s")
    s.show("  fuzz x: 2s")
    s.close()
    assert out.getvalue() == "  fuzz x: 1s\n  fuzz x: 2s\n"
    tty = io.StringIO()
    s = Status(stream=tty, tty=True)
    s.show("  fuzz x: 1s")
    s.show("  fuzz x: 2s")
    s.close()
    assert "\r" in tty.getvalue() and "fuzz x: 2s" in tty.getvalue()
