"""The mutant scoreboard: every implementation under every registered search.

A search that finds the deliberately broken variants quickly and with small
reproducers is a good search; a search that finds anything in a correct
implementation is a broken oracle or a broken model, and says so. Each cell runs
``find`` once per seed with the same wall-time budget. What a run does depends
only on its seed; the budget decides when a seed gives up, so found counts can
differ between a fast and a slow machine, never the reproducers found.
"""

from __future__ import annotations

import inspect
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from difftest import search as searches
from difftest.check import GenParams
from difftest.impls import BROKEN, CORRECT, PERF, load
from difftest.shrink import shrink


@dataclass
class Cell:
    """One implementation under one search, over seeds 0..seeds-1."""

    impl: str
    search: str
    seeds: int
    found_seeds: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # to first detection, per found seed
    executions: list[int] = field(default_factory=list)
    ops: list[int] = field(default_factory=list)  # reproducer scenario operations
    steps: list[int] = field(default_factory=list)  # reproducer schedule length
    kinds: Counter[str] = field(default_factory=Counter)  # first-bug kind -> seeds

    @property
    def found(self) -> int:
        return len(self.found_seeds)


@dataclass
class Board:
    impls: list[str]
    searches: list[str]
    seeds: int
    budget: float
    shrunk: bool
    cells: dict[tuple[str, str], Cell]

    def false_alarms(self) -> list[Cell]:
        """Cells where a correct implementation showed a bug."""
        return [
            self.cells[i, s]
            for i in self.impls
            if i in CORRECT
            for s in self.searches
            if self.cells[i, s].found
        ]


def default_impls() -> list[str]:
    """The correct versions first, then every broken-* and perf-* variant, in
    registry order (a perf-* variant is found only with ``perf``)."""
    return [*CORRECT, *BROKEN, *PERF]


def score(
    impls: Sequence[str],
    search_names: Sequence[str],
    *,
    seeds: int,
    budget: float,
    shrink_repros: bool = False,
    progress: Callable[[Cell], None] | None = None,
    vendor: str = "svm",
    perf: bool = False,
) -> Board:
    """Run every (implementation, search) cell; names are validated first, so a
    typo fails before any time is spent. ``vendor``: the scenarios' vendor (VMX-only
    bugs show with "vmx"); ``perf``: a perf finding is a detection in the searches
    that can report one (random, hypothesis), the others count bugs only."""
    classes = {name: load(name) for name in impls}
    finders = {name: searches.get(name) for name in search_names}
    params = None if vendor == "svm" else GenParams(vendor=vendor)
    perf_aware = {n for n, f in finders.items() if "perf" in inspect.signature(f).parameters}
    cells: dict[tuple[str, str], Cell] = {}
    for impl in impls:
        cls = classes[impl]
        for s in search_names:
            cell = Cell(impl, s, seeds)
            for seed in range(seeds):
                extra = {"perf": True} if perf and s in perf_aware else {}
                det = finders[s](cls, seed=seed, max_seconds=budget, params=params, **extra)
                if det is None:
                    continue
                result = det.result
                first = result.first_failure(perf=True)
                assert first is not None
                cell.kinds[first.kind.value] += 1
                if shrink_repros:
                    result = shrink(cls, result)
                cell.found_seeds.append(seed)
                cell.seconds.append(det.seconds)
                cell.executions.append(det.executions)
                cell.ops.append(result.scenario.n_ops)
                cell.steps.append(result.execution.steps)
            cells[impl, s] = cell
            if progress is not None:
                progress(cell)
    return Board(list(impls), list(search_names), seeds, budget, shrink_repros, cells)


def _median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def _row(cell: Cell) -> list[str]:
    if not cell.found:
        return [cell.impl, cell.search, f"0/{cell.seeds}", "-", "-", "-", "-", "-"]
    kinds = ",".join(k for k, _ in sorted(cell.kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    return [
        cell.impl,
        cell.search,
        f"{cell.found}/{cell.seeds}",
        f"{_median(cell.seconds):.3f}",
        f"{_median(cell.executions):g}",
        f"{_median(cell.ops):g}",
        f"{_median(cell.steps):g}",
        kinds,
    ]


HEADER = ["implementation", "search", "found", "median s", "runs", "ops", "steps", "first bug"]
RIGHT = {2, 3, 4, 5, 6}  # numeric columns


def render(board: Board, width: int = 100) -> str:
    """The scoreboard as a plain-text table no wider than ``width``."""
    rows = [_row(board.cells[i, s]) for i in board.impls for s in board.searches]
    widths = [max(len(r[c]) for r in [HEADER, *rows]) for c in range(len(HEADER))]
    # The last column (finding kinds) absorbs any overflow.
    fixed = sum(widths[:-1]) + 2 * (len(HEADER) - 1)
    widths[-1] = max(8, min(widths[-1], width - fixed))

    def line(cols: list[str]) -> str:
        out = []
        for c, text in enumerate(cols):
            if len(text) > widths[c]:
                text = text[: widths[c] - 1] + "~"
            out.append(text.rjust(widths[c]) if c in RIGHT else text.ljust(widths[c]))
        return "  ".join(out).rstrip()

    size = "shrunk reproducer" if board.shrunk else "reproducer as found"
    lines = [
        f"mutant scoreboard: seeds 0..{board.seeds - 1}, at most {board.budget:g} s per seed",
        f"median s, runs, ops, steps: medians over the seeds that found a bug ({size})",
        "",
        line(HEADER),
        line(["-" * w for w in widths]),
    ]
    previous = None
    for (impl, _), r in zip(
        [(i, s) for i in board.impls for s in board.searches], rows, strict=True
    ):
        if previous is not None and impl != previous and len(board.searches) > 1:
            lines.append("")
        previous = impl
        lines.append(line(r))
    lines.append("")
    mutants = [i for i in board.impls if i not in CORRECT]
    for s in board.searches:
        caught = sum(1 for i in mutants if board.cells[i, s].found)
        lines.append(f"{s}: detected {caught}/{len(mutants)} broken variants")
    return "\n".join(line[:width] for line in lines)
