"""The command line: exit statuses, reproducers, one-line errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from difftest.frontends.cli import main

ROOT = Path(__file__).resolve().parent.parent
KNOWN = sorted((ROOT / "corpus" / "known").glob("*.json"))


def test_check_clean_version_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # On VMX, where final has no finding of any severity: on SVM its stale window (a
    # latency finding, README "Findings") shows up in 200 runs of the split irqchip
    # since the TPR operations joined the alphabet.
    argv = ["check", "--impl", "final", "--runs", "200", "--irq-source", "split", "--vendor", "vmx"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "findings: none" in out
    assert not list(tmp_path.iterdir())


def test_check_latency_findings_do_not_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the in-kernel PIC, final keeps a withdrawn ExtINT's window counted: a
    latency finding, listed and saved, exit 0."""
    argv = ["check", "--impl", "final", "--runs", "200", "--irq-source", "pic"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "stale-window       latency" in out
    assert " bug " not in out
    assert [p.name for p in tmp_path.glob("*.json")] == ["final-stale-window.json"]


def test_check_broken_version_exits_1_and_writes_replayable_repro(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The legacy source draws the runs it always drew: the first bug is the missed
    # intercept (on the wider sources the first is often the missing VM-wide IRQWIN).
    args = ["--runs", "300", "--irq-source", "legacy", "--out", str(tmp_path)]
    rc = main(["check", "--impl", "broken-per-vcpu-irqwin", *args])
    assert rc == 1
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    assert "missed-intercept" in files[0].name
    capsys.readouterr()
    assert main(["replay", str(files[0])]) == 1
    out = capsys.readouterr().out
    assert "verdict: reproduced" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_check_never_overwrites_a_reproducer(tmp_path: Path) -> None:
    args = ["check", "--impl", "prepatch", "--runs", "300", "--out", str(tmp_path), "--no-shrink"]
    assert main(args) == 1
    first = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert main(args) == 1
    after = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert len(after) == 2 * len(first)
    for name, text in first.items():
        assert after[name] == text


@pytest.mark.parametrize("path", KNOWN, ids=[p.stem for p in KNOWN])
def test_known_findings_still_reproduce(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["replay", str(path)])
    assert "verdict: reproduced" in capsys.readouterr().out


def test_final_fixes_sean_interleaving(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "corpus" / "known" / "prepatch-two-vcpu-window.json"
    assert main(["replay", str(path), "--impl", "final"]) == 0
    assert "verdict: changed (recorded lost-window, now none)" in capsys.readouterr().out


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("difftest: ")
    assert "Traceback" not in err
    return err


def test_unknown_implementation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--impl", "nosuch", "--runs", "1"]) == 2
    assert "unknown implementation 'nosuch'" in _one_line_error(capsys)


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"format": "difftest-repro", "version": 1, "impl": "fin', "truncated"),
        ("not json at all", "malformed"),
        ('{"format": "something-else", "version": 1}', "not a difftest reproducer"),
        ('{"format": "difftest-repro", "version": 0}', "version 0 is not supported"),
    ],
)
def test_bad_reproducers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, words: str
) -> None:
    f = tmp_path / "r.json"
    f.write_text(content)
    assert main(["replay", str(f)]) == 2
    assert words in _one_line_error(capsys)
    assert f.read_text() == content  # nothing already written is touched


def test_reproducer_with_unknown_operation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = json.loads(KNOWN[0].read_text())
    d["scenario"]["vcpus"][0]["program"] = ["teleport"]
    f = tmp_path / "r.json"
    f.write_text(json.dumps(d))
    assert main(["replay", str(f)]) == 2
    assert "'teleport' is not one of" in _one_line_error(capsys)


@pytest.mark.slow
def test_plugin_from_file(tmp_path: Path) -> None:
    example = ROOT / "examples" / "my_variant.py"
    args = ["check", "--impl", f"{example}:NoFlagClear", "--runs", "500", "--out", str(tmp_path)]
    assert main(args) == 1
    assert list(tmp_path.glob("*counter*.json"))


def test_list_names_every_builtin_with_a_description(capsys) -> None:
    from difftest.impls import BUILTIN

    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == list(BUILTIN)
    assert all(len(ln.split()) > 2 and len(ln) <= 100 for ln in lines)
