"""``difftest mutants``: the scoreboard of every implementation under every search."""

from __future__ import annotations

import argparse
import sys

from difftest.frontends import output
from difftest.frontends.validate import parse_shard
from difftest.impls import ImplError
from difftest.scoreboard import Cell, default_impls, render, score
from difftest.search import SEARCHES

EXIT_CLEAN, EXIT_FINDING, EXIT_USAGE = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mutants", help="which search finds which broken variant, how fast")
    p.add_argument("--impls", help="comma-separated implementations (default: correct + broken-*)")
    p.add_argument("--searches", help=f"comma-separated searches (default: {','.join(SEARCHES)})")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per cell (default 5)")
    p.add_argument("--budget", type=float, default=10.0, metavar="SECONDS", help="per seed")
    p.add_argument("--shrink", action="store_true", help="report shrunk reproducer sizes")
    p.add_argument(
        "--shard", default=None, metavar="K/N", help="only implementations K, K+N, ... (from 1)"
    )
    p.add_argument("--width", type=int, default=100, help="table width in columns")
    p.add_argument(
        "--vendor",
        choices=("svm", "vmx"),
        default="svm",
        help="scenarios for this vendor (VMX-only bugs need vmx)",
    )
    p.add_argument(
        "--fail-on-perf",
        action="store_true",
        help="a perf finding counts as a detection where a search reports one (random)",
    )
    output.add_json_flag(p)
    p.set_defaults(run=run)


def _names(text: str | None, default: list[str], what: str) -> list[str]:
    if text is None:
        return default
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"--{what} names nothing")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"--{what} repeats {', '.join(dupes)}")
    return names


def _progress(cell: Cell) -> None:
    print(f"  {cell.impl} x {cell.search}: {cell.found}/{cell.seeds}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        impls = _names(args.impls, default_impls(), "impls")
        shard = parse_shard(args.shard)
        impls = impls[shard[0] - 1 :: shard[1]]
        search_names = _names(args.searches, list(SEARCHES), "searches")
        unknown = [s for s in search_names if s not in SEARCHES]
        if unknown:
            raise ValueError(f"unknown search {unknown[0]!r} (known: {', '.join(SEARCHES)})")
        if args.seeds < 1:
            raise ValueError("--seeds must be at least 1")
        if not args.budget > 0:
            raise ValueError("--budget must be positive")
        if args.width < 60:
            raise ValueError("--width must be at least 60")
        board = score(
            impls,
            search_names,
            seeds=args.seeds,
            budget=args.budget,
            shrink_repros=args.shrink,
            progress=_progress,
            vendor=args.vendor,
            perf=args.fail_on_perf,
        )
    except (ValueError, ImplError) as e:
        print(f"difftest: {e}", file=sys.stderr)
        args.doc["error"] = str(e)
        return EXIT_USAGE
    print(render(board, args.width))
    alarms = board.false_alarms()
    args.doc["impl"] = None
    args.doc["mutants"] = {
        "seeds": board.seeds,
        "budget": board.budget,
        "shard": list(shard),
        "cells": [
            {
                "impl": c.impl,
                "search": c.search,
                "seeds": c.seeds,
                "found": c.found,
                "found_seeds": c.found_seeds,
                "seconds": [round(x, 4) for x in c.seconds],
                "ops": c.ops,
                "steps": c.steps,
                "kinds": dict(c.kinds),
            }
            for c in board.cells.values()
        ],
        "false_alarms": [f"{c.impl} x {c.search}" for c in alarms],
    }
    if not alarms:
        return EXIT_CLEAN
    for cell in alarms:
        msg = (
            f"FALSE ALARM: correct implementation {cell.impl} shows a bug under {cell.search} "
            f"(seeds {', '.join(map(str, cell.found_seeds))}: {', '.join(sorted(cell.kinds))}); "
            f"the model or the oracle is wrong"
        )
        print(msg)
        print(f"difftest: {msg}", file=sys.stderr)
    return EXIT_FINDING
