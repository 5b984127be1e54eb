"""What coverage of the change costs a check of a plugin.

    python -m benchmarks.coverage_cost [--runs N] [--repeat K]

The plugin is final with ``svm_inject_irq`` copied into a plugin file. Three
variants run the same N seeded runs of the standard scenario, alternating, K
times: the built-in ``final``; the plugin without coverage (``--no-coverage``);
the plugin under ``ChangeCoverage`` (coverage.py in branch mode, restricted to
the plugin file). The base side (``final`` re-run with the replaced conditions
watched) is timed separately: ``check`` runs it once more after the search.
Prints median runs/s and the ratio to the plugin without coverage.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from difftest.check import GenParams, random_check
from difftest.impls import load
from difftest.plugin.change_coverage import ChangeCoverage

PLUGIN = """
from difftest.engine.points import rd
from difftest.impls.final import Final
from difftest.impls.prepatch import Prepatch


class Copy(Final):
    name = "copy"

    def svm_inject_irq(self, vcpu, reinjected):
        yield rd("kvm_cpu_has_injectable_intr", f"{vcpu.name}.ExtINT")
        if vcpu.irq_window and not self.kvm_cpu_has_injectable_intr(vcpu):
            vcpu.irq_window = False
            yield from self.kvm_dec_apicv_irq_window_req()
        yield from Prepatch.svm_inject_irq(self, vcpu, reinjected)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "copy.py"
        path.write_text(PLUGIN)
        plugin = load(f"{path}:Copy")
        final = load("final")
        params = GenParams()

        def plain(impl: type) -> Callable[[], None]:
            return lambda: random_check(impl, seed=1, runs=a.runs, params=params) and None

        def covered() -> None:
            cov = ChangeCoverage(plugin)
            with cov:
                random_check(plugin, seed=1, runs=a.runs, params=params)
            cov.gaps()

        def base_side() -> None:
            cov = ChangeCoverage(plugin)
            assert cov.base_side.shadow is not None
            random_check(cov.base_side.shadow, seed=1, runs=a.runs, params=params)

        variants = {
            "final (built-in)": plain(final),
            "plugin, --no-coverage": plain(plugin),
            "plugin, coverage on": covered,
            "base side (re-run)": base_side,
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(a.repeat):
            for name, fn in variants.items():
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    ref = statistics.median(times["plugin, --no-coverage"])
    print(f"{a.runs} runs of the standard scenario, median of {a.repeat} (alternating)")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"  {name:24s} {a.runs / m:8,.0f} runs/s  {m / ref:5.2f}x the plugin's time")


if __name__ == "__main__":
    main()
