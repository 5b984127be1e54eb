"""Reachability as a checked property: which lines and branches of
``difftest/impls/`` a standard search never executes, per version.

A version's own module holds exactly the kernel functions its patch changes
(``prepatch.py``: the functions the later patches rewrite; ``seed.py`` and
``final.py``: their rewrites), so every line and branch there must run: a branch
no search reaches is a branch no search checks. Measured with coverage.py in
branch mode. Lines that run at import (``def``, ``class``, imports) are left out:
only function bodies count.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from pathlib import Path

import coverage

from difftest.check import GenParams, random_check
from difftest.explore.dpor import explore
from difftest.explore.scenarios import Bound, scenarios
from difftest.impls import load

IMPLS = Path(__file__).resolve().parent / "impls"
OWN_MODULE = {"prepatch": "prepatch.py", "seed": "seed.py", "final": "final.py"}

# The standard random check (with resets, and on VMX too; sources, vGIF and
# enable_apicv are drawn per run), then explore on small bounds of the wider sources.
CHECKS = (
    GenParams(resets=True),
    GenParams(vcpus=2, ioctls=2, ops=3, resets=True),
    GenParams(vendor="vmx", resets=True),
)
BOUNDS = (
    Bound(
        vcpus=1, ops=2, ioctls=1, vcpu_ops=("sti", "vmrun", "vmexit", "stgi"), irq_source="split"
    ),
    Bound(
        vcpus=2,
        ops=1,
        ioctls=1,
        ioctl_ops=("extint", "clear HYPERV"),
        initial=("HYPERV",),
        irq_source="split",
    ),
    Bound(
        vcpus=1,
        ops=2,
        ioctls=0,
        vcpu_ops=("sti", "clgi", "stgi", "vmexit"),
        irq_source="split",
        vgif=False,
    ),
    # An INIT or ExtINT while L1's VMRUN is pending (nested_run_pending).
    Bound(
        vcpus=1,
        ops=2,
        ioctls=1,
        vcpu_ops=("vmrun", "run"),
        ioctl_ops=("init", "extint"),
        extint="any",
        irq_source="split",
    ),
    # Two vCPUs switching to x2APIC, or faulting on the APIC page meanwhile.
    Bound(vcpus=2, ops=2, vcpu_ops=("x2apic", "apic"), extint="none", irq_source="split"),
)

# Gaps of the versions' own modules that no run reaches, as (file, function, stripped
# source of the unreached line or branch target) -> why. "kernel:" unreachable in the
# kernel too; "model:" not modelled, and why.
EXPECTED = {
    ("final.py", "kvm_inc_or_dec_irq_window_inhibit", "return"): "kernel: the !enable_apicv "
    "exit; both callers run only with enable_apicv (avic_irq_window is set only then)",
}


@dataclass
class Gaps:
    """Unexecuted lines and branches (``from->to``; a negative ``to`` is a return) of one file."""

    path: Path
    lines: list[int]
    branches: list[tuple[int, int]]

    def __str__(self) -> str:
        rel = self.path.relative_to(IMPLS.parent.parent)
        parts = [f"line {n}" for n in self.lines] + [f"branch {a}->{b}" for a, b in self.branches]
        return f"{rel}: " + (", ".join(parts) if parts else "all reached")

    def source(self, line: int) -> str:
        return self.path.read_text().splitlines()[line - 1].strip()


def _body_lines(path: Path) -> dict[int, str]:
    """Lines inside function bodies (docstrings excluded) -> the function's name."""
    lines: dict[int, str] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            for stmt in body:
                for n in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1):
                    lines.setdefault(n, node.name)
    return lines


def measure(impl_name: str, runs: int = 400) -> list[Gaps]:
    """Run the standard searches on ``impl_name`` under coverage; the gaps in the
    function bodies of every file in difftest/impls/ the version executes."""
    impl = load(impl_name)
    cov = coverage.Coverage(branch=True, data_file=None, include=[str(IMPLS / "*")])
    cov.start()
    try:
        for i, params in enumerate(CHECKS):
            random_check(impl, seed=i, runs=runs, params=params)
            random_check(impl, seed=100 + i, runs=runs // 4, params=replace(params, nested=False))
        for b in BOUNDS:
            for s in scenarios(b):
                explore(impl, s, preemptions=1, deadline=None)
    finally:
        cov.stop()
    gaps = []
    for f in sorted(cov.get_data().measured_files()):
        path = Path(f)
        body = _body_lines(path)
        analysis = cov._analyze(f)  # noqa: SLF001 - the public API gives no branch arcs
        lines = sorted(n for n in analysis.missing if n in body)
        branches = sorted(
            (a, b) for a, bs in analysis.missing_branch_arcs().items() for b in bs if a in body
        )
        gaps.append(Gaps(path, lines, branches))
    return gaps


def own_gaps(impl_name: str, gaps: list[Gaps]) -> Gaps:
    """The gaps in the module of the functions ``impl_name``'s patch changes."""
    own = IMPLS / OWN_MODULE[impl_name]
    return next(g for g in gaps if g.path == own)


def unexpected(g: Gaps) -> list[str]:
    """Gaps of a version's own module that EXPECTED does not explain."""
    func = _body_lines(g.path)
    out = []
    for n in g.lines:
        if (g.path.name, func[n], g.source(n)) not in EXPECTED:
            out.append(f"{g.path.name}:{n} {g.source(n)}")
    for a, b in g.branches:
        target = g.source(b) if b > 0 else "return"
        if (g.path.name, func[a], target) not in EXPECTED:
            out.append(f"{g.path.name}: branch {a}->{b} ({g.source(a)} -> {target})")
    return out
