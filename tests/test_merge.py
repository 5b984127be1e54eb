"""``--shard K/N --json`` then ``difftest merge``: the merged document is the
one the whole run gives."""

from __future__ import annotations

import json

import pytest

from difftest.frontends.cli import main


def _json(capsys, argv, status=None):
    got = main([*argv, "--json"])
    assert status is None or got == status
    return json.loads(capsys.readouterr().out)


CHECK = ["check", "--impl", "prepatch", "--runs", "300", "--no-shrink", "--jobs", "1"]


def test_merged_check_shards_equal_the_whole_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    whole = _json(capsys, [*CHECK, "--out", "whole"], 1)
    files = []
    for k in (1, 2, 3):
        doc = _json(capsys, [*CHECK, "--shard", f"{k}/3", "--out", f"s{k}"])
        assert doc["check"]["shard"] == [k, 3]
        (tmp_path / f"{k}.json").write_text(json.dumps(doc))
        files.append(f"{k}.json")
    merged = _json(capsys, ["merge", *files], 1)
    for key in ("runs", "steps", "first_bug_index", "first_soft_index", "seed", "search"):
        assert merged["check"][key] == whole["check"][key], key
    assert merged["findings"] == whole["findings"]
    assert merged["check"]["shard"] == [1, 1]
    (w,), (m,) = whole["reproducers"], merged["reproducers"]
    assert w["finding"] == m["finding"] and w["digest"] == m["digest"]
    # a missing shard: incomplete unless a bug is already known
    partial = _json(capsys, ["merge", files[1]])
    assert partial["missing_shards"] == ["1/3", "3/3"]
    assert partial["status"] in ("bug", "incomplete") and "shard" not in partial["check"]


def test_merge_rejects_mismatched_and_repeated_shards(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = _json(capsys, [*CHECK, "--runs", "20", "--shard", "1/2", "--impl", "final"], 0)
    b = _json(
        capsys, [*CHECK, "--runs", "20", "--shard", "2/2", "--impl", "final", "--seed", "5"], 0
    )
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    assert main(["merge", "a.json", "b.json"]) == 2
    assert "differ in check seed" in capsys.readouterr().err
    assert main(["merge", "a.json", "a.json"]) == 2
    assert "appears twice" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{")
    assert main(["merge", "junk.json"]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert main(["merge", "a.json"]) == 4  # shard 2/2 missing, no bug known


def test_explore_and_mutants_shards_merge(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ex = ["explore", "--impl", "final", "--vcpus", "1", "--ops", "2", "--out", "o"]
    whole = _json(capsys, ex, 0)
    parts = [_json(capsys, [*ex, "--shard", f"{k}/2"], 0) for k in (1, 2)]
    for k, d in enumerate(parts):
        (tmp_path / f"e{k}.json").write_text(json.dumps(d))
    merged = _json(capsys, ["merge", "e0.json", "e1.json"], 0)
    assert merged["explore"]["result"] == whole["explore"]["result"]
    assert merged["explore"]["scenarios_total"] == whole["explore"]["scenarios_total"]
    mu = ["mutants", "--impls", "final,broken-zap-no-seq", "--searches", "random"]
    mu += ["--seeds", "1", "--budget", "0.5"]
    docs = [_json(capsys, [*mu, "--shard", f"{k}/2"], 0) for k in (1, 2)]
    for k, d in enumerate(docs):
        assert len(d["mutants"]["cells"]) == 1
        (tmp_path / f"m{k}.json").write_text(json.dumps(d))
    merged = _json(capsys, ["merge", "m0.json", "m1.json"], 0)
    assert [c["impl"] for c in merged["mutants"]["cells"]] == ["final", "broken-zap-no-seq"]


@pytest.mark.parametrize("cmd", [["explore", "--impl", "final"], ["mutants"]])
def test_shard_validated(cmd, capsys):
    assert main([*cmd, "--shard", "3/2"]) == 2
    assert "--shard" in capsys.readouterr().err
