"""The reproducer schema is strict, and hostile files are one-line exit-2 errors:
no coercion, no traceback, no hang, no unbounded memory."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from difftest.errors import EXIT_USAGE
from difftest.frontends.cli import main
from difftest.model.scenario import VCPU_OPS
from difftest.oracle.findings import Kind
from difftest.repro import ReproError, _validator, loads, loads_bytes

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "corpus").glob("*/*.json"))
KNOWN = ROOT / "corpus" / "known" / "prepatch-two-vcpu-window.json"


def _good() -> dict:
    return json.loads(KNOWN.read_text())


def _with(path: str, value: object) -> str:
    d = _good()
    *parents, last = path.split(".")
    node = d
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[int(last) if last.isdigit() else last] = value
    return json.dumps(d)


HOSTILE: dict[str, tuple[bytes, str]] = {
    "finding-0": (_with("finding", 0).encode(), "finding: 0 is not of type"),
    "finding-list": (_with("finding", []).encode(), "finding: [] is not of type"),
    "finding-empty": (_with("finding", {}).encode(), "'kind' is a required property"),
    "step-true": (_with("finding.step", True).encode(), "True is not of type 'integer'"),
    "step-float": (_with("finding.step", 1.5).encode(), "1.5 is not of type 'integer'"),
    "step-float-whole": (_with("finding.step", 3.0).encode(), "3.0 is not of type 'integer'"),
    "guest-if-int": (_with("scenario.vcpus.0.guest_if", 1).encode(), "not of type 'boolean'"),
    "extra-field": (_with("comment", "hi").encode(), "Additional properties"),
    "10000-vcpus": (
        _with("scenario.vcpus", [{"program": []}] * 10_000).encode(),
        "10000 items, at most 64",
    ),
    "non-utf8": (b'{"format": "difftest-repro", "impl": "\xff\xfe"}', "not UTF-8"),
    "gzip": (gzip.compress(KNOWN.read_bytes()), "gzip-compressed"),
    "nesting-1000": (b"[" * 1000 + b"]" * 1000, "nested 1000 deep"),
    "nesting-in-field": (_with("impl", "x").replace('"x"', "[" * 900 + "]" * 900).encode(), "deep"),
    "1e400": (_with("version", 0).replace('"version": 0', '"version": 1e400').encode(), "1e400"),
    "infinity": (b'{"format": "difftest-repro", "version": Infinity}', "Infinity is not JSON"),
    "nan": (b'{"format": "difftest-repro", "version": NaN}', "NaN is not JSON"),
    "huge-int": (
        _with("version", 0).replace('"version": 0', '"version": ' + "9" * 5000).encode(),
        "integer of 5000 digits",
    ),
    "duplicate-key": (
        _with("impl", "final").replace('"impl": "final"', '"impl": "final", "impl": "x"').encode(),
        "appears twice",
    ),
    "exotic-ioctl-digit": (
        _with("scenario.ioctls", [["extint \u00b2"]]).encode(),
        "no such vCPU",
    ),
    "bom": (b"\xef\xbb\xbf" + KNOWN.read_bytes(), "malformed JSON"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_reproducer_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    data, needle = HOSTILE[case]
    f = tmp_path / "r.json"
    f.write_bytes(data)
    assert main(["replay", str(f)]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"difftest: {f}: ") and "\n" not in err and len(err) < 400, err
    assert needle in err, err
    assert f.read_bytes() == data  # nothing a user reads is touched


def test_oversized_file_is_rejected_without_reading_it_all(tmp_path: Path) -> None:
    from difftest.errors import MAX_FILE_BYTES
    from difftest.repro import load

    f = tmp_path / "big.json"
    with open(f, "wb") as out:
        out.truncate(MAX_FILE_BYTES * 4)  # sparse: cheap to make
    with pytest.raises(ReproError, match=f"over the cap of {MAX_FILE_BYTES:,}"):
        load(f)


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_every_shipped_reproducer_still_loads(path: Path) -> None:
    r = loads_bytes(path.read_bytes(), str(path))
    assert r.schedule and r.scenario.vcpus


def test_schema_enums_match_the_model() -> None:
    schema = _validator().schema
    assert schema["$defs"]["vcpu"]["properties"]["program"]["items"]["enum"] == list(VCPU_OPS)
    assert schema["$defs"]["finding"]["properties"]["kind"]["enum"] == [k.value for k in Kind]


def test_leftover_schedule_steps_are_not_reproduced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _good()
    d["schedule"] = d["schedule"] + [0] * 5
    f = tmp_path / "long.json"
    f.write_text(json.dumps(d))
    assert main(["replay", str(f)]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert "reproduced" not in out
    assert "5 recorded steps left over" in err and "\n" not in err.strip()


def test_strict_loader_accepts_what_it_writes() -> None:
    text = KNOWN.read_text()
    assert loads(text).finding is not None
