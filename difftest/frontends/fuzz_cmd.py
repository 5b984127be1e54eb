"""``difftest fuzz``, ``fuzz-merge`` and ``triage``: libFuzzer through the Atheris
target, with difftest's progress line and crash triage.

libFuzzer does the work and keeps its own flags: ``-max_total_time``,
``-fork=N`` (with ``-ignore_crashes=1``, so a crash does not end the night),
``-artifact_prefix`` and ``-merge=1``. difftest adds a progress line at a
steady cadence and, when the run ends or is interrupted, turns the crash files
into one shrunk reproducer per distinct finding.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import difftest.fuzz
from difftest.check import GenParams
from difftest.errors import EXIT_CLEAN, EXIT_FINDING, EXIT_INTERNAL, EXIT_USAGE
from difftest.frontends import output
from difftest.frontends.cli import (
    _report,
    add_coverage_args,
    change_coverage,
    finish_coverage,
    gen_params,
)
from difftest.frontends.progress import Progress as Bar
from difftest.frontends.progress import Status
from difftest.frontends.validate import writable_dir
from difftest.fuzz.decode import run_bytes
from difftest.fuzz.harness import DifftestInternalError, Harness
from difftest.fuzz.seeds import SEED_CORPUS
from difftest.fuzz.triage import (
    DUPLICATE,
    INTERNAL,
    NEW,
    Triaged,
    raw_inputs,
    slug,
    triage_dir,
    triage_one,
)
from difftest.impls import load
from difftest.model.scenario import ANY, IRQ_SOURCES, ScenarioError
from difftest.plugin.change_coverage import EXIT_UNCOVERED, ChangeCoverage
from difftest.repro import load as load_repro

# Both inside the package: an installed difftest fuzzes without a checkout.
TARGET = Path(difftest.fuzz.__file__).resolve().parent / "generic_target.py"
SEEDS = SEED_CORPUS


def register(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("fuzz", help="coverage-guided fuzzing with libFuzzer (Atheris)")
    _common(f)
    f.add_argument("--time", type=float, default=None, metavar="SECONDS", help="default: no limit")
    f.add_argument(
        "--jobs",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="parallel fuzzing processes (default: all cores); with 1, stop at the first crash",
    )
    f.add_argument("--artifacts", type=Path, default=None, help="default fuzz-artifacts/IMPL")
    f.add_argument("--seed", type=int, default=None, help="libFuzzer -seed (default: random)")
    f.add_argument("--progress", type=float, default=5.0, metavar="SECONDS")
    fb = f.add_mutually_exclusive_group()
    fb.add_argument(
        "--feedback",
        choices=("all", "states", "pairs"),
        default="all",
        help="concurrency features added to line coverage (default all)",
    )
    fb.add_argument("--no-feedback", action="store_true", help="line coverage only")
    f.add_argument("--width", type=int, default=80, help="table width in columns")
    _perf_flag(f)
    output.add_json_flag(f)
    add_coverage_args(f)
    f.set_defaults(run=run_fuzz)

    m = sub.add_parser("fuzz-merge", help="minimise a fuzzing corpus (libFuzzer -merge=1)")
    _common(m)
    m.set_defaults(run=run_merge)

    t = sub.add_parser(
        "triage",
        help="raw crash inputs (libFuzzer, ClusterFuzzLite) -> deduplicated shrunk reproducers",
    )
    t.add_argument("inputs", type=Path, metavar="DIR_OR_FILE", help="a crash input or a folder")
    _common(t, corpus=False)
    t.add_argument("--out", type=Path, default=None, help="default: the inputs' folder")
    t.add_argument("--width", type=int, default=96, help="table width in columns")
    _perf_flag(t)
    t.set_defaults(run=run_triage)


def _perf_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fail-on-perf",
        action="store_true",
        help="a perf finding (a write lock the lazy IRQ-window path avoids) is a crash too",
    )


def _common(p: argparse.ArgumentParser, *, corpus: bool = True) -> None:
    p.add_argument("--impl", required=True, help="built-in name or FILE.py:NAME")
    if corpus:
        p.add_argument("--corpus", type=Path, default=None, help="default fuzz-corpus/IMPL")
    p.add_argument("--vcpus", type=int, default=3, help="at most this many vCPUs")
    p.add_argument("--ioctls", type=int, default=1)
    p.add_argument("--ops", type=int, default=4, help="at most this many operations per thread")
    p.add_argument("--no-nested", action="store_true")
    p.add_argument("--vendor", choices=("svm", "vmx"), default="svm")
    p.add_argument("--irq-source", choices=(ANY, *IRQ_SOURCES), default=ANY, help="as for check")
    p.add_argument("--resets", action="store_true", help="as for check")


def _params(args: argparse.Namespace) -> GenParams:
    if args.vcpus < 1 or args.ops < 1:
        raise ScenarioError("--vcpus and --ops must be at least 1")
    if args.ioctls < 0:
        raise ScenarioError("--ioctls must not be negative")
    return gen_params(args)


def target_command(args: argparse.Namespace, *, feedback: str = "all") -> list[str]:
    """The Atheris target with difftest's options; libFuzzer flags follow.
    ``feedback`` is all, states, pairs or none."""
    cmd = [sys.executable, str(TARGET), "--impl", args.impl, "--vendor", args.vendor]
    cmd += ["--vcpus", str(args.vcpus), "--ops", str(args.ops), "--ioctls", str(args.ioctls)]
    cmd += ["--no-nested"] * args.no_nested + ["--irq-source", args.irq_source]
    cmd += ["--resets"] * getattr(args, "resets", False)
    cmd += ["--no-feedback"] if feedback == "none" else ["--feedback", feedback]
    return cmd + ["--fail-on-perf"] * getattr(args, "fail_on_perf", False)


def _dirs(args: argparse.Namespace) -> tuple[Path, Path]:
    name = slug(Path(args.impl).name)
    corpus = args.corpus or Path("fuzz-corpus") / name
    artifacts = getattr(args, "artifacts", None) or Path("fuzz-artifacts") / name
    return corpus, artifacts


@dataclass
class Progress:
    """The latest figures libFuzzer printed (plain and fork mode lines)."""

    execs: int = 0
    exec_s: int = 0
    corpus: int = 0
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))  # other lines


_PLAIN = re.compile(r"^#(\d+)\s+\w+\s.*?corp: (\d+)/.*?exec/s: (\d+)")
_FORK = re.compile(r"^#(\d+): cov: \d+ ft: \d+ corp: (\d+) exec/s:? (\d+)")


def parse_line(line: str, p: Progress) -> None:
    m = _PLAIN.match(line) or _FORK.match(line)
    if m:
        p.execs, p.corpus, p.exec_s = int(m[1]), int(m[2]), int(m[3])
    elif line.strip():
        p.tail.append(line.strip())


# The line that says why libFuzzer (or the target) could not start.
_FAILURE = re.compile(r"ERROR|[Ee]rror|what\(\)|terminate called|Traceback|[Uu]sage|[Ii]nvalid")


def failure_line(p: Progress) -> str:
    """libFuzzer's own line about a failure: the last that looks like one."""
    lines = list(p.tail)
    return next((x for x in reversed(lines) if _FAILURE.search(x)), lines[-1] if lines else "")


def _pump(stream, log, p: Progress) -> None:  # type: ignore[no-untyped-def]
    for raw in stream:
        line = raw.decode(errors="replace")
        log.write(line)
        parse_line(line, p)
    log.flush()


def run_fuzz(args: argparse.Namespace) -> int:
    impl = load(args.impl)
    cov = change_coverage(impl, args)  # validates the coverage flags before any work
    params = _params(args)
    corpus, artifacts = _dirs(args)
    writable_dir(corpus, "corpus")
    writable_dir(artifacts, "artifacts")
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = target_command(args, feedback="none" if args.no_feedback else args.feedback)
    cmd += [f"-artifact_prefix={artifacts}/", "-print_final_stats=1"]
    if args.jobs > 1:
        cmd += [f"-fork={args.jobs}", "-ignore_crashes=1"]
    if args.time is not None:
        cmd.append(f"-max_total_time={max(1, round(args.time))}")
    if args.seed is not None:
        cmd.append(f"-seed={args.seed}")
    cmd.append(str(corpus))  # new inputs go here; a rerun resumes from it
    seeds = SEEDS / slug(Path(args.impl).name)
    if seeds.is_dir():
        cmd.append(str(seeds))
    before = {p.name for p in artifacts.glob("crash-*")}
    print(f"difftest fuzz: {' '.join(cmd[1:])}", file=sys.stderr)
    p = Progress()
    status = Status()
    tally = _Tally(Harness(impl, params, perf=args.fail_on_perf), before)
    start = time.monotonic()
    # SIGTERM (cron, timeout, CI cancellation) stops the run like Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    with open(artifacts / "libfuzzer.log", "a") as log:
        # Atheris reports the exception on stdout, libFuzzer on stderr: log both.
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        reader = threading.Thread(target=_pump, args=(proc.stdout, log, p), daemon=True)
        reader.start()
        interrupted = False
        try:
            while proc.poll() is None:
                try:
                    proc.wait(timeout=args.progress)
                except subprocess.TimeoutExpired:
                    _print_progress(impl.name, start, p, artifacts, tally, status)
        except KeyboardInterrupt:
            interrupted = True
            _stop(proc)
        finally:
            signal.signal(signal.SIGTERM, previous)
        reader.join(timeout=10)
    _print_progress(impl.name, start, p, artifacts, tally, status)
    status.close()
    # 0: time is up; 1 or 77: a crash (77 is Atheris's status for a Python exception).
    # Anything else, or a crash status with neither an execution nor a crash file,
    # is libFuzzer failing to start: not a clean run.
    crashed = {c.name for c in artifacts.glob("crash-*")} - before
    started = p.execs > 0 or bool(crashed)
    if not interrupted and (proc.returncode not in (0, 1, 77) or proc.returncode and not started):
        line = failure_line(p) or "no output"
        print(
            f"difftest: libFuzzer failed (status {proc.returncode}): {line!r}; "
            f"see {artifacts / 'libfuzzer.log'}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    with Bar("triage", unit="crash inputs") as tp:
        results = triage_dir(
            impl,
            args.impl,
            artifacts,
            params,
            lambda i, r: _report(i, r, args.width),
            progress=lambda done, total: tp.update(done),
            perf=args.fail_on_perf,
        )
    _document(args, results, before)
    but = _corpus_coverage(cov, impl, [corpus, seeds], params)
    rc = _summary(results, before, args.width, but=but)
    return EXIT_UNCOVERED if rc == EXIT_CLEAN and but and args.require_coverage else rc


def _corpus_coverage(
    cov: ChangeCoverage | None, impl: type, dirs: list[Path], params: GenParams
) -> str:
    """Coverage of a plugin's change over the corpus libFuzzer kept: every input
    replayed once in this process, then on the base's side."""
    if cov is None:
        return ""
    inputs = [p for d in dirs if d.is_dir() for p in sorted(d.iterdir()) if p.is_file()]

    def replay(target: type) -> None:
        for p in inputs:
            with contextlib.suppress(Exception):  # a crash input was triaged already
                run_bytes(target, p.read_bytes(), params)

    with cov:
        replay(impl)
    print(f"coverage of the change over the {len(inputs)} corpus inputs:")
    return finish_coverage(cov, replay)


def _document(args: argparse.Namespace, results: list[Triaged], before: set[str]) -> None:
    """The JSON record of the triage: every crash input, every new reproducer."""
    signatures = {t.signature for t in results if t.signature}
    kinds: dict[str, int] = {}
    for t in results:
        if t.signature:
            k = t.signature.split("@")[0]
            kinds[k] = kinds.get(k, 0) + 1
    args.doc.update(impl=args.impl, findings=output.findings(kinds))
    args.doc["fuzz"] = {
        "new_crash_inputs": sum(1 for t in results if t.crash.name not in before),
        "distinct_findings": len(signatures),
        "triaged": [
            {
                "crash": str(t.crash),
                "status": t.status,
                "signature": t.signature,
                "reproducer": str(t.repro) if t.repro else None,
                "detail": t.detail,
            }
            for t in results
        ],
    }
    args.doc["reproducers"] = [
        output.reproducer(
            t.repro,
            load_repro(t.repro).finding,
            t.repro.with_suffix(".txt").read_text().splitlines(),
        )
        for t in results
        if t.status == NEW and t.repro is not None
    ]


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """In the child: if difftest is SIGKILLed, libFuzzer gets SIGTERM, stops its
    jobs and exits, instead of fuzzing on as an orphan (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """SIGINT to libFuzzer's process group (it finishes its writes), then SIGKILL."""
    print("difftest fuzz: interrupted, stopping libFuzzer", file=sys.stderr)
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


class _Tally:
    """Distinct findings among the new crash files, by replay only (about a
    millisecond each; shrinking waits for the end of the run)."""

    def __init__(self, harness: Harness, before: set[str]) -> None:
        self.harness = harness
        self.before = before
        self.seen: dict[str, str] = {}  # crash file name -> signature or "internal"

    def update(self, artifacts: Path) -> tuple[int, int, int]:
        for c in sorted(artifacts.glob("crash-*")):
            if c.name in self.before or c.name in self.seen:
                continue
            try:
                bug = self.harness.run(c.read_bytes()).first_failure(self.harness.perf)
            except DifftestInternalError:
                self.seen[c.name] = "internal"
                continue
            except OSError:  # still being written: next time
                continue
            self.seen[c.name] = bug.signature if bug else "none"
        sigs = set(self.seen.values())
        findings = len(sigs - {"internal", "none"})
        return len(self.seen), findings, int("internal" in sigs)


def _print_progress(
    name: str, start: float, p: Progress, artifacts: Path, tally: _Tally, status: Status
) -> None:
    crashes, findings, internal = tally.update(artifacts)
    extra = "  INTERNAL ERRORS" if internal else ""
    status.show(
        f"  fuzz {name}: {time.monotonic() - start:5.0f}s  {p.execs:,} executions  "
        f"{p.exec_s:,} exec/s  corpus {p.corpus}  findings {findings} "
        f"({crashes} crash inputs){extra}"
    )


def run_triage(args: argparse.Namespace) -> int:
    """The triage ``fuzz`` runs at its end, on inputs from anywhere."""
    impl = load(args.impl)
    params = _params(args)
    if not args.inputs.exists():
        raise ScenarioError(f"{args.inputs}: no such file or folder")
    out = args.out or (args.inputs if args.inputs.is_dir() else args.inputs.parent)
    writable_dir(out, "out")
    inputs = raw_inputs(args.inputs)
    if not inputs:
        raise ScenarioError(f"{args.inputs}: no crash inputs in this folder")
    render = lambda i, r: _report(i, r, args.width)  # noqa: E731
    results = []
    for n, crash in enumerate(inputs, 1):
        results.append(triage_one(impl, args.impl, crash, out, params, render, args.fail_on_perf))
        print(f"  triage {n}/{len(inputs)}: {crash.name}: {results[-1].status}", file=sys.stderr)
    return _summary(results, set(), args.width, "difftest triage")


def _summary(
    results: list[Triaged],
    before: set[str],
    width: int,
    label: str = "difftest fuzz",
    but: str = "",
) -> int:
    new = [t for t in results if t.status == NEW]
    internal = [t for t in results if t.status == INTERNAL]
    signatures = sorted({t.signature for t in results if t.signature})
    fresh = [t for t in results if t.crash.name not in before]
    tail = but if not signatures else ""
    print(f"{label}: {len(fresh)} new crash inputs, {len(signatures)} distinct findings{tail}")
    for t in results:
        if t.status == NEW:
            print(f"  new        {t.signature}  {t.repro}  (difftest replay {t.repro})")
    for sig in signatures:
        if not any(t.signature == sig and t.status == NEW for t in results):
            path = next(t.repro for t in results if t.signature == sig and t.status == DUPLICATE)
            print(f"  known      {sig}  {path}")
    for t in internal:
        print(f"  INTERNAL ERROR of difftest (not a finding): {t.detail}  ({t.repro})")
    for t in new:
        assert t.repro is not None
        print()
        print(t.repro.with_suffix(".txt").read_text(), end="")
    if internal:
        return EXIT_INTERNAL
    return EXIT_FINDING if signatures else EXIT_CLEAN


def run_merge(args: argparse.Namespace) -> int:
    load(args.impl)
    _params(args)
    corpus, _ = _dirs(args)
    if not corpus.is_dir():
        print(f"difftest: corpus directory {corpus} not found", file=sys.stderr)
        return EXIT_USAGE
    merged = corpus.with_name(corpus.name + ".merging")
    old = corpus.with_name(corpus.name + ".old")
    merged.mkdir(exist_ok=True)
    control = corpus.with_name(corpus.name + ".merge-control")
    cmd = target_command(args) + ["-merge=1", f"-merge_control_file={control}"]
    cmd += [str(merged), str(corpus)]
    n_before = sum(1 for _ in corpus.iterdir())
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    n_merged = sum(1 for _ in merged.iterdir())
    if proc.returncode != 0 or (n_before and not n_merged):
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
        print(
            f"difftest: merge failed ({proc.returncode}), {corpus} left as it was: "
            f"{' '.join(tail)}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    # Swap in the merged corpus; at every instant one complete copy exists.
    shutil.rmtree(old, ignore_errors=True)
    os.replace(corpus, old)
    os.replace(merged, corpus)
    shutil.rmtree(old)
    control.unlink(missing_ok=True)
    n_after = sum(1 for _ in corpus.iterdir())
    print(f"difftest fuzz-merge: {corpus}: {n_before} inputs -> {n_after}")
    return EXIT_CLEAN
