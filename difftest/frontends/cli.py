"""The ``difftest`` command: check, replay, list."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import textwrap
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from difftest.check import PORTFOLIO, SEARCHES, GenParams, Summary, default_jobs, random_check
from difftest.errors import (
    EPILOG,
    EXIT_CLEAN,
    EXIT_FINDING,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    MAX_FILE_BYTES,
    PluginError,
    UsageError,
    short_traceback,
)
from difftest.frontends import output
from difftest.frontends.interrupts import save_finding, sigterm_as_interrupt, write_repro
from difftest.frontends.progress import Progress
from difftest.frontends.validate import parse_shard, validate
from difftest.fuzz.decode import decode
from difftest.impls import BUILTIN, PLUGIN_FILES, ImplError, load, plugin_sha256
from difftest.model.scenario import ANY, IRQ_SOURCES, Scenario
from difftest.oracle.findings import MEANING, SEVERITY, Finding, Kind
from difftest.plugin.change_coverage import (
    EXIT_UNCOVERED,
    ChangeCoverage,
    plugin_file,
    report,
    summarize,
)
from difftest.plugin.mutate import mutants
from difftest.report import timeline
from difftest.report.causal import pick, traced
from difftest.report.digest import Digest, build, digest_lines, render_brief
from difftest.report.explain import explain, preemptions
from difftest.report.table import render_report
from difftest.report.wrap import DEFAULT_WIDTH, wrap
from difftest.repro import ReproError, write_atomic
from difftest.repro import load as load_repro
from difftest.runner import Result, run
from difftest.schedulers.replay import ReplayScheduler, ScheduleDiverged

# Further subcommands, one module each: ``register(sub)`` adds a parser whose
# defaults hold ``run=callable(args) -> exit status``.
COMMAND_MODULES: tuple[str, ...] = (
    "difftest.frontends.explore_cmd",
    "difftest.frontends.mutants_cmd",
    "difftest.frontends.fuzz_cmd",
    "difftest.frontends.merge_cmd",
    "difftest.frontends.new_cmd",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (caught in main)
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="difftest", description=__doc__, epilog=EPILOG)
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
        "--irq-source",
        choices=(ANY, *IRQ_SOURCES),
        default=ANY,
        help="where ExtINTs come from: pic (in-kernel i8259), split (KVM_INTERRUPT), xen "
        "(upcall vector), legacy (the narrow model of old reproducers); any: drawn per run",
    )
    c.add_argument(
        "--resets",
        action="store_true",
        help="also userspace resets and INIT/SIPI IPIs (final's INIT/reset finding, README)",
    )
    c.add_argument(
        "--fail-on-perf",
        action="store_true",
        help="exit 1 on a perf finding too (a write lock the lazy IRQ-window path avoids)",
    )
    c.add_argument("--out", type=Path, default=Path("difftest-out"), help="reproducer directory")
    c.add_argument("--no-shrink", action="store_true", help="keep the first finding as found")
    c.add_argument("--width", type=int, default=80, help="table width in columns")
    c.add_argument("--full", action="store_true", help="print the whole interleaving table")
    output.add_json_flag(c)
    c.add_argument(
        "--search",
        choices=("portfolio", *SEARCHES),
        default="portfolio",
        help="schedules per run: random, PCT, POS, or all three interleaved (default)",
    )
    c.add_argument(
        "--jobs", type=int, default=None, help="processes (default: every core available)"
    )
    c.add_argument("--shard", default=None, metavar="K/N", help="run only shard K of N (from 1)")
    add_coverage_args(c)
    c.add_argument(
        "--mutate",
        action="store_true",
        help="also run the same search on each mutant of the plugin's functions (one "
        "comparison or boolean flipped) and say which it catches",
    )

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
    r.add_argument(
        "--raw",
        action="store_true",
        help="FILE is a raw fuzzer input (libFuzzer crash-*, ClusterFuzzLite test case); "
        "needs --impl",
    )
    output.add_json_flag(r)

    sub.add_parser("list", help="list the built-in implementations")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    for sp in sub.choices.values():  # the exit-status contract under every --help
        sp.epilog = f"{sp.epilog}\n\n{EPILOG}" if sp.epilog else EPILOG
    return p


def one_line(message: object, limit: int = 300) -> str:
    """An error message as one bounded line, whatever the input it quotes."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    """Every subcommand's exit status comes from here (difftest.errors)."""
    try:
        args = _parser().parse_args(argv)
    except UsageError as e:
        print(f"difftest: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
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
    """The command's exit status, and the one-line error if it failed."""
    try:
        validate(args)
        if args.cmd == "check":
            return _check(args), None
        if args.cmd == "replay":
            return _replay(args), None
        if hasattr(args, "run"):
            return int(args.run(args)), None
        for name in BUILTIN:
            print(f"{name:28s} {_summary(load(name))}")
        return EXIT_CLEAN, None
    except PluginError as e:  # before UsageError: a plugin that fails to import is one
        print(e.plugin_traceback(), end="", file=sys.stderr)
        print(f"difftest: {one_line(e)}", file=sys.stderr)
        return EXIT_INTERNAL, one_line(e)
    except UsageError as e:
        print(f"difftest: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE, one_line(e)
    except KeyboardInterrupt:
        print("difftest: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED, "interrupted"
    except BrokenPipeError:  # output piped into head: not an error of the run
        sys.stderr.close()
        return EXIT_CLEAN, None
    except RecursionError as e:  # deep input that slipped past a cap: still input
        print(f"difftest: input nested too deeply ({one_line(e)})", file=sys.stderr)
        return EXIT_USAGE, "input nested too deeply"
    except SystemExit as e:  # --help exits 0; a plugin calling sys.exit() is an error
        if _plugin_frame(e) is None:
            raise
        return _internal(e), f"plugin called sys.exit({e.code!r})"
    except Exception as e:
        return _internal(e), one_line(f"{type(e).__name__}: {e}")


def _plugin_frame(e: BaseException) -> str | None:
    """The innermost plugin file in ``e``'s traceback, if any."""
    frames = [f.filename for f in traceback.extract_tb(e.__traceback__)]
    return next((f for f in reversed(frames) if f in PLUGIN_FILES), None)


def _internal(e: BaseException) -> int:
    """Exit 3. An exception raised in a plugin's code shows the plugin's frames only;
    one of difftest itself shows the whole traceback, to be reported."""
    plugin = _plugin_frame(e)
    if plugin is not None:
        print(short_traceback(e, plugin), end="", file=sys.stderr)
        print(
            f"difftest: the plugin {plugin} raised {type(e).__name__}: {one_line(e)}",
            file=sys.stderr,
        )
    else:
        traceback.print_exception(e, file=sys.stderr)
        print(
            f"difftest: internal error (a bug of difftest): {type(e).__name__}: {one_line(e)}",
            file=sys.stderr,
        )
    return EXIT_INTERNAL


def _summary(impl: type) -> str:
    """The module docstring's first sentence, after its "name:" prefix."""
    doc = (sys.modules[impl.__module__].__doc__ or impl.__doc__ or "").strip()
    first = " ".join(doc.split("\n\n")[0].split())
    first = first.split(": ", 1)[1] if ": " in first else first
    return textwrap.shorten(first, 70, placeholder=" ...")


def gen_params(args: argparse.Namespace) -> GenParams:
    """The scenario options ``check`` and ``fuzz`` share, as ``generate`` takes them."""
    return GenParams(
        args.vcpus,
        args.ioctls,
        args.ops,
        not args.no_nested,
        args.vendor,
        args.irq_source,
        args.resets,
    )


def _check(args: argparse.Namespace) -> int:
    impl = load(args.impl)
    if args.mutate and plugin_file(impl) is None:
        raise ImplError("--mutate applies to a plugin (FILE.py:CLASS)")
    params = gen_params(args)
    runs = args.runs if args.runs is not None or args.time is not None else 2000
    jobs, shard, searches = _spread(args)
    cov = change_coverage(impl, args)
    if cov is not None:
        jobs = args.jobs = 1  # coverage is measured in this process (and the summary says so)
    s = Summary()
    start = time.monotonic()
    total = runs if args.time is None and args.shard is None else None  # a shard runs a part
    with sigterm_as_interrupt(), Progress("check", total=total) as p:
        with cov if cov is not None else contextlib.nullcontext():
            try:
                random_check(
                    impl,
                    seed=args.seed,
                    runs=runs,
                    seconds=args.time,
                    params=params,
                    progress=lambda s: p.update(s.runs, extra=f"{s.bug_runs} with findings"),
                    progress_every=0.2 if p.tty else 2.0,
                    summary=s,
                    searches=searches,
                    jobs=jobs,
                    shard=shard,
                )
            except KeyboardInterrupt:  # write what was found, then exit 130
                s.interrupted = True
                s.seconds = time.monotonic() - start
        p.update(s.runs, extra=f"{s.bug_runs} with findings")
    run_base = lambda base: random_check(  # noqa: E731
        base, seed=args.seed, runs=s.runs, params=params, searches=searches, shard=shard
    )
    return _check_result(args, impl, params, s, cov, run_base)


def _check_result(
    args: argparse.Namespace,
    impl: type,
    params: GenParams,
    s: Summary,
    cov: ChangeCoverage | None = None,
    run_base: Callable[[type], object] | None = None,
) -> int:
    stopped = " (interrupted)" if s.interrupted else ""
    jobs, shard, searches = _spread(args)
    where = f" --shard {shard[0]}/{shard[1]}" if shard != (1, 1) else ""
    emit(
        f"difftest check --impl {args.impl} --seed {args.seed} --search {args.search}{where}: "
        f"{s.runs} runs{stopped}, {s.steps} steps, {s.steps / max(s.seconds, 1e-9):,.0f} "
        f"steps/s ({jobs} job{'s' if jobs > 1 else ''})",
        args.width,
    )
    if s.first_bug_index is not None:
        print(f"first bug: run {s.first_bug_index} ({searches[s.first_bug_index % len(searches)]})")
    # The base on the same runs, with the conditions the plugin replaces watched.
    but = finish_coverage(cov, run_base, args.doc)
    lines = findings_lines(s.runs_with, args.width)
    if but and not s.runs_with:
        lines[0] += but
    print(*lines, sep="\n")
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
        "search": args.search,
        "shard": list(shard),
        "first_bug_index": s.first_bug_index,
        "first_soft_index": s.first_soft_index,
    }
    doc["reproducers"] = []
    if getattr(args, "mutate", False) and not s.interrupted:
        _mutants(impl, args.seed, s.runs, params)
    first = s.first_bug or s.first_soft
    if first is None:
        if s.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_UNCOVERED if but and getattr(args, "require_coverage", False) else EXIT_CLEAN
    saved = save_finding(
        impl,
        args.impl,
        first,
        args.out,
        shrink_it=s.first_bug is not None and not args.no_shrink,
        interrupted=s.interrupted,
    )
    doc["check"]["shrunk"] = saved.result is not first
    path = saved.path
    report = _report(impl, saved.result, args.width, path, full=args.full)
    doc["reproducers"].append(reproducer_entry(impl, saved.result, path))
    print()
    print(report)
    emit(f"\nreproducer: {path}", args.width)
    if saved.unshrunk is not None and saved.unshrunk != path:
        emit(f"unshrunk:   {saved.unshrunk}", args.width)
    if s.interrupted or saved.stopped:
        return EXIT_INTERRUPTED
    perf = getattr(args, "fail_on_perf", False) and s.perf_runs > 0
    return EXIT_FINDING if s.first_bug is not None or perf else EXIT_CLEAN


def _spread(args: argparse.Namespace) -> tuple[int, tuple[int, int], tuple[str, ...]]:
    """--jobs (default: every core), --shard and --search as check uses them."""
    jobs = default_jobs() if args.jobs is None else args.jobs
    searches = PORTFOLIO if args.search == "portfolio" else (args.search,)
    return jobs, parse_shard(args.shard), searches


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


def add_coverage_args(p: argparse.ArgumentParser) -> None:
    """Coverage of a plugin's functions: on by default for plugins."""
    p.add_argument(
        "--no-coverage",
        action="store_true",
        help="do not measure which lines of a plugin's functions ran",
    )
    p.add_argument(
        "--require-coverage",
        action="store_true",
        help=f"exit {EXIT_UNCOVERED} if the search is clean but part of the plugin's "
        "change never ran",
    )


def change_coverage(impl: type, args: argparse.Namespace) -> ChangeCoverage | None:
    """Coverage of the change for a plugin, unless turned off; None otherwise."""
    if plugin_file(impl) is None:
        if args.require_coverage:
            raise ImplError("--require-coverage applies to a plugin (FILE.py:CLASS)")
        return None
    if args.no_coverage:
        if args.require_coverage:
            raise ImplError("--require-coverage and --no-coverage contradict each other")
        return None
    return ChangeCoverage(impl)


def finish_coverage(
    cov: ChangeCoverage | None,
    run_base: Callable[[type], object] | None,
    doc: dict[str, object] | None = None,
) -> str:
    """Run the base's side (``run_base(shadow)`` repeats the search on it; None
    skips that side), print the coverage report, and return what a clean summary
    line must add."""
    if cov is None:
        return ""
    if cov.base_side.shadow is not None and run_base is not None:
        run_base(cov.base_side.shadow)
        cov.base_side.ran = True
    gaps = cov.gaps()
    print(report(cov, gaps))
    if doc is not None:
        doc["coverage"] = {
            "file": str(cov.path),
            "functions": sorted(cov.ranges),
            "gaps": [
                {
                    "function": g.function,
                    "line": g.line,
                    "what": "condition" if g.condition else "line" if g.is_line else "branch",
                    "detail": g.describe(),
                }
                for g in gaps
            ],
        }
    return f" (but {summarize(gaps)})" if gaps else ""


def _mutants(impl: type, seed: int, runs: int, params: GenParams) -> None:
    """The same search (seed and number of runs) on each mutant of the change."""
    ms = mutants(impl)
    results = []
    for m in ms:
        r = random_check(m.impl, seed=seed, runs=runs, params=params, stop_on_bug=True)
        f = r.first_bug.first_bug if r.first_bug is not None else None
        results.append((m, f, r.runs))
    caught = sum(1 for _, f, _ in results if f is not None)
    print(f"mutants of the change: {caught} of {len(ms)} caught by the same {runs} runs")
    for m, f, n in results:
        verdict = f"caught: {f.kind.value} in run {n}" if f is not None else "NOT caught"
        print(f"  {m.function}:{m.line}  {m.description}  -> {verdict}")


def _write_repro(out: Path, impl_spec: str, r: Result) -> Path:
    return write_repro(out, impl_spec, r)


def _report(
    impl: type, r: Result, width: int, path: Path | None = None, *, full: bool = False
) -> str:
    """The digest (or with ``full`` the whole table) headed by the replay command."""
    command = f"difftest replay {path}" if path else None
    return explain(impl, r, width, full=full, command=command)


def _replay(args: argparse.Namespace) -> int:
    if args.raw:
        return _replay_raw(args)
    repro = load_repro(args.file)
    if args.impl is None and repro.impl not in BUILTIN:
        # Reading a file never runs code: a plugin is imported only if the command names it.
        raise ReproError(
            f"{args.file}: recorded on the plugin {repro.impl!r}; replay imports no code a "
            f"file names: pass --impl {repro.impl} to run that plugin"
        )
    impl = load(args.impl or repro.impl)
    same = args.impl in (None, repro.impl)
    if same and repro.impl_sha256 is not None:
        now = plugin_sha256(repro.impl)
        if now is not None and now != repro.impl_sha256:
            print(
                f"warning: {repro.impl.rpartition(':')[0]} changed since the reproducer was "
                "written (sha256 differs); replaying the schedule leniently",
                file=sys.stderr,
            )
            same = False
    sched = ReplayScheduler(repro.schedule, strict=same)
    try:
        r = run(impl, repro.scenario, sched, trace=True)
    except ScheduleDiverged as e:  # the file does not fit its own implementation
        raise ReproError(f"{args.file}: schedule does not replay on {repro.impl}: {e}") from None
    left = len(repro.schedule) - sched.pos
    if sched.strict and left > 0:  # the run ended early: this is not the recorded run
        raise ReproError(
            f"{args.file}: schedule does not replay on {repro.impl}: the run ended after "
            f"{sched.pos} steps with {left} recorded steps left over"
        )
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
        d = build(impl, repro.scenario, repro.schedule, strict=sched.strict, recorded=recorded)
        report = render_brief(
            impl.name, repro.scenario, d, width=args.width, command=_replay_command(args)
        )
    print(report)
    if args.html or args.svg:
        full = None
        if d is None:  # every preemption, from a traced replay
            full = traced(impl, repro.scenario, repro.schedule, strict=sched.strict).preempted
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


def _replay_raw(args: argparse.Namespace) -> int:
    """A fuzzer input decodes to one run (default scenario bounds, as the targets use)."""
    if args.impl is None:
        raise UsageError("replay --raw needs --impl: a raw input does not name its implementation")
    impl = load(args.impl)
    try:
        with open(args.file, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the name
        why = getattr(e, "strerror", None) or e
        name = str(args.file).replace(chr(0), "<NUL>")
        raise UsageError(f"{name}: cannot read ({why})") from None
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{args.file}: over the cap of {MAX_FILE_BYTES:,} bytes")
    scenario, scheduler = decode(data)
    r = run(impl, scenario, scheduler, trace=True)
    assert r.execution.trace is not None
    f = r.first_bug or (r.findings[0] if r.findings else None)
    if args.full:
        print(render_report(impl.name, scenario, r.execution.trace, f, width=args.width, full=True))
    else:
        d = build(impl, scenario, r.execution.schedule, recorded=f.kind if f else None)
        print(render_brief(impl.name, scenario, d, width=args.width))
    kinds = ", ".join(sorted({x.kind.value for x in r.findings})) or "none"
    print(f"\nverdict: findings {kinds} (raw input, {len(data)} bytes, on {impl.name})")
    return EXIT_FINDING if r.bugs else EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
