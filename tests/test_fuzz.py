"""The fuzzing front-end: decoding, feedback, crash vs internal error, triage and
deduplication, the ``difftest fuzz`` command, the targets and their build."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from difftest.check import GenParams
from difftest.frontends.cli import main
from difftest.fuzz.decode import decode, run_bytes
from difftest.fuzz.feedback import Feedback
from difftest.fuzz.harness import DifftestInternalError, Divergence, Harness
from difftest.fuzz.seeds import record
from difftest.fuzz.triage import DUPLICATE, INTERNAL, NEW, triage_dir
from difftest.impls import BUILTIN, load
from difftest.repro import load as load_repro

ROOT = Path(__file__).resolve().parent.parent
# The split irqchip: a per-vCPU ExtINT, whose window prepatch loses (lost-window).
TWO_VCPUS = GenParams(vcpus=2, ioctls=1, ops=4, nested=False, irq_source="split")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

BROKEN_PLUGIN = """
from difftest.engine.points import rd
from difftest.impls.final import Final


class Crashes(Final):
    name = "crashes"

    def kvm_arch_vcpu_ioctl_run(self, vcpu, program):
        yield rd("kvm_arch_vcpu_ioctl_run", vcpu.name)
        raise ZeroDivisionError("a bug in the model, not in KVM")
"""


def lost_window_inputs(n: int) -> list[bytes]:
    """Fuzzer inputs on which prepatch loses a window (two vCPUs, no nesting)."""
    impl = load("prepatch")
    out = []
    for seed in range(2000):
        data = record(impl, seed, TWO_VCPUS)
        bug = run_bytes(impl, data, TWO_VCPUS).first_bug
        if bug is not None and bug.signature == "lost-window@quiescence":
            out.append(data)
            if len(out) == n:
                return out
    raise AssertionError("no lost-window input among 2000 random runs")


def test_decoding_is_deterministic_and_total() -> None:
    rnd = random.Random(7)
    impl = load("final")
    for _ in range(200):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 300)))
        a, b = run_bytes(impl, data), run_bytes(impl, data)
        assert a.scenario == b.scenario
        assert a.execution.schedule == b.execution.schedule
        assert a.execution.outcome == "done"
    assert decode(b"")[0].vcpus and decode(b"\xff" * 4096)[0].vcpus


def test_recorded_run_replays_from_its_bytes() -> None:
    impl = load("prepatch")
    data = lost_window_inputs(1)[0]
    r = run_bytes(impl, data, TWO_VCPUS)
    assert r.first_bug is not None and r.first_bug.kind.value == "lost-window"


def test_feedback_does_not_change_the_run_and_ids_are_stable() -> None:
    impl = load("prepatch")
    data = lost_window_inputs(1)[0]
    got: list[list[int]] = []
    for _ in range(2):
        ids: list[int] = []
        r = Harness(impl, TWO_VCPUS, Feedback(ids.append)).run(data)
        assert r.execution.schedule == run_bytes(impl, data, TWO_VCPUS).execution.schedule
        got.append(ids)
    assert got[0] == got[1] and len(set(got[0])) == len(got[0]) > 5
    # Another process with another hash seed numbers the features the same way.
    code = (
        "import sys; from difftest.fuzz.harness import Harness; "
        "from difftest.fuzz.feedback import Feedback; from difftest.impls import load; "
        "from difftest.check import GenParams; ids = []; "
        "Harness(load('prepatch'), GenParams(2, 1, 4, False, irq_source='split'), "
        "Feedback(ids.append))"
        ".run(bytes.fromhex(sys.argv[1])); print(ids)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, data.hex()],
        env={**ENV, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == str(got[0])


def test_feedback_sees_conflicting_pairs_and_states() -> None:
    impl = load("prepatch")
    data = lost_window_inputs(1)[0]
    for states, pairs in ((True, False), (False, True)):
        ids: list[int] = []
        Harness(impl, TWO_VCPUS, Feedback(ids.append, states=states, pairs=pairs)).run(data)
        assert ids
    none: list[int] = []
    Harness(impl, TWO_VCPUS, Feedback(none.append, states=False, pairs=False)).run(data)
    both: list[int] = []
    Harness(impl, TWO_VCPUS, Feedback(both.append)).run(data)
    assert len(both) > len(none)


def test_divergence_message_starts_with_signature() -> None:
    h = Harness(load("prepatch"), TWO_VCPUS)
    with pytest.raises(Divergence) as e:
        h(lost_window_inputs(1)[0])
    assert str(e.value).startswith("lost-window@quiescence: prepatch: ")
    Harness(load("final"), TWO_VCPUS)(lost_window_inputs(1)[0])  # clean: no exception


def test_internal_error_is_not_a_divergence(tmp_path: Path) -> None:
    plugin = tmp_path / "crashes.py"
    plugin.write_text(BROKEN_PLUGIN)
    spec = f"{plugin}:Crashes"
    impl = load(spec)
    with pytest.raises(DifftestInternalError, match="ZeroDivisionError"):
        Harness(impl)(b"\x01\x02")
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "crash-0").write_bytes(b"\x01\x02")
    [t] = triage_dir(impl, spec, artifacts)
    assert t.status == INTERNAL and t.repro is not None
    assert "ZeroDivisionError" in t.repro.read_text()
    assert not list(artifacts.glob("*.json"))
    # The Atheris target reports it as difftest's own error, not a divergence.
    proc = subprocess.run(
        [sys.executable, str(ROOT / "fuzz_targets" / "fuzz_generic.py"), "--impl", spec]
        + ["-runs=5", f"-artifact_prefix={tmp_path}/"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = proc.stdout + proc.stderr  # Atheris prints the exception on stdout
    assert "DifftestInternalError: difftest internal error on crashes" in report
    assert "Divergence" not in report


@pytest.mark.slow
def test_triage_dedups_by_signature_and_resumes(tmp_path: Path) -> None:
    a, b = lost_window_inputs(2)
    (tmp_path / "crash-a").write_bytes(a)
    (tmp_path / "crash-b").write_bytes(b)
    impl = load("prepatch")
    first = triage_dir(impl, "prepatch", tmp_path, TWO_VCPUS, lambda i, r: "table")
    assert [t.status for t in first] == [NEW, DUPLICATE]
    json_files = list(tmp_path.glob("*.json"))
    assert [p.name for p in json_files] == ["prepatch-lost-window@quiescence.json"]
    assert (tmp_path / "prepatch-lost-window@quiescence.txt").read_text() == "table\n"
    repro = load_repro(json_files[0])
    assert repro.finding is not None and repro.finding.kind.value == "lost-window"
    # A rerun (say, after the first was killed) shrinks nothing again.
    again = triage_dir(impl, "prepatch", tmp_path, TWO_VCPUS)
    assert [t.status for t in again] == [DUPLICATE, DUPLICATE]


SHARED_IRQWIN = ("lost-window@quiescence", "warn@svm_set_vintr")


@pytest.mark.slow
def test_short_fuzz_run_finds_prepatch_two_vcpu_irqwin_bug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifacts = tmp_path / "artifacts"
    rc = main(
        ["fuzz", "--impl", "prepatch", "--jobs", "1", "--time", "60", "--seed", "1"]
        + ["--no-nested", "--vcpus", "2", "--progress", "1", "--irq-source", "split"]
        + ["--corpus", str(tmp_path / "corpus"), "--artifacts", str(artifacts)]
    )
    out = capsys.readouterr()
    assert rc == 1, out.err
    assert "fuzz prepatch:" in out.err and "exec/s" in out.err
    # The shared IRQWIN bit shows as a lost window at quiescence or, when the other
    # vCPU clears it between kvm_set_apicv_inhibit() and svm_set_vintr(), as that
    # function's WARN; which comes first depends on libFuzzer's path.
    found = [artifacts / f"prepatch-{sig}.json" for sig in SHARED_IRQWIN]
    found = [p for p in found if p.exists()]
    assert found, out.out
    path = found[0]
    assert len(load_repro(path).scenario.vcpus) == 2
    assert (path.with_suffix(".txt")).read_text().startswith("difftest: prepatch diverges")
    assert list((tmp_path / "corpus").iterdir())  # a rerun resumes from this
    assert main(["replay", str(path)]) == 1
    assert "verdict: reproduced" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fuzz", "--impl", "nope"], "unknown implementation 'nope'"),
        (["fuzz", "--impl", "final", "--jobs", "0"], "--jobs 0: must be between 1 and 256"),
        (["fuzz", "--impl", "final", "--vcpus", "0"], "--vcpus 0: must be between 1 and 64"),
        (["fuzz-merge", "--impl", "final", "--corpus", "/nonexistent/x"], "not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_fuzz_merge_minimises_a_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"in{i}").write_bytes(bytes([i % 3]) * (i % 5))  # many duplicates
    assert main(["fuzz-merge", "--impl", "final", "--corpus", str(corpus)]) == 0
    left = list(corpus.iterdir())
    assert 1 <= len(left) < 30
    assert not (tmp_path / "c.old").exists() and not (tmp_path / "c.merging").exists()


def test_a_target_per_implementation() -> None:
    sys.path.insert(0, str(ROOT / "fuzz_targets"))
    try:
        import make_targets
    finally:
        sys.path.remove(str(ROOT / "fuzz_targets"))
    for impl in BUILTIN:
        text = make_targets.target_text(impl)
        assert f'main(impl="{impl}")' in text
        committed = ROOT / "fuzz_targets" / make_targets.target_file(impl)
        if committed.exists():
            assert committed.read_text() == text


def test_seed_corpora_run_clean() -> None:
    seeds = ROOT / "corpus" / "seeds"
    dirs = sorted(p for p in seeds.iterdir() if p.is_dir())
    assert {"prepatch", "final"} <= {d.name for d in dirs}
    for d in dirs:
        impl = load(d.name)
        files = sorted(d.iterdir())
        assert files
        for f in files:
            assert run_bytes(impl, f.read_bytes()).first_bug is None, f


def test_clusterfuzzlite_build_script_produces_fuzzers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    subprocess.run(
        [str(ROOT / ".clusterfuzzlite" / "build.sh")],
        env={**ENV, "OUT": str(out), "PYTHON": sys.executable},
        check=True,
        capture_output=True,
    )
    for impl in BUILTIN:
        name = "fuzz_" + impl.replace("-", "_")
        assert os.access(out / name, os.X_OK), name
        assert (out / f"{name}_seed_corpus.zip").exists()
    proc = subprocess.run(
        [str(out / "fuzz_final"), "-runs=50", "-seed=1"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "DONE" in proc.stderr


def _perf_input() -> bytes:
    """A fuzzer input on which perf-eager-irqwin shows only a perf finding."""
    h = Harness(load("perf-eager-irqwin"))
    rng = random.Random(5)
    for _ in range(2000):
        data = rng.randbytes(rng.randrange(16, 200))
        r = h.run(data)
        if r.first_bug is None and r.first_failure(perf=True) is not None:
            return data
    raise AssertionError("no input with a perf finding in 2000 tries")


def test_fail_on_perf_makes_a_perf_finding_a_crash(tmp_path: Path) -> None:
    impl = load("perf-eager-irqwin")
    data = _perf_input()
    Harness(impl)(data)  # a perf finding alone is no crash
    with pytest.raises(Divergence, match=r"^irqwin-write-lock@"):
        Harness(impl, perf=True)(data)
    (tmp_path / "crash-p").write_bytes(data)
    [quiet] = triage_dir(impl, "perf-eager-irqwin", tmp_path)
    assert quiet.status == "no-bug" and not list(tmp_path.glob("*.json"))
    [loud] = triage_dir(impl, "perf-eager-irqwin", tmp_path, perf=True)
    assert loud.status == NEW
    repro = load_repro(loud.repro)
    assert repro.finding is not None and repro.finding.kind.value == "irqwin-write-lock"
    # The Atheris target takes the flag and crashes on such an input.
    proc = subprocess.run(
        [sys.executable, str(ROOT / "fuzz_targets" / "fuzz_generic.py")]
        + ["--impl", "perf-eager-irqwin", "--fail-on-perf", str(tmp_path / "crash-p")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Divergence: irqwin-write-lock@" in proc.stdout + proc.stderr
