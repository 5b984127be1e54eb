"""The Atheris entry point every script in ``fuzz_targets/`` calls.

``main(argv, impl=None)`` strips difftest's own options (``--impl``,
``--no-feedback``, ``--vcpus``, ``--ops``, ``--ioctls``, ``--no-nested``,
``--vendor``) and hands the rest to libFuzzer. Atheris is imported here, inside
the function, so the rest of ``difftest.fuzz`` works without it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import sys
import tempfile
from pathlib import Path

from difftest.check import GenParams
from difftest.files import write_atomic
from difftest.fuzz import NOT_INSTRUMENTED
from difftest.fuzz.feedback import DEFAULT_SIZE, Feedback
from difftest.fuzz.harness import Divergence, Harness

# libFuzzer starts with tiny inputs and lengthens them slowly; a run needs a few
# hundred choices before a race shows, so allow full-length inputs at once.
DEFAULT_FLAGS = ("-max_len=512", "-len_control=0")


def split_args(argv: list[str], impl: str | None) -> tuple[argparse.Namespace, list[str]]:
    """difftest's options, and the remaining argv (program name first) for libFuzzer."""
    p = argparse.ArgumentParser(prog=argv[0], add_help=False)
    p.add_argument("--impl", default=impl, required=impl is None)
    p.add_argument("--no-feedback", action="store_true", help="line coverage only")
    p.add_argument(
        "--feedback",
        choices=("all", "states", "pairs"),
        default="all",
        help="which concurrency features to add to line coverage",
    )
    p.add_argument("--vcpus", type=int, default=3)
    p.add_argument("--ops", type=int, default=4)
    p.add_argument("--ioctls", type=int, default=1)
    p.add_argument("--no-nested", action="store_true")
    p.add_argument("--vendor", choices=("svm", "vmx"), default="svm")
    p.add_argument("--irq-source", default="any")
    p.add_argument("--resets", action="store_true", help="userspace resets, INIT and SIPI too")
    p.add_argument("--fail-on-perf", action="store_true", help="a perf finding is a crash")
    ours, rest = p.parse_known_args(argv[1:])
    return ours, [argv[0], *rest]


def _launcher(script: str, ours: argparse.Namespace) -> str:
    """libFuzzer's fork, jobs and merge modes start children as ``argv[0] FLAGS``: give it
    an executable that runs this interpreter on the target with difftest's options.
    Its name is its content's hash, in difftest's cache folder: one file per option
    set, reused by every run, never a new file in the temporary folder per run."""
    opts = ["--impl", ours.impl, "--vcpus", str(ours.vcpus), "--ops", str(ours.ops)]
    opts += ["--ioctls", str(ours.ioctls), "--vendor", ours.vendor, "--feedback", ours.feedback]
    opts += ["--no-feedback"] * ours.no_feedback + ["--no-nested"] * ours.no_nested
    opts += ["--irq-source", ours.irq_source] + ["--resets"] * getattr(ours, "resets", False)
    opts += ["--fail-on-perf"] * getattr(ours, "fail_on_perf", False)
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, os.path.abspath(script), *opts])
    text = f'#!/bin/sh\nexec {cmd} "$@"\n'
    path = launcher_dir() / f"difftest-fuzz-{hashlib.sha1(text.encode()).hexdigest()[:16]}.sh"
    if not path.is_file() or path.read_text() != text:
        write_atomic(path, text)
    os.chmod(path, 0o755)
    return str(path)


def launcher_dir() -> Path:
    """``$XDG_CACHE_HOME/difftest`` (default ``~/.cache/difftest``); if that cannot be
    written, a per-user folder in the temporary folder."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for d in (Path(base) / "difftest", Path(tempfile.gettempdir()) / f"difftest-{os.getuid()}"):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            return d
    raise OSError("no writable folder for the fork-mode launcher")


def _usage(message: str) -> None:
    print(f"difftest: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None, impl: str | None = None) -> None:
    import atheris

    argv = list(sys.argv if argv is None else argv)
    ours, rest = split_args(argv, impl)
    if ours.vcpus < 1 or ours.ops < 1 or ours.ioctls < 0:
        _usage("--vcpus and --ops must be at least 1, --ioctls not negative")
    # Line coverage of the model (the implementation module is imported by load()).
    with atheris.instrument_imports(include=["difftest"], exclude=NOT_INSTRUMENTED):
        from difftest.impls import ImplError, load

        try:
            impl_cls = load(ours.impl)
        except ImplError as e:
            _usage(str(e))
    params = GenParams(
        ours.vcpus,
        ours.ioctls,
        ours.ops,
        not ours.no_nested,
        ours.vendor,
        ours.irq_source,
        ours.resets,
    )
    feedback = None
    if not ours.no_feedback:
        # One libFuzzer counter per feature id, reserved before Fuzz() starts.
        counters = [atheris._reserve_counter() for _ in range(DEFAULT_SIZE)]
        base = counters[0]
        if counters[-1] != base + DEFAULT_SIZE - 1:
            raise RuntimeError("atheris reserved non-contiguous counters")
        # Fuzz() rebinds atheris._trace_branch to the libFuzzer-backed function,
        # so look it up at each call rather than capturing it now.
        feedback = Feedback(
            lambda fid: atheris._trace_branch(base + fid),
            DEFAULT_SIZE,
            states=ours.feedback in ("all", "states"),
            pairs=ours.feedback in ("all", "pairs"),
        )
    harness = Harness(impl_cls, params, feedback, perf=ours.fail_on_perf)

    executions = 0

    def test_one_input(data: bytes) -> None:
        nonlocal executions
        executions += 1
        try:
            harness(data)
        except Divergence:
            print(f"difftest: divergence at execution {executions}", file=sys.stderr)
            raise

    for flag in DEFAULT_FLAGS:
        if not any(a.startswith(flag.split("=")[0] + "=") for a in rest):
            rest.insert(1, flag)
    if any(a.startswith(("-fork=", "-jobs=", "-merge=")) for a in rest):
        rest[0] = _launcher(rest[0], ours)
    atheris.Setup(rest, test_one_input)
    atheris.Fuzz()
