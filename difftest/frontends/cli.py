"""The ``difftest`` command: check, replay, list."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import textwrap
from pathlib import Path

from difftest.check import GenParams, random_check
from difftest.frontends import output
from difftest.frontends.progress import Progress
from difftest.impls import BUILTIN, ImplError, load
from difftest.model.scenario import Scenario, ScenarioError
from difftest.oracle.findings import MEANING, SEVERITY, Finding, Kind
from difftest.report import timeline
from difftest.report.causal import pick, traced
from difftest.report.digest import Digest, build, digest_lines, render_brief
from difftest.report.explain import explain, preemptions
from difftest.report.table import render_report
from difftest.report.wrap import DEFAULT_WIDTH, wrap
from difftest.repro import Repro, ReproError, save_new, write_atomic
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
    c.add_argument("--out", type=Path, default=Path("difftest-out"), help="reproducer directory")
    c.add_argument("--no-shrink", action="store_true", help="keep the first finding as found")
    c.add_argument("--width", type=int, default=80, help="table width in columns")
    c.add_argument("--full", action="store_true", help="print the whole interleaving table")
    output.add_json_flag(c)

    r = sub.add_parser("replay", help="re-run a reproducer and print its interleaving")
    r.add_argument("file", type=Path)
    r.add_argument("--impl", help="replay on another implementation (lenient schedule)")
    r.add_argument("--width", type=int, default=80)
    detail = r.add_mutually_exclusive_group()
    detail.add_argument(
        "--brief",
        action="store_true",
        help="the causal digest: only the steps the divergence depends on (default)",
    )
    detail.add_argument(
        "--full", action="store_true", help="the whole interleaving, re-checks included"
    )
    r.add_argument("--html", type=Path, metavar="FILE", help="also write the timeline as HTML")
    r.add_argument("--svg", type=Path, metavar="FILE", help="also write the timeline as SVG")
    output.add_json_flag(r)

    sub.add_parser("list", help="list the built-in implementations")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Every command fills its machine-readable document as it goes (output.py).
    args.doc = output.new_doc(args.cmd)
    as_json = getattr(args, "json", False)
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        status, error = _dispatch(args)
    if args.cmd != "list" and hasattr(args, "json"):
        doc = output.finish(args.doc, status, error=error)
        output.append_step_summary(doc)
        if as_json:
            print(output.dump(doc))
    return status


def _dispatch(args: argparse.Namespace) -> tuple[int, str | None]:
    """The command's exit status, and the one-line error if it failed on its input."""
    try:
        if args.cmd == "check":
            return _check(args), None
        if args.cmd == "replay":
            return _replay(args), None
        if hasattr(args, "run"):
            return int(args.run(args)), None
        for name in BUILTIN:
            print(f"{name:28s} {_summary(load(name))}")
        return EXIT_CLEAN, None
    except (ImplError, ReproError, ScenarioError) as e:
        print(f"difftest: {e}", file=sys.stderr)
        return EXIT_USAGE, str(e)
    except KeyboardInterrupt:
        print("difftest: interrupted", file=sys.stderr)
        return 130, "interrupted"
    except BrokenPipeError:  # output piped into head: not an error of the run
        sys.stderr.close()
        return EXIT_CLEAN, None


def _summary(impl: type) -> str:
    """The module docstring's first sentence, after its "name:" prefix."""
    doc = (sys.modules[impl.__module__].__doc__ or impl.__doc__ or "").strip()
    first = " ".join(doc.split("\n\n")[0].split())
    first = first.split(": ", 1)[1] if ": " in first else first
    return textwrap.shorten(first, 70, placeholder=" ...")


def _check(args: argparse.Namespace) -> int:
    for name in ("vcpus", "ops"):
        if getattr(args, name) < 1:
            raise ScenarioError(f"--{name} must be at least 1")
    if args.ioctls < 0:
        raise ScenarioError("--ioctls must not be negative")
    impl = load(args.impl)
    params = GenParams(args.vcpus, args.ioctls, args.ops, not args.no_nested, args.vendor)
    runs = args.runs if args.runs is not None or args.time is not None else 2000
    with Progress("check", total=runs if args.time is None else None) as p:
        s = random_check(
            impl,
            seed=args.seed,
            runs=runs,
            seconds=args.time,
            params=params,
            progress=lambda s: p.update(s.runs, findings=s.bug_runs),
            progress_every=0.2 if p.tty else 2.0,
        )
        p.update(s.runs, findings=s.bug_runs)
    emit(
        f"difftest check --impl {args.impl} --seed {args.seed}: {s.runs} runs, "
        f"{s.steps} steps, {s.steps / max(s.seconds, 1e-9):,.0f} steps/s",
        args.width,
    )
    print(*findings_lines(s.runs_with, args.width), sep="\n")
    doc = args.doc
    doc["impl"] = args.impl
    doc["findings"] = output.findings(s.runs_with)
    doc["check"] = {
        "seed": args.seed,
        "params": vars(params),
        "runs": s.runs,
        "steps": s.steps,
        "seconds": round(s.seconds, 3),
        "shrunk": False,
    }
    doc["reproducers"] = []
    first = s.first_bug or s.first_soft
    if first is None:
        return EXIT_CLEAN
    if s.first_bug is not None and not args.no_shrink:
        with Progress("shrink", unit="candidates") as p:
            first = shrink(impl, first, progress=lambda n, ops: p.update(n, extra=f"{ops} ops"))
        doc["check"]["shrunk"] = True
    path = _write_repro(args.out, args.impl, first)
    report = _report(impl, first, args.width, path, full=args.full)
    doc["reproducers"].append(reproducer_entry(impl, first, path))
    print()
    print(report)
    emit(f"\nreproducer: {path}", args.width)
    return EXIT_FINDING if s.first_bug is not None else EXIT_CLEAN


def emit(text: str, width: int = DEFAULT_WIDTH) -> None:
    """Print ``text`` wrapped to ``width`` at word boundaries (blank lines kept)."""
    for para in text.split("\n"):
        print("\n".join(wrap(para, width, "", "  ")) if para else "")


def findings_lines(runs_with: dict[str, int], width: int) -> list[str]:
    """Runs showing each finding kind, with its meaning wrapped under it."""
    if not runs_with:
        return ["findings: none"]
    out = ["findings (runs showing each kind):"]
    for kind, n in sorted(runs_with.items()):
        out.append(f"  {kind:18s} {SEVERITY[Kind(kind)]:8s} {n:6d}")
        out.extend(wrap(MEANING[Kind(kind)], width, "    "))
    return out


def reproducer_entry(impl: type, r: Result, path: Path | None) -> dict[str, object]:
    """The JSON record of one reproducer: where it is, its size, its digest."""
    f = r.first_bug or (r.findings[0] if r.findings else None)
    return output.reproducer(
        path,
        f,
        digest_lines(explain(impl, r, DEFAULT_WIDTH)),
        threads=len(r.scenario.thread_names),
        ops=r.scenario.n_ops,
        steps=r.execution.steps,
        preemptions=preemptions(impl, r),
    )


def _write_repro(out: Path, impl_spec: str, r: Result) -> Path:
    f = r.first_bug or r.findings[0]
    return save_new(out, Repro(impl_spec, r.scenario, r.execution.schedule, f))


def _report(
    impl: type, r: Result, width: int, path: Path | None = None, *, full: bool = False
) -> str:
    """The digest (or with ``full`` the whole table) headed by the replay command."""
    command = f"difftest replay {path}" if path else None
    return explain(impl, r, width, full=full, command=command)


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
    f = pick(r.findings, recorded)
    assert r.execution.trace is not None
    d = None
    if args.full:
        report = render_report(
            impl.name,
            repro.scenario,
            r.execution.trace,
            f,
            width=args.width,
            full=True,
            command=_replay_command(args),
        )
    else:
        d = build(impl, repro.scenario, repro.schedule, strict=args.impl is None, recorded=recorded)
        report = render_brief(
            impl.name, repro.scenario, d, width=args.width, command=_replay_command(args)
        )
    print(report)
    if args.html or args.svg:
        full = None
        if d is None:  # every preemption, from a traced replay
            full = traced(impl, repro.scenario, repro.schedule, strict=args.impl is None).preempted
        _picture(args, impl.name, repro.scenario, r, f, d, report, full)
    if sched.diverged_at is not None:
        emit(
            f"\nnote: the recorded schedule stopped fitting {impl.name} at step "
            f"{sched.diverged_at}; the running thread kept going from there",
            args.width,
        )
    now = ", ".join(sorted({x.kind.value for x in r.findings})) or "none"
    if same or (recorded is None and not r.findings):
        verdict = "reproduced"
    else:
        verdict = f"changed (recorded {recorded.value if recorded else 'none'}, now {now})"
    emit(f"\nverdict: {verdict}", args.width)
    doc = args.doc
    doc["impl"] = args.impl or repro.impl
    doc["findings"] = output.findings({k: 1 for k in {x.kind.value for x in r.findings}})
    doc["replay"] = {
        "file": str(args.file),
        "outcome": "reproduced" if verdict == "reproduced" else "changed",
        "recorded_kind": recorded.value if recorded else None,
        "kinds_now": sorted({x.kind.value for x in r.findings}),
        "diverged_at": sched.diverged_at,
    }
    doc["reproducers"] = [
        output.reproducer(
            args.file,
            f,
            digest_lines(report) if not args.full else report.splitlines(),
            command=_replay_command(args),
            threads=len(repro.scenario.thread_names),
            ops=repro.scenario.n_ops,
            steps=r.execution.steps,
            preemptions=sched.preemptions,
        )
    ]
    return EXIT_FINDING if r.bugs else EXIT_CLEAN


def _picture(
    args: argparse.Namespace,
    name: str,
    scenario: Scenario,
    r: Result,
    f: Finding | None,
    d: Digest | None,
    report: str,
    preempted: list[int | None] | None,
) -> None:
    """Write the timeline (brief: the digest's steps; full: every step)."""
    for out in (args.html, args.svg):
        if out is not None and out.resolve() == args.file.resolve():
            raise ReproError(f"{out}: would overwrite the reproducer being replayed")
    assert r.execution.trace is not None
    title = f"difftest: {name}" + (f" diverges: {f.kind.value}" if f else ": no divergence")
    shown = None if d is None else sorted(i for x in d.lines for i in x.steps)
    if d is not None:  # brief: only the preemptions that matter (digest.py)
        preempted = [None] * len(d.traced.preempted)
        for x in d.lines:
            if x.preempts is not None:
                preempted[x.steps[0]] = x.preempts
    pic = timeline.draw(
        scenario, r.execution.trace, f, shown=shown, preempted=preempted, title=title
    )
    if args.svg is not None:
        write_atomic(args.svg, timeline.svg(pic))
        emit(f"timeline: {args.svg}", args.width)
    if args.html is not None:
        write_atomic(args.html, timeline.page(pic, title, report))
        emit(f"timeline: {args.html}", args.width)


def _replay_command(args: argparse.Namespace) -> str:
    return f"difftest replay {args.file}" + (f" --impl {args.impl}" if args.impl else "")


if __name__ == "__main__":
    sys.exit(main())
