"""Crash triage: libFuzzer's ``crash-*`` files -> one minimal reproducer per
distinct finding.

Each crash input is replayed (cheap), its first bug's signature (kind + where)
decides whether it is new, and only a new one is shrunk and written as
``<impl>-<signature>.json`` plus the interleaving table ``.txt``. The JSON is
written last and atomically, and its existence marks the signature as done, so
a run killed at any point is completed by the next, never duplicated. Inputs on
which difftest itself fails are reported as internal errors, never as findings.
"""

from __future__ import annotations

import hashlib
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from difftest.check import GenParams
from difftest.errors import MAX_FILE_BYTES, UsageError
from difftest.files import write_atomic
from difftest.fuzz.harness import DifftestInternalError, Harness
from difftest.impls import plugin_sha256, spec_of
from difftest.impls.kernel.world import World
from difftest.repro import Repro, save_if_new
from difftest.runner import Result
from difftest.shrink import shrink

Render = Callable[[type[World], Result], str]

NEW, DUPLICATE, INTERNAL, NO_BUG = "new", "duplicate", "internal-error", "no-bug"


@dataclass
class Triaged:
    crash: Path
    status: str  # NEW, DUPLICATE, INTERNAL or NO_BUG
    signature: str | None = None
    repro: Path | None = None
    detail: str = ""


def slug(text: str) -> str:
    """A file-name-safe form of an implementation name or signature."""
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", text).strip("_") or "x"


def repro_path(artifacts: Path, impl_spec: str, signature: str) -> Path:
    return artifacts / f"{slug(Path(impl_spec).name)}-{slug(signature)}.json"


def crash_files(artifacts: Path) -> list[Path]:
    """libFuzzer's crash artifacts, in name order (determinism)."""
    if not artifacts.is_dir():
        return []
    return sorted(p for p in artifacts.iterdir() if p.name.startswith("crash-") and p.is_file())


def triage_one(
    impl: type[World],
    impl_spec: str,
    crash: Path,
    artifacts: Path,
    params: GenParams | None = None,
    render: Render | None = None,
    perf: bool = False,
) -> Triaged:
    with open(crash, "rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{crash}: over the cap of {MAX_FILE_BYTES:,} bytes for a fuzzer input")
    try:
        r = Harness(impl, params).run(data)
    except DifftestInternalError as e:
        report = artifacts / f"internal-error-{hashlib.sha1(data).hexdigest()[:16]}.txt"
        if not report.exists():
            text = "".join(traceback.format_exception(e.__cause__ or e))
            write_atomic(report, f"{e}\ninput: {crash}\n\n{text}")
        return Triaged(crash, INTERNAL, repro=report, detail=str(e))
    f = r.first_failure(perf)
    if f is None:
        return Triaged(crash, NO_BUG, detail="replays without a bug finding")
    path = repro_path(artifacts, impl_spec, f.signature)
    if path.exists():
        return Triaged(crash, DUPLICATE, f.signature, path)
    small = shrink(impl, r)
    bug = small.first_failure(perf)
    assert bug is not None  # shrink keeps the kind of the first failing finding
    if render is not None:
        write_atomic(path.with_suffix(".txt"), render(impl, small) + "\n")
    # Claimed atomically: a concurrent triage of the same signature keeps its file.
    spec = spec_of(impl)  # resolves from any folder
    repro = Repro(spec, small.scenario, small.execution.schedule, bug, plugin_sha256(spec))
    if not save_if_new(path, repro):
        return Triaged(crash, DUPLICATE, f.signature, path)
    return Triaged(crash, NEW, f.signature, path, bug.message)


# What a folder of crash inputs also holds that is not one: difftest's own outputs.
_NOT_INPUTS = (".json", ".txt", ".log", ".sh", ".zip", ".options")


def raw_inputs(path: Path) -> list[Path]:
    """A raw fuzzer input, or every one in a folder (libFuzzer's ``crash-*``,
    ClusterFuzzLite's and OSS-Fuzz's test cases), in name order."""
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(_NOT_INPUTS)
    )


def triage_dir(
    impl: type[World],
    impl_spec: str,
    artifacts: Path,
    params: GenParams | None = None,
    render: Render | None = None,
    progress: Callable[[int, int], None] | None = None,
    perf: bool = False,
) -> list[Triaged]:
    """Triage every crash file in ``artifacts``; the results in file order.
    ``progress(done, total)`` is called after each file."""
    crashes = crash_files(artifacts)
    out = []
    for i, c in enumerate(crashes):
        out.append(triage_one(impl, impl_spec, c, artifacts, params, render, perf))
        if progress is not None:
            progress(i + 1, len(crashes))
    return out
