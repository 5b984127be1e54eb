"""Argument checks shared by every subcommand, run once after parsing and before
any work starts: a bad value is a one-line ``UsageError`` (exit 2), never a
traceback, a hang or a run that silently does nothing.

Checks go by option name (``dest``), so a subcommand that adds ``--time`` or
``--out`` gets them without code of its own; ``LIMITS`` is the one table.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from difftest.errors import (
    MAX_OPS,
    MAX_RUNS,
    MAX_SECONDS,
    MAX_THREADS,
    MAX_VCPUS,
    MAX_WIDTH,
    MIN_WIDTH,
    UsageError,
)

MAX_JOBS = 256
MAX_SHARDS = 100_000
MAX_PREEMPTIONS = 1_000
MAX_PCT_DEPTH = 64
MAX_EXPLORE_VCPUS = 8  # explore canonicalises over vCPU permutations: 8! = 40,320
SEED_RANGE = (-(2**63), 2**63 - 1)
LIBFUZZER_SEED_RANGE = (0, 2**32 - 1)  # libFuzzer parses -seed as an unsigned int

# dest -> (lowest, highest) for integer options.
LIMITS: dict[str, tuple[int, int]] = {
    "runs": (1, MAX_RUNS),
    "vcpus": (1, MAX_VCPUS),
    "ops": (1, MAX_OPS),
    "ioctls": (0, MAX_THREADS),
    "ioctl_len": (1, MAX_OPS),
    "width": (MIN_WIDTH, MAX_WIDTH),
    "jobs": (1, MAX_JOBS),
    "preemptions": (0, MAX_PREEMPTIONS),
    "pct": (1, MAX_RUNS),
    "depth": (1, MAX_PCT_DEPTH),
    "seeds": (1, 100_000),
    "seed": SEED_RANGE,
}
MIN_PROGRESS = 0.1  # seconds between progress lines
SECONDS = ("time", "progress", "budget")  # positive, finite, at most MAX_SECONDS
OUT_DIRS = ("out", "corpus", "artifacts")  # written to: must be (creatable) directories
PER_COMMAND: dict[tuple[str, str], tuple[int, int]] = {
    ("explore", "vcpus"): (1, MAX_EXPLORE_VCPUS),
    ("explore", "ops"): (0, MAX_OPS),
    ("fuzz", "seed"): LIBFUZZER_SEED_RANGE,
}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_int(value: int, dest: str, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise UsageError(f"{_flag(dest)} {_short(value)}: must be between {lo} and {hi}")


def check_seconds(value: float, dest: str) -> None:
    if dest == "progress":
        ok, need = value >= MIN_PROGRESS, f"at least {MIN_PROGRESS}"
    else:
        ok, need = value > 0, "positive"
    if not (ok and math.isfinite(value) and value <= MAX_SECONDS):
        raise UsageError(f"{_flag(dest)} {value}: seconds, {need} and at most {MAX_SECONDS}")


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 80 else f"{text[:20]}...({len(text)} characters)"


def writable_dir(path: Path, dest: str) -> None:
    """``path`` is a directory difftest can write in, or one it can create: checked
    by creating (and removing) a probe file, because root passes every access check."""
    try:
        _writable_dir(path, dest)
    except (OSError, ValueError) as e:  # a name too long, a NUL byte, a loop of links
        why = getattr(e, "strerror", None) or e
        raise UsageError(f"{_flag(dest)} {_short(path)}: {why}") from None


def _writable_dir(path: Path, dest: str) -> None:
    if "\0" in str(path):
        raise ValueError("embedded null byte")
    probe = path
    while not probe.exists():
        if probe.is_symlink():  # dangling symlink
            raise UsageError(f"{_flag(dest)} {path}: {probe} is a dangling symbolic link")
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        what = "is not a directory" if probe == path else f"cannot be created ({probe} is a file)"
        raise UsageError(f"{_flag(dest)} {path}: {what}")
    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".difftest-probe-")
    except OSError as e:
        raise UsageError(f"{_flag(dest)} {path}: not writable ({e.strerror})") from None
    os.close(fd)
    os.unlink(name)


def parse_shard(text: str | None) -> tuple[int, int]:
    """``--shard K/N`` as (K, N) with 1 <= K <= N; None is (1, 1), the whole run."""
    if text is None:
        return (1, 1)
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise UsageError(f"--shard {_short(text)}: must be K/N, e.g. 1/4")
    kk, nn = int(k), int(n)
    if not 1 <= kk <= nn <= MAX_SHARDS:
        raise UsageError(f"--shard {text}: K must be between 1 and N, N at most {MAX_SHARDS}")
    return (kk, nn)


def validate(args: argparse.Namespace) -> None:
    """Every option with a known name; raises ``UsageError`` on the first bad one."""
    cmd = getattr(args, "cmd", "")
    for dest, (lo, hi) in LIMITS.items():
        value = getattr(args, dest, None)
        if isinstance(value, int) and not isinstance(value, bool):
            lo, hi = PER_COMMAND.get((cmd, dest), (lo, hi))
            check_int(value, dest, lo, hi)
    for dest in SECONDS:
        value = getattr(args, dest, None)
        if isinstance(value, float | int) and not isinstance(value, bool):
            check_seconds(float(value), dest)
    vcpus, ioctls = getattr(args, "vcpus", None), getattr(args, "ioctls", None)
    if isinstance(vcpus, int) and isinstance(ioctls, int) and vcpus + ioctls > MAX_THREADS:
        raise UsageError(f"--vcpus plus --ioctls is {vcpus + ioctls}: at most {MAX_THREADS}")
    shard = getattr(args, "shard", None)
    if isinstance(shard, str):
        parse_shard(shard)
    for dest in OUT_DIRS:
        value = getattr(args, dest, None)
        if isinstance(value, Path):
            writable_dir(value, dest)
