"""How fast, and in how much memory, bad input is refused (exit 2, one line).

    python -m benchmarks.bad_input [--repeat K]

Each case runs ``difftest ...`` in a fresh process; the figures are the median
wall time over K runs and the child's peak resident memory (``wait4``). The
first row, ``difftest list``, is the start-up cost every command pays.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KNOWN = ROOT / "corpus" / "known" / "prepatch-two-vcpu-window.json"


def _files(d: Path) -> dict[str, Path]:
    good = json.loads(KNOWN.read_text())
    cases: dict[str, bytes] = {
        "nested 1,000,000 deep": b"[" * 1_000_000 + b"]" * 1_000_000,
        "integer of 1,000,000 digits": b'{"format": "difftest-repro", "version": '
        + b"9" * 1_000_000
        + b"}",
        "4 MiB + 1 of spaces": b" " * (4 * 1024 * 1024 + 1),
        "10,000 vCPUs": json.dumps(
            {**good, "scenario": {"vcpus": [{"program": []}] * 10_000}}
        ).encode(),
        "schedule of 2,000,000 steps": json.dumps({**good, "schedule": [0] * 2_000_000}).encode(),
        "1e400": KNOWN.read_bytes().replace(b'"version": 1', b'"version": 1e400'),
        "non-UTF-8": b'{"impl": "\xff"}',
    }
    out = {}
    for name, data in cases.items():
        p = d / (name.replace(" ", "_").replace(",", "") + ".json")
        p.write_bytes(data)
        out[name] = p
    return out


def measure(argv: list[str], repeat: int) -> tuple[float, float, int, str]:
    """Median seconds, peak RSS in MiB, exit status and the last stderr line."""
    times, rss, rc, last = [], 0, 0, ""
    for _ in range(repeat):
        start = time.perf_counter()
        p = subprocess.Popen(
            [sys.executable, "-m", "difftest.frontends.cli", *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        err = p.stderr.read() if p.stderr else b""
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        times.append(time.perf_counter() - start)
        rss = max(rss, usage.ru_maxrss)
        rc = p.returncode
        lines = err.decode(errors="replace").strip().splitlines()
        last = lines[-1] if lines else ""
        assert len(lines) <= 1 or argv[0] == "list", lines
    return statistics.median(times), rss / 1024, rc, last


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("difftest list (start-up)", ["list"])]
        rows += [(name, ["replay", str(p)]) for name, p in _files(Path(tmp)).items()]
        rows += [
            ("check --vcpus 10000", ["check", "--impl", "final", "--vcpus", "10000"]),
            ("check --runs 0", ["check", "--impl", "final", "--runs", "0"]),
            ("explore --vcpus 9 --time 5", ["explore", "--impl", "final", "--vcpus", "9"]),
            ("fuzz --seed 2**70", ["fuzz", "--impl", "final", "--seed", str(2**70)]),
        ]
        print(f"{'input':32s} {'exit':>4s} {'median s':>9s} {'peak MiB':>9s}  message")
        for name, argv in rows:
            sec, mib, rc, last = measure(argv, a.repeat)
            print(f"{name:32s} {rc:4d} {sec:9.3f} {mib:9.1f}  {last[:70]}")


if __name__ == "__main__":
    main()
