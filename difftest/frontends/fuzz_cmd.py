"""``difftest fuzz`` and ``difftest fuzz-merge``: libFuzzer through the Atheris
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
from dataclasses import dataclass
from pathlib import Path

from difftest.check import GenParams
from difftest.frontends import output
from difftest.frontends.cli import EXIT_CLEAN, EXIT_FINDING, EXIT_USAGE, _report
from difftest.frontends.progress import Progress as Bar
from difftest.frontends.progress import Status
from difftest.fuzz.harness import DifftestInternalError, Harness
from difftest.fuzz.triage import DUPLICATE, INTERNAL, NEW, Triaged, slug, triage_dir
from difftest.impls import load
from difftest.model.scenario import ScenarioError
from difftest.repro import load as load_repro

EXIT_INTERNAL = 3  # difftest itself failed on some input: not a finding

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "fuzz_targets" / "fuzz_generic.py"
SEEDS = ROOT / "corpus" / "seeds"


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
    output.add_json_flag(f)
    f.set_defaults(run=run_fuzz)

    m = sub.add_parser("fuzz-merge", help="minimise a fuzzing corpus (libFuzzer -merge=1)")
    _common(m)
    m.set_defaults(run=run_merge)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--impl", required=True, help="built-in name or FILE.py:NAME")
    p.add_argument("--corpus", type=Path, default=None, help="default fuzz-corpus/IMPL")
    p.add_argument("--vcpus", type=int, default=3, help="at most this many vCPUs")
    p.add_argument("--ioctls", type=int, default=1)
    p.add_argument("--ops", type=int, default=4, help="at most this many operations per thread")
    p.add_argument("--no-nested", action="store_true")
    p.add_argument("--vendor", choices=("svm", "vmx"), default="svm")


def _params(args: argparse.Namespace) -> GenParams:
    if args.vcpus < 1 or args.ops < 1:
        raise ScenarioError("--vcpus and --ops must be at least 1")
    if args.ioctls < 0:
        raise ScenarioError("--ioctls must not be negative")
    return GenParams(args.vcpus, args.ioctls, args.ops, not args.no_nested, args.vendor)


def target_command(args: argparse.Namespace, *, feedback: str = "all") -> list[str]:
    """The Atheris target with difftest's options; libFuzzer flags follow.
    ``feedback`` is all, states, pairs or none."""
    cmd = [sys.executable, str(TARGET), "--impl", args.impl, "--vendor", args.vendor]
    cmd += ["--vcpus", str(args.vcpus), "--ops", str(args.ops), "--ioctls", str(args.ioctls)]
    cmd += ["--no-nested"] * args.no_nested
    cmd += ["--no-feedback"] if feedback == "none" else ["--feedback", feedback]
    return cmd


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


_PLAIN = re.compile(r"^#(\d+)\s+\w+\s.*?corp: (\d+)/.*?exec/s: (\d+)")
_FORK = re.compile(r"^#(\d+): cov: \d+ ft: \d+ corp: (\d+) exec/s:? (\d+)")


def parse_line(line: str, p: Progress) -> None:
    m = _PLAIN.match(line) or _FORK.match(line)
    if m:
        p.execs, p.corpus, p.exec_s = int(m[1]), int(m[2]), int(m[3])


def _pump(stream, log, p: Progress) -> None:  # type: ignore[no-untyped-def]
    for raw in stream:
        line = raw.decode(errors="replace")
        log.write(line)
        parse_line(line, p)
    log.flush()


def _need_target() -> None:
    if not TARGET.is_file():
        raise ScenarioError(f"{TARGET} not found: difftest fuzz runs from a source checkout")


def run_fuzz(args: argparse.Namespace) -> int:
    _need_target()
    impl = load(args.impl)
    params = _params(args)
    if args.jobs < 1:
        raise ScenarioError("--jobs must be at least 1")
    if args.time is not None and args.time <= 0:
        raise ScenarioError("--time must be positive")
    corpus, artifacts = _dirs(args)
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
    tally = _Tally(Harness(impl, params), before)
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
    if proc.returncode not in (0, 1, 77, -signal.SIGINT, 130) and not interrupted:
        print(
            f"difftest: libFuzzer exited with status {proc.returncode}; "
            f"see {artifacts / 'libfuzzer.log'}",
            file=sys.stderr,
        )
    with Bar("triage", unit="crash inputs") as tp:
        results = triage_dir(
            impl,
            args.impl,
            artifacts,
            params,
            lambda i, r: _report(i, r, args.width),
            progress=lambda done, total: tp.update(done),
        )
    _document(args, results, before)
    return _summary(results, before, args.width)


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
                bug = self.harness.run(c.read_bytes()).first_bug
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


def _summary(results: list[Triaged], before: set[str], width: int) -> int:
    new = [t for t in results if t.status == NEW]
    internal = [t for t in results if t.status == INTERNAL]
    signatures = sorted({t.signature for t in results if t.signature})
    fresh = [t for t in results if t.crash.name not in before]
    print(f"difftest fuzz: {len(fresh)} new crash inputs, {len(signatures)} distinct findings")
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
    _need_target()
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
