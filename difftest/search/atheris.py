"""Atheris search: libFuzzer on the generic target until the first bug.

Atheris can call ``Fuzz()`` once per process, so each search runs the target
as a subprocess with ``-seed`` and ``-max_total_time``, on an empty corpus in
a temporary directory, and replays the crash artifact it leaves. libFuzzer's
``-seed=0`` means "pick one from the clock", so seed ``s`` runs as ``s + 1``.
"""

from __future__ import annotations

import inspect
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from difftest.check import GenParams
from difftest.fuzz.harness import Harness
from difftest.fuzz.triage import crash_files
from difftest.impls import BUILTIN, load
from difftest.impls.kernel.world import World
from difftest.search import Detection

TARGET = Path(__file__).resolve().parents[2] / "fuzz_targets" / "fuzz_generic.py"
_DIVERGENCE = re.compile(r"^difftest: divergence at execution (\d+)", re.M)


def impl_spec(impl: type[World]) -> str:
    """The ``--impl`` argument that names ``impl`` in a fresh process."""
    for name in BUILTIN:
        if load(name) is impl:
            return name
    return f"{inspect.getsourcefile(impl)}:{impl.__name__}"


def command(impl: type[World], params: GenParams, *, feedback: str) -> list[str]:
    """``feedback`` is ``all``, ``states``, ``pairs`` or ``none`` (line coverage only)."""
    cmd = [sys.executable, str(TARGET), "--impl", impl_spec(impl), "--vendor", params.vendor]
    cmd += ["--vcpus", str(params.vcpus), "--ops", str(params.ops)]
    cmd += ["--ioctls", str(params.ioctls)]
    cmd += ["--no-nested"] * (not params.nested)
    cmd += ["--no-feedback"] if feedback == "none" else ["--feedback", feedback]
    return cmd


def _find(
    impl: type[World], seed: int, max_seconds: float, params: GenParams | None, feedback: str
) -> Detection | None:
    params = params or GenParams()
    with tempfile.TemporaryDirectory(prefix="difftest-atheris-") as tmp:
        corpus, artifacts = Path(tmp, "corpus"), Path(tmp, "artifacts")
        corpus.mkdir()
        artifacts.mkdir()
        cmd = command(impl, params, feedback=feedback) + [
            f"-seed={seed + 1}",
            f"-max_total_time={max(1, math.ceil(max_seconds))}",
            f"-artifact_prefix={artifacts}/",
            str(corpus),
        ]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seconds = time.monotonic() - t0
        crashes = crash_files(artifacts)
        if not crashes:
            if proc.returncode != 0:
                tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
                raise RuntimeError(f"fuzz target failed ({proc.returncode}): {' '.join(tail)}")
            return None
        # Raises DifftestInternalError if the crash was difftest's own.
        result = Harness(impl, params).run(crashes[0].read_bytes())
        if result.first_bug is None:
            return None
        m = _DIVERGENCE.search(proc.stderr.decode(errors="replace"))
        return Detection(result, int(m[1]) if m else 0, seconds)


def find(
    impl: type[World], *, seed: int, max_seconds: float, params: GenParams | None = None
) -> Detection | None:
    """libFuzzer with line coverage and difftest's concurrency feedback."""
    return _find(impl, seed, max_seconds, params, feedback="all")


def find_lines(
    impl: type[World], *, seed: int, max_seconds: float, params: GenParams | None = None
) -> Detection | None:
    """libFuzzer with line coverage alone (the baseline the feedback is judged by)."""
    return _find(impl, seed, max_seconds, params, feedback="none")
