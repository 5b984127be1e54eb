"""Every line replay, check and explore print fits the chosen width, and no
kernel name is cut (a prefix of a name standing where the name should be)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from difftest.frontends.cli import main
from difftest.impls import BUILTIN, load
from difftest.model.scenario import Scenario, VcpuSpec
from difftest.report.table import MODEL_HELPERS, kernel_name, render_report
from difftest.runner import run
from difftest.schedulers import RandomScheduler

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted(p.relative_to(ROOT) for p in (ROOT / "corpus").glob("*/*.json"))
WIDTHS = (60, 72, 80, 100)


def _kernel_names() -> set[str]:
    names: set[str] = set()
    for name in BUILTIN:
        for attr, _fn in inspect.getmembers(load(name), inspect.isfunction):
            if not attr.startswith("__"):
                names.add(kernel_name(attr))
                names.add(kernel_name(attr, "vmx"))
    # state fields printed in the tables (v0.irq_window=1, apicv_inhibit_reasons)
    s = Scenario(vcpus=(VcpuSpec(("run",)),))
    w = load("final")(s)
    names.update(k.split(".")[-1] for k in w.snapshot())
    for obj in (w.vm, w.vm.vcpus[0]):
        names.update(getattr(type(obj), "__slots__", ()) or vars(obj))
    return names


NAMES = _kernel_names()
_IDENT = re.compile(r"[A-Za-z0-9]*_[A-Za-z0-9_]+")


def cut_names(text: str) -> set[str]:
    """Identifiers that are a strict prefix of a kernel name but no name themselves."""
    out = set()
    for tok in set(_IDENT.findall(text)):
        if tok in NAMES:
            continue
        if any(n.startswith(tok) and len(n) > len(tok) for n in NAMES):
            out.add(tok)
    return out


def assert_fits(text: str, width: int) -> None:
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, f"{len(long)} lines over {width}: {long[:3]}"
    trailing = [line for line in text.splitlines() if line != line.rstrip()]
    assert not trailing, trailing[:3]
    assert not cut_names(text), cut_names(text)


def test_the_detector_sees_a_cut_name() -> None:
    assert cut_names("  kvm_set_or_clear_apicv_inh") == {"kvm_set_or_clear_apicv_inh"}
    assert not cut_names("__kvm_set_or_clear_apicv_inhibit kvm_zap_gfn_range")
    with pytest.raises(AssertionError):
        assert_fits("x" * 61, 60)


@pytest.fixture(autouse=True)
def _at_root(monkeypatch) -> None:
    """Reproducer paths are printed as given: relative ones keep lines short."""
    monkeypatch.chdir(ROOT)


def test_model_helpers_are_never_printed(capsys) -> None:
    for f in CORPUS:
        main(["replay", str(f), "--full"])
        out = capsys.readouterr().out
        for helper in MODEL_HELPERS:
            assert kernel_name(helper) not in out, (f.name, helper)


def test_vmx_names() -> None:
    """A VMX run prints vmx_vcpu_run and no SVM entry names."""
    s = Scenario(
        vcpus=(VcpuSpec(("apic", "sti", "run")), VcpuSpec(("run",))),
        ioctls=(("set PIT_REINJ", "extint 0"),),
        vendor="vmx",
    )
    for seed in range(5):
        r = run(load("final"), s, RandomScheduler(seed), trace=True)
        text = render_report("final", s, r.execution.trace, r.first_bug, full=True)
        assert "svm_vcpu_run" not in text and "VMRUN" not in text
        assert "vmx_vcpu_run" in text and "VMRESUME" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_replay_fits(width, capsys) -> None:
    for f in CORPUS:
        for extra in ([], ["--full"]):
            main(["replay", str(f), "--width", str(width), *extra])
            assert_fits(capsys.readouterr().out, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_check_fits(width, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["check", "--impl", "prepatch", "--runs", "300", "--seed", "1", "--no-shrink"]
    assert main([*args, "--out", "out", "--width", str(width)]) == 1
    out = capsys.readouterr().out
    assert "reproduce: difftest replay out/prepatch-lost-window.json" in " ".join(out.split())
    assert_fits(out, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_explore_fits(width, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["explore", "--impl", "broken-zap-no-seq", "--vcpus", "2", "--ops", "2"]
    args += ["--vcpu-ops", "apic", "--ioctls", "1", "--extint", "none", "--preemptions", "1"]
    assert main([*args, "--out", "out", "--width", str(width)]) == 1
    assert_fits(capsys.readouterr().out, width)
