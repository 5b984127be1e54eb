"""Digest length next to the full table's, for every shipped reproducer.

    python -m benchmarks.digest_lengths [--width W]

For each file in corpus/known/ and corpus/regressions/ with a finding: the
schedule length, the lines ``difftest replay FILE --full`` prints for the whole
interleaving table, and the lines of the causal digest (from ``digest:`` to the
reference's expectation) with its widest line, how many steps it keeps and how
many of its lines are only context. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from difftest.impls import load
from difftest.report.digest import build, digest_lines, render_brief
from difftest.report.table import render_report
from difftest.repro import load as load_repro
from difftest.runner import run
from difftest.schedulers.replay import ReplayScheduler

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--width", type=int, default=80)
    a = ap.parse_args()
    print(
        "| reproducer | finding | steps | full table lines | digest lines | widest "
        "| kept steps | digest rows (context) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    worst = 0
    for path in sorted((ROOT / "corpus").glob("*/*.json")):
        if path.parent.name not in ("known", "regressions"):
            continue
        r = load_repro(path)
        if r.finding is None:
            continue
        impl = load(r.impl)
        t = run(impl, r.scenario, ReplayScheduler(r.schedule), trace=True)
        assert t.execution.trace is not None
        f = next(x for x in t.findings if x.kind == r.finding.kind)
        table = render_report(r.impl, r.scenario, t.execution.trace, f, width=a.width)
        full_lines = len(table.splitlines()) - len(table.split("interleaving:")[0].splitlines())
        d = build(impl, r.scenario, r.schedule, recorded=r.finding.kind)
        brief = render_brief(r.impl, r.scenario, d, width=a.width)
        dl = digest_lines(brief)
        worst = max(worst, len(dl))
        kept = sum(len(x.steps) for x in d.lines)
        ctx = sum(1 for x in d.lines if x.role == "context")
        rel = path.relative_to(ROOT)
        print(
            f"| `{rel}` | {r.finding.kind.value} | {t.execution.steps} | {full_lines} | "
            f"{len(dl)} | {max(len(x) for x in brief.splitlines())} | {kept} | "
            f"{len(d.lines)} ({ctx}) |"
        )
    print(f"\nlongest digest: {worst} lines")


if __name__ == "__main__":
    main()
