"""``check --mutate``: one comparison or boolean of the plugin's change flipped
at a time, each mutant searched with the same budget."""

from __future__ import annotations

from pathlib import Path

from test_change_coverage import NO_GUEST_MODE, UNREACHABLE

from difftest.frontends.cli import main
from difftest.impls import load
from difftest.plugin.mutate import mutants


def _plugin(tmp_path: Path, text: str, cls: str) -> str:
    path = tmp_path / f"{cls.lower()}.py"
    path.write_text(text)
    return f"{path}:{cls}"


def test_mutants_of_the_change(tmp_path: Path) -> None:
    ms = mutants(load(_plugin(tmp_path, NO_GUEST_MODE, "NoGuestModeDec")))
    assert [(m.function, m.line, m.description.split(" in ")[0]) for m in ms] == [
        ("svm_inject_irq", 12, "or for and"),
        ("svm_inject_irq", 12, "drop `not`"),
        ("svm_inject_irq", 13, "True for False"),
    ]
    assert all(m.impl.__mro__[1] is not m.impl for m in ms)


def test_check_mutate_reports_caught_and_not(tmp_path: Path, capsys) -> None:
    spec = _plugin(tmp_path, NO_GUEST_MODE, "NoGuestModeDec")
    # The legacy source, where the change itself is never reached (so its own
    # check is clean) but each mutant of it is caught.
    args = ["check", "--impl", spec, "--runs", "300", "--no-coverage", "--mutate"]
    args += ["--irq-source", "legacy"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "mutants of the change: 3 of 3 caught by the same 300 runs" in out
    spec = _plugin(tmp_path, UNREACHABLE, "Unreachable")
    args = ["check", "--impl", spec, "--runs", "100", "--no-coverage", "--mutate"]
    args += ["--irq-source", "legacy"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    # Running the dead store or not changes nothing: svm_set_vintr sets V_IRQ after it.
    assert "svm_set_vintr:10  or for and in" in out and "-> NOT caught" in out


def test_mutate_needs_a_plugin(capsys) -> None:
    assert main(["check", "--impl", "final", "--runs", "1", "--mutate"]) == 2
    assert "applies to a plugin" in capsys.readouterr().err
