"""Reachability as a checked property: which lines and branches of
``difftest/impls/`` a standard search never executes, per version.

A version's own module holds exactly the kernel functions its patch changes
(``prepatch.py``: the functions the later patches rewrite; ``seed.py`` and
``final.py``: their rewrites), so every line and branch there must run: a branch
no search reaches is a branch no search checks. Measured with coverage.py in
branch mode (its ``sys.monitoring`` core on Python 3.12+, so the runs stay fast).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import coverage

from difftest.check import GenParams, random_check
from difftest.explore.dpor import explore
from difftest.explore.scenarios import Bound, scenarios
from difftest.impls import load

IMPLS = Path(__file__).resolve().parent / "impls"
OWN_MODULE = {"prepatch": "prepatch.py", "seed": "seed.py", "final": "final.py"}

# The standard random check, on both vendors, with resets and without vGIF among
# the generated configurations; then explore on small bounds.
CHECKS = (
    GenParams(resets=True),
    GenParams(vcpus=2, ioctls=2, ops=3, resets=True),
    GenParams(vendor="vmx", resets=True),
)
BOUNDS = (
    Bound(vcpus=1, ops=2, ioctls=1, vcpu_ops=("sti", "cli", "vmrun", "vmexit", "stgi")),
    Bound(vcpus=2, ops=1, ioctls=1, ioctl_ops=("extint", "clear HYPERV"), initial=("HYPERV",)),
    Bound(vcpus=1, ops=2, ioctls=0, vcpu_ops=("sti", "clgi", "stgi", "vmexit"), vgif=False),
)


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


def measure(impl_name: str, runs: int = 400, explore_seconds: float = 5.0) -> list[Gaps]:
    """Run the standard searches on ``impl_name`` under coverage; the gaps of every
    file in difftest/impls/ that the version executes at all."""
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
    data = cov.get_data()
    for f in sorted(data.measured_files()):
        analysis = cov._analyze(f)  # noqa: SLF001 - the public API has no branch arcs
        branches = sorted((a, b) for a, bs in analysis.missing_branch_arcs().items() for b in bs)
        gaps.append(Gaps(Path(f), sorted(analysis.missing), branches))
    return gaps


def own_gaps(impl_name: str, gaps: list[Gaps]) -> Gaps | None:
    """The gaps in the module of the functions ``impl_name``'s patch changes."""
    own = IMPLS / OWN_MODULE[impl_name]
    return next((g for g in gaps if g.path == own), None)
