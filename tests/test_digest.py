"""The causal digest: short enough for an email, and every line it keeps is
checked on the model: moving it (a swap with the next line) or removing its
operation changes the verdict, or the digest marks it as context."""

from __future__ import annotations

from pathlib import Path

import pytest

from difftest.frontends.cli import main
from difftest.impls import load
from difftest.report.causal import reorder, verdict_holds, without_op
from difftest.report.digest import build, digest_lines, render_brief
from difftest.repro import load as load_repro

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(
    p
    for p in (ROOT / "corpus").glob("*/*.json")
    if p.parent.name in ("known", "regressions") and load_repro(p).finding is not None
)


def _digest(path: Path):
    r = load_repro(path)
    impl = load(r.impl)
    return r, impl, build(impl, r.scenario, r.schedule, recorded=r.finding.kind)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_digest_fits_25_by_80(path: Path) -> None:
    r, _, d = _digest(path)
    text = render_brief(r.impl, r.scenario, d, command=f"difftest replay {path.name}")
    lines = digest_lines(text)
    assert lines[0].startswith("digest:")
    assert len(lines) <= 25, text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert lines[-1].startswith(("the reference expects", "  ")), "ends with the expectation"
    assert d.finding is not None and d.finding.kind == r.finding.kind


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_kept_line_matters_or_is_context(path: Path) -> None:
    """Recomputed here, not trusted from the digest: a line not marked context
    changes the verdict when swapped with its neighbour or when its operation
    is removed; a context line is printed with its ``~`` mark."""
    r, impl, d = _digest(path)
    kind = r.finding.kind
    sched = r.schedule
    assert verdict_holds(impl, r.scenario, sched, kind)
    text = render_brief(r.impl, r.scenario, d)
    lines = d.lines
    folded = [t for t in text.splitlines() if t.startswith("~ also context, ")]
    for i, line in enumerate(lines):
        rows = [
            t
            for t in text.splitlines()
            if t.lstrip().startswith(line.label + " ")
            or t.lstrip().startswith((line.label + "!", line.label + "~"))
        ]
        if not rows:  # folded with the other context lines of its thread
            name = r.scenario.thread_names[line.tid]
            assert line.role == "context", (path.name, line)
            assert any(
                f", {name}: steps " in t and line.label in t.split(": steps ")[1].split(", ")
                for t in folded
            ), (line, folded)
            continue
        (row,) = rows
        assert ("~" in row.split()[0]) == (line.role == "context"), (row, line.role)
        if line.role == "context":
            continue
        if i + 1 < len(lines):
            swapped = reorder(sched, line.tid, line.steps[0], lines[i + 1].steps[-1])
        else:
            swapped = reorder(sched, lines[i - 1].tid, lines[i - 1].steps[0], line.steps[-1])
        moved = not verdict_holds(impl, r.scenario, swapped, kind)
        removed = False
        for s in line.steps:
            smaller = without_op(r.scenario, line.tid, d.traced.op_index[s])
            if smaller is not None and not verdict_holds(impl, smaller, sched, kind):
                removed = True
        assert moved or removed, (path.name, line)
        assert line.role == ("order" if moved else "needed")


def test_most_kept_lines_are_checked_not_context() -> None:
    roles = [x.role for p in SHIPPED for x in _digest(p)[2].lines]
    assert roles.count("context") <= len(roles) // 2, roles


def test_in_flight_finding_keeps_its_own_step() -> None:
    _, _, d = _digest(ROOT / "corpus/regressions/broken-no-recheck-warn.json")
    assert d.lines[-1].steps[-1] == d.finding.step
    assert any(x.tid != d.lines[-1].tid for x in d.lines), "the racing clear is kept"


def test_sean_two_vcpu_case_is_as_short_as_his() -> None:
    """Sean's interleaving takes about ten lines; so does the digest's."""
    r, _, d = _digest(ROOT / "corpus/known/prepatch-two-vcpu-window.json")
    text = render_brief(r.impl, r.scenario, d)
    body = [t for t in digest_lines(text) if t.strip()]
    assert len(body) <= 14, text
    assert len(d.lines) <= 8
    # the two threads' window handling, and the stores of IRQWIN set and cleared
    assert "inhibits=IRQWIN" in text and "inhibits=0" in text and "v0.V_IRQ=1" in text


def test_replay_brief_is_default_and_full_is_longer(capsys) -> None:
    f = str(ROOT / "corpus/known/prepatch-two-vcpu-window.json")
    assert main(["replay", f]) == 1
    brief = capsys.readouterr().out
    assert main(["replay", f, "--brief"]) == 1
    assert capsys.readouterr().out == brief
    assert main(["replay", f, "--full"]) == 1
    full = capsys.readouterr().out
    assert "digest:" in brief and "interleaving:" in full
    assert len(full.splitlines()) > 5 * len(brief.splitlines())
    assert main(["replay", f, "--full", "--brief"]) == 2


def test_init_finding_digest_shows_the_init() -> None:
    """final's window left counted across an INIT: the digest keeps the INIT and
    the reset into wait-for-SIPI (the quiescence check reads mp_state), and folds
    the other vCPU's context steps into one line to stay within 25 lines."""
    path = ROOT / "corpus" / "known" / "final-init-stale-irqwin.json"
    r, _, d = _digest(path)
    lines = digest_lines(render_brief(r.impl, r.scenario, d))
    text = "\n".join(lines)
    assert "pending_events |= INIT" in text
    assert "mp=WFS" in text
    assert any(t.startswith("~ also context, vcpu0: steps ") for t in lines)
    assert len(lines) <= 25
