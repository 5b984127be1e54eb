"""``difftest new``: a plugin scaffold from kernel function names or from a patch.

The worked example is the seed mail in ../shared/seed/ (next to the checkout):
from it and ``--base prepatch`` the command names the functions the patch
touches and copies prepatch's. What the user then does by hand, pasting the
patched bodies in, is done here mechanically with the shipped ``seed``'s bodies;
the result gives ``seed``'s verdicts on the regression corpus.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from difftest.check import GenParams, run_seed
from difftest.frontends.cli import main
from difftest.impls import load
from difftest.impls.functions import kernel_functions
from difftest.plugin.scaffold import _copy_source, _imports, touched
from difftest.repro import load as load_repro
from difftest.runner import run
from difftest.schedulers.replay import ReplayScheduler

ROOT = Path(__file__).resolve().parent.parent
SEED_NAME = "sean-christopherson-2025-02-04-lazy-irqwin.txt"
SEED_MAIL = next(
    (p / "shared" / "seed" / SEED_NAME for p in ROOT.parents if (p / "shared" / "seed").is_dir()),
    ROOT.parent / "shared" / "seed" / SEED_NAME,
)
needs_mail = pytest.mark.skipif(not SEED_MAIL.is_file(), reason=f"{SEED_MAIL} not present")
CORPUS = sorted((ROOT / "corpus" / "regressions").glob("*.json")) + sorted(
    (ROOT / "corpus" / "known").glob("*.json")
)


@needs_mail
def test_touched_functions_of_the_seed_mail() -> None:
    by_file = {fc.path: (fc.touched, fc.added) for fc in touched(SEED_MAIL.read_text())}
    assert by_file["arch/x86/kvm/x86.c"] == (
        ["__kvm_set_or_clear_apicv_inhibit", "kvm_inc_or_dec_irq_window_inhibit"],
        {"kvm_inc_or_dec_irq_window_inhibit"},
    )
    # The svm_clear_vintr hunk's header names svm_set_vintr (where the hunk
    # starts); the definition inside the hunk moves it on.
    assert by_file["arch/x86/kvm/svm/svm.c"] == (
        [
            "svm_set_vintr",
            "svm_clear_vintr",
            "interrupt_window_interception",
            "svm_enable_irq_window",
        ],
        set(),
    )
    assert by_file["arch/x86/include/asm/kvm_host.h"][0] == [
        "kvm_inc_apicv_irq_window",
        "kvm_dec_apicv_irq_window",
    ]
    assert by_file["arch/x86/kvm/svm/svm.h"] == ([], set())


def _generate(tmp_path: Path, capsys) -> Path:
    out = tmp_path / "seed_from_mail.py"
    assert main(["new", str(out), "--base", "prepatch", "--from-patch", str(SEED_MAIL)]) == 0
    printed = capsys.readouterr().out
    for name in (
        "svm_set_vintr",
        "svm_clear_vintr",
        "interrupt_window_interception",
        "svm_enable_irq_window",
        "_kvm_set_or_clear_apicv_inhibit",
    ):
        assert f"copied   {name}" in printed
    assert "to write kvm_inc_or_dec_irq_window_inhibit (x86.c)" in printed
    assert "not read: arch/x86/kvm/svm/svm.h" in printed
    return out


def _replay_verdicts(impl: type, files: list[Path]) -> list[object]:
    out = []
    for f in files:
        repro = load_repro(f)
        r = run(impl, repro.scenario, ReplayScheduler(repro.schedule, strict=False))
        out.append((f.name, r.execution.schedule, [x.to_json() for x in r.findings]))
    return out


@needs_mail
def test_generated_plugin_is_the_base_until_edited(tmp_path: Path, capsys) -> None:
    path = _generate(tmp_path, capsys)
    plugin = load(f"{path}:SeedFromMail")
    assert plugin.name == "seed-from-mail"
    assert _replay_verdicts(plugin, CORPUS) == _replay_verdicts(load("prepatch"), CORPUS)


def _apply_seed_bodies(path: Path) -> None:
    """The user's edit, done mechanically: every function of the generated class
    becomes seed's, the functions the patch adds are written as seed has them,
    and the class flags are set."""
    seed = load("seed")
    seed_fns = kernel_functions(seed)
    text = path.read_text()
    lines = text.splitlines()
    cls = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef))
    funcs = [n for n in cls.body if isinstance(n, ast.FunctionDef)]
    used = []
    for node in sorted(funcs, key=lambda n: n.lineno, reverse=True):
        f = seed_fns[node.name]
        src, _ = _copy_source(seed, f)
        used.append(f.func)
        assert node.end_lineno is not None
        lines[node.lineno - 1 : node.end_lineno] = textwrap.indent(src, "    ").splitlines()
    new = "\n".join(lines) + "\n"
    new = new.replace("    # has_counter = True", "    has_counter = True")
    new = new.replace("    # lazy_irqwin = True", "    lazy_irqwin = True")
    imports = "\n".join(_imports(used, {load("prepatch")}, {}))
    new = new.replace(
        "from __future__ import annotations\n",
        f"from __future__ import annotations\n\n{imports}\n",
        1,
    )
    path.write_text(new)


@needs_mail
def test_seed_mail_plugin_with_the_patched_bodies_behaves_like_seed(tmp_path: Path, capsys) -> None:
    path = _generate(tmp_path, capsys)
    _apply_seed_bodies(path)
    plugin = load(f"{path}:SeedFromMail")
    seed = load("seed")
    assert _replay_verdicts(plugin, CORPUS) == _replay_verdicts(seed, CORPUS)
    for i in range(40):
        a, b = run_seed(plugin, 5, i, GenParams()), run_seed(seed, 5, i, GenParams())
        assert a.execution.schedule == b.execution.schedule
        assert [f.to_json() for f in a.findings] == [f.to_json() for f in b.findings]


def test_new_from_function_names(tmp_path: Path, capsys) -> None:
    out = tmp_path / "my_fix.py"
    assert (
        main(["new", str(out), "--functions", "svm_inject_irq,__kvm_set_or_clear_apicv_inhibit"])
        == 0
    )
    plugin = load(f"{out}:MyFix")
    assert set(vars(plugin)) >= {"svm_inject_irq", "_kvm_set_or_clear_apicv_inhibit"}
    # final's svm_inject_irq calls super(): the copy names the class it meant.
    assert "Prepatch.svm_inject_irq(self, vcpu, reinjected)" in out.read_text()
    runs = [run_seed(c, 3, i, GenParams()) for c in (plugin, load("final")) for i in range(20)]
    assert [r.findings for r in runs[:20]] == [r.findings for r in runs[20:]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--functions", "no_such_function"], "not a kernel function of final"),
        (["--base", "nope", "--functions", "svm_inject_irq"], "not a shipped version"),
        (["--from-patch", "/nonexistent.patch"], "cannot read"),
    ],
)
def test_new_bad_input(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    assert main(["new", str(tmp_path / "x.py"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.py").exists()


def test_new_never_overwrites(tmp_path: Path, capsys) -> None:
    out = tmp_path / "mine.py"
    out.write_text("# my work\n")
    assert main(["new", str(out), "--functions", "svm_inject_irq"]) == 2
    assert out.read_text() == "# my work\n"
