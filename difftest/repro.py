"""The reproducer file: versioned JSON holding everything a replay needs.

``{"format": "difftest-repro", "version": 1, "impl": ..., "scenario": {...},
"schedule": [thread ids], "finding": {...} | null}``. Files are written
atomically (temporary file + rename), so a killed run never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from difftest.model.scenario import Scenario, ScenarioError
from difftest.oracle.findings import Finding

FORMAT = "difftest-repro"
VERSION = 1


class ReproError(ValueError):
    """A reproducer file that cannot be used; the message is one line."""


@dataclass
class Repro:
    impl: str
    scenario: Scenario
    schedule: list[int]
    finding: Finding | None
    # A plugin's file hash when written: replay warns if the file changed since.
    impl_sha256: str | None = None

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {
            "format": FORMAT,
            "version": VERSION,
            "impl": self.impl,
            "scenario": self.scenario.to_json(),
            "schedule": self.schedule,
            "finding": self.finding.to_json() if self.finding else None,
        }
        if self.impl_sha256 is not None:
            d["impl_sha256"] = self.impl_sha256
        return d


def dumps(r: Repro) -> str:
    """Schedules are long; keep them on one line so the file stays readable."""
    d = r.to_json()
    sched = d.pop("schedule")
    text = json.dumps(d, indent=2, sort_keys=False)
    return text[:-2] + f',\n  "schedule": {json.dumps(sched)}\n}}\n'


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(path: Path, r: Repro) -> None:
    write_atomic(path, dumps(r))


def save_new(directory: Path, r: Repro) -> Path:
    """Save under ``<impl>-<kind>[-N].json``, a name not taken yet: nothing
    written earlier is replaced."""
    kind = r.finding.kind.value if r.finding else "none"
    stem = f"{Path(r.impl).name.replace(':', '-')}-{kind}"
    path = directory / f"{stem}.json"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"{stem}-{n}.json"
    save(path, r)
    return path


def loads(text: str, source: str = "<input>") -> Repro:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        at_end = e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string")
        what = "truncated" if at_end else "malformed"
        raise ReproError(f"{source}: {what} JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ReproError(f'{source}: not a difftest reproducer (no "format": "{FORMAT}")')
    version = d.get("version")
    if type(version) is not int or version != VERSION:
        raise ReproError(
            f"{source}: reproducer format version {version!r} is not supported "
            f"(this difftest reads version {VERSION})"
        )
    try:
        impl = d["impl"]
        schedule = d["schedule"]
        if not isinstance(impl, str):
            raise ReproError(f'{source}: "impl" must be a string')
        if not isinstance(schedule, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in schedule
        ):
            raise ReproError(f'{source}: "schedule" must be a list of thread numbers')
        sha = d.get("impl_sha256")
        if sha is not None and not (
            isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)
        ):
            raise ReproError(f'{source}: "impl_sha256" must be 64 hex digits')
        scenario = Scenario.from_json(d["scenario"])
        finding = Finding.from_json(d["finding"]) if d.get("finding") else None
    except KeyError as e:
        raise ReproError(f"{source}: missing field {e.args[0]!r}") from None
    except ScenarioError as e:
        raise ReproError(f"{source}: {e}") from None
    except (ValueError, TypeError) as e:
        raise ReproError(f"{source}: bad finding record ({e})") from None
    n = len(scenario.thread_names)
    if any(not 0 <= t < n for t in schedule):
        raise ReproError(f"{source}: schedule names a thread outside 0..{n - 1}")
    return Repro(impl, scenario, schedule, finding, sha)


def load(path: Path) -> Repro:
    try:
        text = path.read_text()
    except OSError as e:
        raise ReproError(f"{path}: cannot read ({e.strerror})") from None
    return loads(text, str(path))
