"""No file a user merely reads may run code: a reproducer from a bug report that
names a plugin file is not imported by ``difftest replay``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from difftest.frontends.cli import main

ROOT = Path(__file__).resolve().parent.parent
KNOWN = ROOT / "corpus" / "known" / "prepatch-two-vcpu-window.json"

EVIL = """
from pathlib import Path
Path(__file__).with_name("pwned").write_text("code ran")
from difftest.impls.prepatch import Prepatch as Evil
"""


@pytest.fixture
def attachment(tmp_path: Path) -> Path:
    (tmp_path / "evil.py").write_text(EVIL)
    d = json.loads(KNOWN.read_text())
    d["impl"] = f"{tmp_path / 'evil.py'}:Evil"
    f = tmp_path / "bug-report.json"
    f.write_text(json.dumps(d))
    return f


def test_replay_of_a_file_never_imports_the_plugin_it_names(
    attachment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(attachment)]) == 2
    assert not (attachment.parent / "pwned").exists()
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--impl" in err  # the hint: name it on the command line


@pytest.mark.parametrize("cmd", ["replay --raw {f} --impl final", "triage {f} --impl final"])
def test_other_readers_run_no_code_either(
    attachment: Path, capsys: pytest.CaptureFixture[str], cmd: str
) -> None:
    main(cmd.format(f=attachment).split())
    assert not (attachment.parent / "pwned").exists()


def test_naming_the_plugin_on_the_command_line_runs_it(
    attachment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = json.loads(attachment.read_text())["impl"]
    assert main(["replay", str(attachment), "--impl", spec]) == 1
    assert (attachment.parent / "pwned").exists()  # the user asked for it
    assert "verdict: reproduced" in capsys.readouterr().out
