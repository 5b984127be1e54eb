"""``difftest merge``: one result from the ``--json`` documents of shards.

A CI matrix (or a ClusterFuzzLite batch) runs ``check``, ``explore`` or
``mutants`` with ``--shard K/N --json`` on N machines; ``merge`` adds the
documents up into the one the whole run would have given: counts summed, the
first bug the one with the smallest run index (so the reproducer is the one a
single ``check`` would have written), cells and scenarios concatenated. Missing
shards make the result incomplete (exit 4), never silently smaller.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from difftest.errors import EXIT_CLEAN, EXIT_FINDING, EXIT_INCOMPLETE, EXIT_USAGE
from difftest.frontends import output

MERGEABLE = ("check", "explore", "mutants")


class MergeError(ValueError):
    """Documents that cannot be merged; the message is one line."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    m = sub.add_parser("merge", help="combine the --json results of --shard runs")
    m.add_argument("files", type=Path, nargs="+", help="documents written by --shard K/N --json")
    output.add_json_flag(m)
    m.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        docs = [_read(f) for f in args.files]
        merged, status = merge(docs)
    except MergeError as e:
        print(f"difftest: {e}", file=sys.stderr)
        args.doc["error"] = str(e)
        return EXIT_USAGE
    # The merged document replaces merge's own: it is what the whole run would print.
    args.doc.clear()
    args.doc.update(merged)
    print(summary(merged))
    return status


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except OSError as e:
        raise MergeError(f"{path}: cannot read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MergeError(f"{path}: not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != output.FORMAT:
        raise MergeError(f"{path}: not a difftest --json document")
    if doc.get("version") != output.VERSION:
        raise MergeError(f"{path}: document version {doc.get('version')!r} is not {output.VERSION}")
    if doc.get("command") not in MERGEABLE:
        raise MergeError(f"{path}: cannot merge {doc.get('command')!r} results")
    if doc.get("status") in ("input-error", "internal-error", "interrupted"):
        raise MergeError(f"{path}: that run failed ({doc.get('status')})")
    doc["_path"] = str(path)
    return doc


def _shard(doc: dict[str, Any], section: str) -> tuple[int, int]:
    k, n = doc[section].get("shard", [1, 1])
    return int(k), int(n)


def _same(docs: list[dict[str, Any]], what: str, get: Any) -> Any:
    values = {json.dumps(get(d), sort_keys=True) for d in docs}
    if len(values) > 1:
        raise MergeError(f"the documents differ in {what}: {', '.join(sorted(values))}")
    return get(docs[0])


def _shards(docs: list[dict[str, Any]], section: str) -> tuple[int, list[int]]:
    """N, and the shards of 1..N that no document covers."""
    n = _same(docs, "shard count (N of --shard K/N)", lambda d: _shard(d, section)[1])
    seen: dict[int, str] = {}
    for d in docs:
        k = _shard(d, section)[0]
        if k in seen:
            raise MergeError(f"shard {k}/{n} appears twice ({seen[k]} and {d['_path']})")
        seen[k] = d["_path"]
    return n, [k for k in range(1, n + 1) if k not in seen]


def merge(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """The merged document and its exit status."""
    command = _same(docs, "command", lambda d: d["command"])
    return {"check": _check, "explore": _explore, "mutants": _mutants}[command](docs)


def _findings(docs: list[dict[str, Any]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for d in docs:
        for f in d.get("findings", []):
            total[f["kind"]] += f["count"]
    return total


def _base(docs: list[dict[str, Any]], command: str) -> dict[str, Any]:
    d = output.new_doc(command)
    d["impl"] = docs[0].get("impl")
    d["merged_from"] = [x["_path"] for x in docs]
    return d


def _status(doc: dict[str, Any], found: bool, missing: list[int], n: int) -> int:
    status = EXIT_FINDING if found else EXIT_INCOMPLETE if missing else EXIT_CLEAN
    output.finish(doc, status)
    if missing:  # the merged result covers only some shards
        doc["missing_shards"] = [f"{k}/{n}" for k in missing]
        del doc[doc["command"]]["shard"]
        if not found:
            doc["status"] = "incomplete"
    return status


def _check(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    _same(docs, "implementation", lambda d: d.get("impl"))
    for key in ("seed", "params", "search"):
        _same(docs, f"check {key}", lambda d, key=key: d["check"].get(key))
    n, missing = _shards(docs, "check")
    out = _base(docs, "check")
    c = docs[0]["check"]
    counts = _findings(docs)
    out["findings"] = output.findings(counts)
    out["check"] = {
        "seed": c["seed"],
        "params": c["params"],
        "search": c.get("search", "random"),
        "shard": [1, 1],
        "runs": sum(d["check"]["runs"] for d in docs),
        "steps": sum(d["check"]["steps"] for d in docs),
        "seconds": max(d["check"]["seconds"] for d in docs),  # shards run side by side
        "shrunk": any(d["check"]["shrunk"] for d in docs),
    }
    first: dict[str, Any] | None = None
    for key in ("first_bug_index", "first_soft_index"):
        have = [d for d in docs if d["check"].get(key) is not None]
        best = min(have, key=lambda d, key=key: d["check"][key]) if have else None
        out["check"][key] = best["check"][key] if best else None
        if first is None and best is not None:
            first = best
    out["reproducers"] = first.get("reproducers", []) if first else []
    found = any(f["severity"] == "bug" for f in out["findings"])
    return out, _status(out, found, missing, n)


def _explore(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    _same(docs, "implementation", lambda d: d.get("impl"))
    for key in ("mode", "preemption_bound"):
        _same(docs, f"explore {key}", lambda d, key=key: d["explore"].get(key))
    n, missing = _shards(docs, "explore")
    out = _base(docs, "explore")
    e = {"mode": docs[0]["explore"]["mode"], "preemption_bound": None}
    e["preemption_bound"] = docs[0]["explore"].get("preemption_bound")
    for key in ("scenarios_done", "scenarios_total", "executions", "complete", "classes", "states"):
        e[key] = sum(d["explore"].get(key, 0) for d in docs)
    e["seconds"] = max(d["explore"].get("seconds", 0) for d in docs)
    e["shard"] = [1, 1]
    results = [d["explore"]["result"] for d in docs]
    cex = [d for d in docs if d["explore"]["result"] == "counterexample"]
    if cex:
        first = min(cex, key=lambda d: _shard(d, "explore")[0])
        e["result"] = "counterexample"
        e["counterexample_preemptions"] = first["explore"].get("counterexample_preemptions")
        out["findings"] = first.get("findings", [])
        out["reproducers"] = first.get("reproducers", [])
    else:
        # the weakest claim any shard makes is the claim of the whole
        order = ["incomplete", "bounded", "pct-clean", "proof-within-bound", "proof"]
        e["result"] = "incomplete" if missing else min(results, key=order.index)
        e["counterexample_preemptions"] = None
        out["findings"], out["reproducers"] = [], []
    out["explore"] = e
    status = _status(out, bool(cex), missing, n)
    if not cex and e["result"] == "incomplete":
        out["status"] = "incomplete"
    return out, status


def _mutants(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    for key in ("seeds", "budget"):
        _same(docs, f"mutants {key}", lambda d, key=key: d["mutants"].get(key))
    n, missing = _shards(docs, "mutants")
    out = _base(docs, "mutants")
    out["impl"] = None
    cells, seen = [], set()
    for d in sorted(docs, key=lambda d: _shard(d, "mutants")[0]):
        for cell in d["mutants"]["cells"]:
            key = (cell["impl"], cell["search"])
            if key in seen:
                raise MergeError(f"cell {cell['impl']} x {cell['search']} appears twice")
            seen.add(key)
            cells.append(cell)
    alarms = [a for d in docs for a in d["mutants"]["false_alarms"]]
    out["mutants"] = {
        "seeds": docs[0]["mutants"]["seeds"],
        "budget": docs[0]["mutants"]["budget"],
        "shard": [1, 1],
        "cells": cells,
        "false_alarms": alarms,
    }
    return out, _status(out, bool(alarms), missing, n)


def summary(doc: dict[str, Any]) -> str:
    """A few lines for people; the document itself is for machines (--json)."""
    lines = [f"difftest merge: {len(doc['merged_from'])} {doc['command']} documents"]
    if doc.get("missing_shards"):
        lines.append(f"missing shards: {', '.join(doc['missing_shards'])} (incomplete)")
    if doc["command"] == "check":
        c = doc["check"]
        lines.append(f"{c['runs']} runs, {c['steps']} steps, seed {c['seed']}, {c['search']}")
        for f in doc["findings"]:
            lines.append(f"  {f['kind']:18s} {f['severity']:8s} {f['count']:6d}")
        if c["first_bug_index"] is not None:
            lines.append(f"first bug: run {c['first_bug_index']}")
    elif doc["command"] == "explore":
        e = doc["explore"]
        lines.append(f"{e['result']}: {e['scenarios_done']}/{e['scenarios_total']} scenarios")
    else:
        m = doc["mutants"]
        found = sum(1 for cell in m["cells"] if cell["found"])
        lines.append(f"{found} of {len(m['cells'])} cells found a bug")
        lines += [f"FALSE ALARM: {a}" for a in m["false_alarms"]]
    for r in doc.get("reproducers", []):
        if r.get("path"):
            lines.append(f"reproducer: {r['path']}  ({r['command']})")
    return "\n".join(lines)
