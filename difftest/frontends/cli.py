"""The ``difftest`` command: check, replay, list."""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from pathlib import Path

from difftest.check import GenParams, Summary, random_check
from difftest.impls import BUILTIN, ImplError, load
from difftest.model.scenario import ScenarioError
from difftest.oracle.findings import MEANING, SEVERITY, Kind
from difftest.report.explain import explain
from difftest.report.table import render_report
from difftest.repro import Repro, ReproError, save_new
from difftest.repro import load as load_repro
from difftest.runner import Result, run
from difftest.schedulers.replay import ReplayScheduler
from difftest.shrink import shrink

EXIT_CLEAN, EXIT_FINDING, EXIT_USAGE = 0, 1, 2

# Further subcommands, one module each: ``register(sub)`` adds a parser whose
# defaults hold ``run=callable(args) -> exit status``.
COMMAND_MODULES: tuple[str, ...] = (
    "difftest.frontends.explore_cmd",
    "difftest.frontends.mutants_cmd",
    "difftest.frontends.fuzz_cmd",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        sys.stderr.write(f"difftest: {message}\n")
        sys.exit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="difftest", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    c = sub.add_parser("check", help="random scenarios under random schedules")
    c.add_argument("--impl", required=True, help="built-in name or FILE.py:NAME")
    c.add_argument("--seed", type=int, default=0)
    g = c.add_mutually_exclusive_group()
    g.add_argument("--runs", type=int, default=None, help="number of runs (default 2000)")
    g.add_argument("--time", type=float, default=None, metavar="SECONDS")
    c.add_argument("--vcpus", type=int, default=3)
    c.add_argument("--ioctls", type=int, default=1)
    c.add_argument("--ops", type=int, default=4, help="operations per thread")
    c.add_argument("--no-nested", action="store_true", help="no VMRUN/#VMEXIT operations")
    c.add_argument("--vendor", choices=("svm", "vmx"), default="svm")
    c.add_argument(
        "--resets", action="store_true", help="also INIT/SIPI/reset operations (final's finding)"
    )
    c.add_argument(
        "--fail-on-perf", action="store_true", help="exit 1 on a perf finding (extra write lock)"
    )
    c.add_argument("--out", type=Path, default=Path("difftest-out"), help="reproducer directory")
    c.add_argument("--no-shrink", action="store_true", help="keep the first finding as found")
    c.add_argument("--width", type=int, default=96, help="table width in columns")

    r = sub.add_parser("replay", help="re-run a reproducer and print its interleaving")
    r.add_argument("file", type=Path)
    r.add_argument("--impl", help="replay on another implementation (lenient schedule)")
    r.add_argument("--width", type=int, default=96)
    r.add_argument("--full", action="store_true", help="also show steps that changed nothing")

    sub.add_parser("list", help="list the built-in implementations")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "check":
            return _check(args)
        if args.cmd == "replay":
            return _replay(args)
        if hasattr(args, "run"):
            return int(args.run(args))
        for name in BUILTIN:
            print(f"{name:28s} {_summary(load(name))}")
        return EXIT_CLEAN
    except (ImplError, ReproError, ScenarioError) as e:
        print(f"difftest: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("difftest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head: not an error of the run
        sys.stderr.close()
        return EXIT_CLEAN


def _summary(impl: type) -> str:
    """The module docstring's first sentence, after its "name:" prefix."""
    doc = (sys.modules[impl.__module__].__doc__ or impl.__doc__ or "").strip()
    first = " ".join(doc.split("\n\n")[0].split())
    first = first.split(": ", 1)[1] if ": " in first else first
    return textwrap.shorten(first, 70, placeholder=" ...")


def _progress(s: Summary) -> None:
    print(
        f"  {s.runs} runs, {s.steps / max(s.seconds, 1e-9):,.0f} steps/s, "
        f"{s.bug_runs} with findings",
        file=sys.stderr,
        flush=True,
    )


def _check(args: argparse.Namespace) -> int:
    for name in ("vcpus", "ops"):
        if getattr(args, name) < 1:
            raise ScenarioError(f"--{name} must be at least 1")
    if args.ioctls < 0:
        raise ScenarioError("--ioctls must not be negative")
    impl = load(args.impl)
    params = GenParams(
        args.vcpus, args.ioctls, args.ops, not args.no_nested, args.vendor, args.resets
    )
    runs = args.runs if args.runs is not None or args.time is not None else 2000
    s = random_check(
        impl, seed=args.seed, runs=runs, seconds=args.time, params=params, progress=_progress
    )
    print(
        f"difftest check --impl {args.impl} --seed {args.seed}: {s.runs} runs, "
        f"{s.steps} steps, {s.steps / max(s.seconds, 1e-9):,.0f} steps/s"
    )
    if not s.runs_with:
        print("findings: none")
    else:
        print("findings (runs showing each kind):")
        for kind, n in sorted(s.runs_with.items()):
            print(f"  {kind:18s} {SEVERITY[Kind(kind)]:8s} {n:6d}  {MEANING[Kind(kind)][:60]}")
    first = s.first_bug or s.first_soft
    if first is None:
        return EXIT_CLEAN
    if s.first_bug is not None and not args.no_shrink:
        first = shrink(impl, first)
    path = _write_repro(args.out, args.impl, first)
    print()
    print(_report(impl, first, args.width))
    print(f"\nreproducer: {path}  (difftest replay {path})")
    perf = args.fail_on_perf and s.perf_runs > 0
    return EXIT_FINDING if s.first_bug is not None or perf else EXIT_CLEAN


def _write_repro(out: Path, impl_spec: str, r: Result) -> Path:
    f = r.first_bug or r.findings[0]
    return save_new(out, Repro(impl_spec, r.scenario, r.execution.schedule, f))


def _report(impl: type, r: Result, width: int) -> str:
    return explain(impl, r, width)


def _replay(args: argparse.Namespace) -> int:
    repro = load_repro(args.file)
    impl = load(args.impl or repro.impl)
    sched = ReplayScheduler(repro.schedule, strict=args.impl is None)
    try:
        r = run(impl, repro.scenario, sched, trace=True)
    except Exception as e:  # ScheduleDiverged: the file does not fit its own implementation
        raise ReproError(f"{args.file}: schedule does not replay on {repro.impl}: {e}") from None
    recorded = repro.finding.kind if repro.finding else None
    same = [x for x in r.findings if x.kind == recorded]
    f = same[0] if same else r.first_bug or (r.findings[0] if r.findings else None)
    assert r.execution.trace is not None
    print(
        render_report(
            impl.name, repro.scenario, r.execution.trace, f, width=args.width, full=args.full
        )
    )
    if sched.diverged_at is not None:
        print(
            f"\nnote: the recorded schedule stopped fitting {impl.name} at step "
            f"{sched.diverged_at}; the running thread kept going from there"
        )
    now = ", ".join(sorted({x.kind.value for x in r.findings})) or "none"
    if same or (recorded is None and not r.findings):
        verdict = "reproduced"
    else:
        verdict = f"changed (recorded {recorded.value if recorded else 'none'}, now {now})"
    print(f"\nverdict: {verdict}")
    return EXIT_FINDING if r.bugs else EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
