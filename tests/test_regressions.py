"""Every reproducer kept in the corpus still gives its recorded verdict.

``corpus/regressions/`` holds the minimal reproducers of the shipped broken
variants and the real versions' bugs (a known-bad version must stay caught) and
the same scenarios on ``final`` with no finding (a fixed bug must stay fixed).
``corpus/known/`` holds the reproducers the README cites. New files land there
with ``pytest --difftest-save-regressions``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from difftest.impls import load
from difftest.repro import load as load_repro
from difftest.runner import run
from difftest.schedulers.replay import ReplayScheduler

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "corpus" / "regressions").glob("*.json")) + sorted(
    (ROOT / "corpus" / "known").glob("*.json")
)


def test_corpus_is_not_empty() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recorded_verdict_holds(path: Path) -> None:
    repro = load_repro(path)
    r = run(load(repro.impl), repro.scenario, ReplayScheduler(repro.schedule, strict=True))
    if repro.finding is None:
        assert r.bugs == [], r.bugs
    elif repro.finding.severity == "bug":
        assert r.first_bug is not None, f"{path.name}: no longer reproduces"
        assert r.first_bug.signature == repro.finding.signature
        assert r.execution.steps == len(repro.schedule)
    else:  # latency or perf: reported, the run goes on
        assert repro.finding.signature in {f.signature for f in r.findings}
