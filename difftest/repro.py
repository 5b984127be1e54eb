"""The reproducer file: versioned JSON holding everything a replay needs.

``{"format": "difftest-repro", "version": 1, "impl": ..., "scenario": {...},
"schedule": [thread ids], "finding": {...} | null}``. Files are written
atomically and never over another reproducer (``difftest.files``), and read
through a strict schema (``schemas/repro-v1.schema.json``, checked with the
``jsonschema`` library) after caps on size, encoding, nesting and numbers.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jsonschema

from difftest.errors import MAX_DEPTH, MAX_FILE_BYTES, MAX_SCHEDULE, MAX_THREADS, UsageError
from difftest.files import claim_new, write_atomic, write_new
from difftest.model.scenario import Scenario, ScenarioError
from difftest.oracle.findings import Finding

FORMAT = "difftest-repro"
VERSION = 1


class ReproError(UsageError):
    """A reproducer file that cannot be used; the message is one line."""


@dataclass
class Repro:
    impl: str
    scenario: Scenario
    schedule: list[int]
    finding: Finding | None

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "impl": self.impl,
            "scenario": self.scenario.to_json(),
            "schedule": self.schedule,
            "finding": self.finding.to_json() if self.finding else None,
        }


def dumps(r: Repro) -> str:
    """Schedules are long; keep them on one line so the file stays readable."""
    d = r.to_json()
    sched = d.pop("schedule")
    text = json.dumps(d, indent=2, sort_keys=False)
    return text[:-2] + f',\n  "schedule": {json.dumps(sched)}\n}}\n'


def save(path: Path, r: Repro) -> None:
    """Write (or replace) ``path`` atomically."""
    write_atomic(path, dumps(r))


def save_if_new(path: Path, r: Repro) -> bool:
    """Write ``path`` only if no file has that name (atomic against other writers)."""
    return write_new(path, dumps(r))


def save_new(directory: Path, r: Repro, suffix: str = "") -> Path:
    """Save under ``<impl>-<kind>[-suffix][-N].json``, a name not taken yet: nothing
    written earlier, or by a concurrent writer, is replaced."""
    kind = r.finding.kind.value if r.finding else "none"
    stem = f"{Path(r.impl).name.replace(':', '-')}-{kind}" + (f"-{suffix}" if suffix else "")
    names = lambda n: f"{stem}.json" if n == 1 else f"{stem}-{n}.json"  # noqa: E731
    return claim_new(directory, names, dumps(r))


SCHEMA_FILE = "repro-v1.schema.json"
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_INT_DIGITS = 20  # every integer in the schema fits in 7 digits


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    """The reproducer schema (package data), with JSON's integer meaning: ``true``
    and ``1.0`` are not integers (jsonschema's default accepts ``1.0``)."""
    schema = json.loads(resources.files("difftest.schemas").joinpath(SCHEMA_FILE).read_text())
    cls = jsonschema.Draft202012Validator
    checker = cls.TYPE_CHECKER.redefine("integer", lambda _checker, x: type(x) is int)
    return jsonschema.validators.extend(cls, type_checker=checker)(schema)


def _depth(text: str) -> int:
    """Greatest nesting of arrays and objects, strings skipped: checked before the
    parser recurses (Python's parser dies near 1,000 levels)."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    depth = deepest = 0
    for ch in re.sub(r"[^\[\]{}]", "", stripped):
        depth += 1 if ch in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _parse_int(token: str) -> int:
    if len(token.lstrip("-")) > _MAX_INT_DIGITS:
        raise ReproError(f"integer of {len(token)} digits (at most {_MAX_INT_DIGITS})")
    return int(token)


def _parse_float(token: str) -> float:
    x = float(token)
    if not math.isfinite(x):
        raise ReproError(f"number {token[:20]} is out of range")
    return x


def _parse_constant(token: str) -> float:
    raise ReproError(f"{token} is not JSON")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    d = dict(pairs)
    if len(d) != len(pairs):
        dup = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
        raise ReproError(f"key {dup[:40]!r} appears twice in one object")
    return d


def _where(path: Iterable[str | int]) -> str:
    """``scenario.vcpus[0].program`` for the path of a schema error."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return f"{text[1:]}: " if text else ""


def _check_schedule(schedule: object, source: str) -> None:
    """What the schema says of ``schedule`` (a list of at most MAX_SCHEDULE thread
    numbers 0..127, booleans and floats excluded), in linear time."""
    if not isinstance(schedule, list):
        if schedule is None:
            return  # missing: the schema names it
        raise ReproError(f"{source}: schedule: {str(schedule)[:40]!r} is not of type 'array'")
    if len(schedule) > MAX_SCHEDULE:
        raise ReproError(f"{source}: schedule: {len(schedule)} items, at most {MAX_SCHEDULE}")
    for i, t in enumerate(schedule):
        if type(t) is not int:
            raise ReproError(f"{source}: schedule[{i}]: {str(t)[:40]} is not of type 'integer'")
        if not 0 <= t <= MAX_THREADS - 1:
            raise ReproError(f"{source}: schedule[{i}]: thread {t} is outside 0..{MAX_THREADS - 1}")


def _message(error: jsonschema.ValidationError) -> str:
    """The schema's complaint, short: caps are stated, long values are not quoted."""
    if error.validator == "maxItems":
        return f"{len(error.instance)} items, at most {error.validator_value}"  # type: ignore[arg-type]
    if error.validator == "maxLength":
        return f"{len(error.instance)} characters, at most {error.validator_value}"  # type: ignore[arg-type]
    return error.message if len(error.message) < 200 else error.message[:197] + "..."


def loads_bytes(data: bytes, source: str = "<input>") -> Repro:
    """Bytes as read from a file: size, encoding and nesting are checked before parsing."""
    if len(data) > MAX_FILE_BYTES:
        raise ReproError(f"{source}: {len(data):,} bytes, over the cap of {MAX_FILE_BYTES:,}")
    if data.startswith(_GZIP_MAGIC):
        raise ReproError(f"{source}: gzip-compressed; decompress it first (gunzip)")
    if any(b < 0x09 or 0x0E <= b < 0x20 for b in data[:4096]):
        raise ReproError(
            f"{source}: binary data, not a reproducer; "
            "a raw fuzzer input replays with replay --raw --impl NAME"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ReproError(
            f"{source}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "a raw fuzzer input replays with replay --raw --impl NAME"
        ) from None
    return loads(text, source)


def loads(text: str, source: str = "<input>") -> Repro:
    if len(text) > MAX_FILE_BYTES:
        raise ReproError(f"{source}: {len(text):,} characters, over the cap of {MAX_FILE_BYTES:,}")
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise ReproError(f"{source}: nested {depth} deep (at most {MAX_DEPTH})")
    try:
        d = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as e:
        at_end = e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string")
        what = "truncated" if at_end else "malformed"
        raise ReproError(f"{source}: {what} JSON ({e.msg} at line {e.lineno})") from None
    except ReproError as e:
        raise ReproError(f"{source}: {e}") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ReproError(f'{source}: not a difftest reproducer (no "format": "{FORMAT}")')
    version = d.get("version")
    if type(version) is not int or version != VERSION:
        raise ReproError(
            f"{source}: reproducer format version {version!r} is not supported "
            f"(this difftest reads version {VERSION})"
        )
    _check_schedule(d.get("schedule"), source)
    # The schedule is checked above (one pass of plain Python: jsonschema takes ~35 us
    # per item); the schema checks the rest. The first error, in the schema's keyword
    # order, is reported: caps (maxItems) come before the items they cap.
    rest = {**d, "schedule": []} if "schedule" in d else d
    error = next(_validator().iter_errors(rest), None)
    if error is not None:
        raise ReproError(f"{source}: {_where(error.absolute_path)}{_message(error)}")
    try:
        scenario = Scenario.from_json(d["scenario"])
        finding = Finding.from_json(d["finding"]) if d["finding"] is not None else None
    except ScenarioError as e:
        raise ReproError(f"{source}: {e}") from None
    schedule = d["schedule"]
    n = len(scenario.thread_names)
    if any(not 0 <= t < n for t in schedule):
        raise ReproError(f"{source}: schedule names a thread outside 0..{n - 1}")
    return Repro(d["impl"], scenario, schedule, finding)


def load(path: Path) -> Repro:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # bounded memory, whatever the file's size
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the name
        why = getattr(e, "strerror", None) or e
        raise ReproError(f"{str(path).replace(chr(0), '<NUL>')}: cannot read ({why})") from None
    return loads_bytes(data, str(path))
