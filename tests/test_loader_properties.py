"""Property tests of everything difftest reads from a user: every byte string is
either a valid reproducer, fuzz input or plugin spec, or a one-line usage error
(exit 2). Never a traceback, another exception or another exit status."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from difftest.errors import UsageError
from difftest.frontends.cli import main
from difftest.fuzz.harness import Harness
from difftest.impls import ImplError, load
from difftest.repro import Repro, ReproError, loads_bytes

ROOT = Path(__file__).resolve().parent.parent
VALID = [p.read_bytes() for p in sorted((ROOT / "corpus").glob("*/*.json"))]
CHEAP = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _one_line(e: BaseException) -> None:
    assert isinstance(e, UsageError), repr(e)
    msg = str(e)
    assert msg and "\n" not in msg and len(msg) < 2000, msg


def _load(data: bytes) -> Repro | None:
    try:
        return loads_bytes(data, "f")
    except ReproError as e:
        _one_line(e)
        return None


@CHEAP
@given(st.binary(max_size=2000))
def test_any_bytes_are_a_reproducer_or_one_line_error(data: bytes) -> None:
    _load(data)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)


def _mutate(d: object, rnd: random.Random, value: object) -> object:
    """Replace, delete or add one node of ``d`` at a random place."""
    if isinstance(d, dict) and d and rnd.random() < 0.7:
        key = rnd.choice(sorted(d))
        op = rnd.randrange(3)
        if op == 0:
            return {k: v for k, v in d.items() if k != key}
        if op == 1:
            return {**d, key: _mutate(d[key], rnd, value)}
        return {**d, rnd.choice(["x", key + "_", "schedule", "finding"]): value}
    if isinstance(d, list) and d and rnd.random() < 0.7:
        i = rnd.randrange(len(d))
        return d[:i] + [_mutate(d[i], rnd, value)] + d[i + 1 :]
    return value


@CHEAP
@given(st.sampled_from(VALID), st.randoms(use_true_random=False), JSON)
def test_mutated_reproducers_are_valid_or_one_line_errors(
    text: bytes, rnd: random.Random, value: object
) -> None:
    mutated = json.dumps(_mutate(json.loads(text), rnd, value)).encode()
    r = _load(mutated)
    if r is not None:  # what loads has the documented shape
        assert isinstance(r.impl, str) and all(type(t) is int for t in r.schedule)
        assert r.finding is None or type(r.finding.step) is int


@CHEAP
@given(st.sampled_from(VALID), st.integers(0, 10_000), st.binary(min_size=1, max_size=8))
def test_byte_edits_of_reproducers_are_valid_or_one_line_errors(
    text: bytes, at: int, junk: bytes
) -> None:
    at %= len(text)
    _load(text[:at] + junk + text[at + len(junk) :])
    _load(text[:at])  # truncated anywhere


@settings(CHEAP, max_examples=40)
@given(st.sampled_from(VALID), st.randoms(use_true_random=False), JSON)
def test_replay_of_any_mutated_file_exits_0_1_or_2_with_one_line(
    tmp_path: Path, text: bytes, rnd: random.Random, value: object
) -> None:
    f = tmp_path / "r.json"
    f.write_bytes(json.dumps(_mutate(json.loads(text), rnd, value)).encode())
    with pytest.MonkeyPatch.context() as m:
        m.setattr("difftest.frontends.cli.print", lambda *a, **k: None, raising=False)
        rc = main(["replay", str(f), "--impl", "final"])
    assert rc in (0, 1, 2)


FINAL = Harness(load("final"))
PREPATCH = Harness(load("prepatch"))


@CHEAP
@given(st.binary(max_size=600))
def test_any_bytes_are_a_fuzz_input(data: bytes) -> None:
    """Corpus seeds and crash inputs: every byte string decodes to a run."""
    for h in (FINAL, PREPATCH):
        r = h.run(data)
        assert r.execution.steps > 0
    if FINAL.run(data).first_bug is not None:  # final is correct: no false alarm
        raise AssertionError(f"final shows a bug on {data!r}")


SPEC_CHARS = string.printable + "\x00\u00e9\u2603/:."


@CHEAP
@given(
    st.one_of(
        st.text(SPEC_CHARS, max_size=40),
        st.builds(lambda a, b: f"{a}.py:{b}", st.text(SPEC_CHARS, max_size=300), st.text()),
        st.builds(lambda n: "x" * n + ".py:C", st.integers(0, 5000)),
        st.sampled_from(["", ":", ".py:", "/:X", "/dev/null:X", "/proc/self/mem:X", "..:X"]),
    )
)
def test_any_plugin_spec_loads_or_is_one_line_error(spec: str) -> None:
    try:
        cls = load(spec)
    except ImplError as e:
        _one_line(e)
    else:  # only the shipped names load here: no plugin file exists under these names
        assert cls.__module__.startswith("difftest.impls")
