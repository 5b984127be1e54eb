"""The reproducer file: round trip, replay, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import FOUR_THREADS, NESTED_LEAK, SEAN, search

from difftest.impls import load
from difftest.oracle.findings import Kind
from difftest.repro import FORMAT, VERSION, Repro, ReproError, dumps, loads, save
from difftest.repro import load as load_repro
from difftest.runner import run
from difftest.schedulers import ReplayScheduler


@pytest.fixture(scope="module")
def sean_repro() -> Repro:
    r = search("prepatch", SEAN, Kind.LOST_WINDOW)
    assert r is not None
    return Repro("prepatch", r.scenario, r.execution.schedule, r.first_bug)


def test_round_trip(tmp_path: Path, sean_repro: Repro):
    path = tmp_path / "sub" / "sean.json"
    save(path, sean_repro)
    back = load_repro(path)
    assert back == sean_repro
    assert back.scenario == SEAN
    # No temporary file is left behind by the atomic write.
    assert [p.name for p in path.parent.iterdir()] == ["sean.json"]
    d = json.loads(path.read_text())
    assert d["format"] == FORMAT and d["version"] == VERSION
    # The long schedule stays on one line.
    assert sum('"schedule"' in line for line in path.read_text().splitlines()) == 1


def test_round_trip_without_finding(tmp_path: Path):
    rep = Repro("final", FOUR_THREADS, [0, 1, 2, 3], None)
    path = tmp_path / "x.json"
    save(path, rep)
    assert load_repro(path) == rep
    assert loads(dumps(rep)) == rep


def test_saved_repro_replays_its_finding(tmp_path: Path, sean_repro: Repro):
    path = tmp_path / "r.json"
    save(path, sean_repro)
    rep = load_repro(path)
    r = run(load(rep.impl), rep.scenario, ReplayScheduler(rep.schedule))
    assert r.first_bug == rep.finding
    assert r.execution.schedule == rep.schedule


def test_replay_on_fixed_version_is_clean(sean_repro: Repro):
    sched = ReplayScheduler(sean_repro.schedule, strict=False)
    r = run(load("final"), sean_repro.scenario, sched)
    assert r.first_bug is None


def test_overwrite_is_atomic(tmp_path: Path, sean_repro: Repro):
    path = tmp_path / "r.json"
    path.write_text("garbage")
    save(path, sean_repro)
    assert load_repro(path) == sean_repro


def _good_text() -> str:
    r = search("prepatch", NESTED_LEAK, Kind.STUCK_INHIBIT)
    return dumps(Repro("prepatch", r.scenario, r.execution.schedule, r.first_bug))


def _edit(**changes) -> str:
    d = json.loads(_good_text())
    for k, v in changes.items():
        if v is KeyError:
            del d[k]
        else:
            d[k] = v
    return json.dumps(d)


BAD = {
    "truncated": (lambda: _good_text()[:60], "truncated"),
    "truncated-in-string": (lambda: _good_text()[:20], "truncated"),
    "empty": (lambda: "", "truncated"),
    "not-json": (lambda: "this is not json\n", "malformed"),
    "garbage-middle": (lambda: _good_text().replace(":", " ", 1), "malformed"),
    "json-list": (lambda: "[1, 2, 3]", "not a difftest reproducer"),
    "wrong-format": (lambda: _edit(format="something-else"), "not a difftest reproducer"),
    "no-format": (lambda: _edit(format=KeyError), "not a difftest reproducer"),
    "version-99": (lambda: _edit(version=99), "version 99"),
    "version-missing": (lambda: _edit(version=KeyError), "version None"),
    "version-string": (lambda: _edit(version="1"), "version '1'"),
    "no-impl": (lambda: _edit(impl=KeyError), "'impl' is a required property"),
    "impl-int": (lambda: _edit(impl=3), "impl: 3 is not of type 'string'"),
    "no-schedule": (lambda: _edit(schedule=KeyError), "'schedule' is a required property"),
    "schedule-str": (lambda: _edit(schedule="0,0"), "schedule: '0,0' is not of type 'array'"),
    "schedule-bool": (lambda: _edit(schedule=[True, False]), "is not of type 'integer'"),
    "schedule-float": (lambda: _edit(schedule=[0.0]), "schedule[0]: 0.0 is not of type 'integer'"),
    "schedule-out-of-range": (lambda: _edit(schedule=[0, 0, 1]), "outside 0..0"),
    "schedule-negative": (
        lambda: _edit(schedule=[-1]),
        "schedule[0]: thread -1 is outside 0..127",
    ),
    "no-scenario": (lambda: _edit(scenario=KeyError), "'scenario' is a required property"),
    "scenario-list": (lambda: _edit(scenario=[]), "scenario: [] is not of type 'object'"),
    "scenario-no-vcpus": (
        lambda: _edit(scenario={"ioctls": []}),
        "scenario: 'vcpus' is a required property",
    ),
    "scenario-zero-vcpus": (
        lambda: _edit(scenario={"vcpus": []}),
        "scenario.vcpus: [] should be non-empty",
    ),
    "scenario-bad-op": (
        lambda: _edit(scenario={"vcpus": [{"program": ["jump"]}]}),
        "scenario.vcpus[0].program[0]: 'jump' is not one of",
    ),
    "scenario-program-str": (
        lambda: _edit(scenario={"vcpus": [{"program": "run"}]}),
        "scenario.vcpus[0].program: 'run' is not of type 'array'",
    ),
    "scenario-bad-ioctl": (
        lambda: _edit(scenario={"vcpus": [{"program": []}], "ioctls": [["set ABSENT"]]}),
        "cannot set ABSENT",
    ),
    "scenario-bad-vendor": (
        lambda: _edit(scenario={"vcpus": [{"program": []}], "vendor": "arm"}),
        "scenario.vendor: 'arm' is not one of",
    ),
    "bad-finding-kind": (
        lambda: _edit(
            finding={"kind": "nope", "message": "", "step": 0, "thread": "-", "where": "x"}
        ),
        "finding.kind: 'nope' is not one of",
    ),
    "finding-missing-field": (
        lambda: _edit(finding={"kind": "warn"}),
        "finding: 'message' is a required property",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_load_errors_are_one_line(tmp_path: Path, case: str):
    make, needle = BAD[case]
    path = tmp_path / "bad.json"
    path.write_text(make())
    with pytest.raises(ReproError) as ei:
        load_repro(path)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(str(path) + ": ")
    assert needle in msg, msg


def test_loads_default_source_name():
    with pytest.raises(ReproError, match=r"^<input>: "):
        loads("{")


def test_missing_file(tmp_path: Path):
    with pytest.raises(ReproError) as ei:
        load_repro(tmp_path / "nope.json")
    assert "cannot read" in str(ei.value) and "\n" not in str(ei.value)


def test_directory_is_not_a_file(tmp_path: Path):
    with pytest.raises(ReproError) as ei:
        load_repro(tmp_path)
    assert "\n" not in str(ei.value)


def test_repro_error_is_value_error():
    assert issubclass(ReproError, ValueError)


# -- strict typing of reproducer fields ---------------------------------------------------


def _base(**changes) -> str:
    d = {
        "format": FORMAT,
        "version": VERSION,
        "impl": "final",
        "scenario": {"vcpus": [{"program": []}]},
        "schedule": [],
        "finding": None,
    }
    d.update(changes)
    return json.dumps(d)


def test_bad_extint_blames_scenario():
    with pytest.raises(ReproError) as ei:
        loads(_base(scenario={"vcpus": [{"program": []}], "extint": ["a"]}))
    assert "finding" not in str(ei.value)


def test_version_true_rejected():
    with pytest.raises(ReproError):
        loads(_base(version=True))


def test_guest_if_string_rejected():
    with pytest.raises(ReproError):
        loads(_base(scenario={"vcpus": [{"program": [], "guest_if": "false"}]}))
