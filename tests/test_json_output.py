"""``--json`` on every subcommand validates against the shipped, versioned
schema, and the GitHub step summary carries the same verdict and digest."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from test_fuzz import lost_window_inputs

from difftest.frontends import output
from difftest.frontends.cli import main

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = jsonschema.Draft202012Validator(output.schema())


def run_json(argv: list[str], capsys) -> tuple[int, dict]:
    rc = main([*argv, "--json"])
    out = capsys.readouterr().out
    doc = json.loads(out)  # stdout holds the document and nothing else
    VALIDATOR.validate(doc)
    assert doc["exit_status"] == rc
    assert doc["command"] == argv[0]
    return rc, doc


def test_schema_is_valid_and_versioned() -> None:
    s = output.schema()
    jsonschema.Draft202012Validator.check_schema(s)
    assert s["properties"]["version"] == {"const": output.VERSION}
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate({"format": "difftest-output", "version": 2, "command": "check"})


def test_replay_json(capsys) -> None:
    f = ROOT / "corpus/known/prepatch-two-vcpu-window.json"
    rc, doc = run_json(["replay", str(f)], capsys)
    assert rc == 1 and doc["status"] == "bug"
    assert doc["replay"]["outcome"] == "reproduced"
    assert doc["replay"]["recorded_kind"] == "lost-window"
    (r,) = doc["reproducers"]
    assert r["path"] == str(f) and r["finding"]["kind"] == "lost-window"
    assert r["digest"] and all(len(line) <= 80 for line in r["digest"])
    rc, doc = run_json(["replay", str(f), "--impl", "final"], capsys)
    assert rc == 0 and doc["status"] == "clean" and doc["replay"]["outcome"] == "changed"


def test_replay_json_input_error(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    rc, doc = run_json(["replay", str(bad)], capsys)
    assert rc == 2 and doc["status"] == "input-error" and "truncated" in doc["error"]


def test_check_json(tmp_path, capsys) -> None:
    args = ["check", "--impl", "prepatch", "--runs", "300", "--seed", "1", "--no-shrink"]
    args += ["--irq-source", "legacy"]  # per-vCPU ExtINTs: the lost window shows in 300 runs
    rc, doc = run_json([*args, "--out", str(tmp_path)], capsys)
    assert rc == 1 and doc["check"]["runs"] == 300 and not doc["check"]["shrunk"]
    kinds = {f["kind"]: f["count"] for f in doc["findings"]}
    assert kinds["lost-window"] >= 1
    (r,) = doc["reproducers"]
    assert Path(r["path"]).is_file() and r["command"] == f"difftest replay {r['path']}"
    final = ["check", "--impl", "final", "--runs", "20", "--irq-source", "split"]
    rc, doc = run_json(final, capsys)
    assert rc == 0 and doc["findings"] == [] and doc["reproducers"] == []


def test_explore_json(tmp_path, capsys) -> None:
    args = ["explore", "--vcpus", "2", "--ops", "2", "--vcpu-ops", "apic", "--ioctls", "1"]
    args += ["--extint", "none", "--preemptions", "1", "--out", str(tmp_path)]
    rc, doc = run_json([*args, "--impl", "broken-zap-no-seq"], capsys)
    assert rc == 1 and doc["explore"]["result"] == "counterexample"
    assert doc["explore"]["counterexample_preemptions"] == 1
    assert doc["reproducers"][0]["finding"]["kind"] == "missed-intercept"
    rc, doc = run_json(["explore", "--impl", "final", "--vcpus", "1", "--vcpu-ops", "run"], capsys)
    assert rc == 0 and doc["explore"]["result"] == "proof"


def test_mutants_json(capsys) -> None:
    argv = ["mutants", "--impls", "final,broken-double-inc", "--searches", "random"]
    rc, doc = run_json([*argv, "--seeds", "1", "--budget", "2"], capsys)
    cells = {(c["impl"], c["search"]): c for c in doc["mutants"]["cells"]}
    assert cells["broken-double-inc", "random"]["found"] == 1
    assert cells["final", "random"]["found"] == 0
    assert rc == 0 and doc["mutants"]["false_alarms"] == []


def test_fuzz_json_clean(tmp_path, capsys) -> None:
    argv = ["fuzz", "--impl", "final", "--jobs", "1", "--time", "1", "--seed", "1"]
    argv += ["--corpus", str(tmp_path / "corpus"), "--artifacts", str(tmp_path / "a")]
    rc, doc = run_json(argv, capsys)
    assert rc == 0 and doc["fuzz"]["distinct_findings"] == 0 and doc["reproducers"] == []


@pytest.mark.slow  # shrinking the crash takes most of a minute
def test_fuzz_json_triages_into_reproducers(tmp_path, capsys) -> None:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "crash-a").write_bytes(lost_window_inputs(1)[0])
    argv = ["fuzz", "--impl", "prepatch", "--jobs", "1", "--time", "1", "--seed", "1"]
    argv += ["--no-nested", "--vcpus", "2", "--irq-source", "split"]
    argv += ["--corpus", str(tmp_path / "corpus")]
    rc, doc = run_json([*argv, "--artifacts", str(artifacts)], capsys)
    assert rc == 1 and doc["fuzz"]["distinct_findings"] >= 1
    assert any(t["crash"].endswith("crash-a") for t in doc["fuzz"]["triaged"])
    assert doc["reproducers"] and doc["reproducers"][0]["digest"]


def test_step_summary(tmp_path, capsys, monkeypatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    f = ROOT / "corpus/known/prepatch-two-vcpu-window.json"
    assert main(["replay", str(f)]) == 1
    capsys.readouterr()
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, never overwritten
    assert "### difftest replay `prepatch`" in text and "**bug**" in text
    assert f"reproducer: `{f}`" in text and "| lost-window | bug | 1 |" in text
    assert "```" in text
