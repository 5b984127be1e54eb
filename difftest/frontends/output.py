"""Machine-readable output for CI: ``--json`` and the GitHub step summary.

Every command fills one document (``difftest/report/output.schema.json``,
versioned) as it runs. With ``--json`` the document is the only thing on stdout
and the human-readable text goes to stderr. When ``GITHUB_STEP_SUMMARY`` names a
file, a Markdown summary of the same document is appended to it, so a CI run
shows the verdict, the counts, the digest and the reproducer path on its page.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from difftest.oracle.findings import SEVERITY, Finding, Kind

FORMAT = "difftest-output"
VERSION = 1

STATUS = {0: "clean", 1: "bug", 2: "input-error", 3: "internal-error", 4: "incomplete"}


def schema() -> dict[str, Any]:
    """The JSON Schema of the document, shipped in the package."""
    text = resources.files("difftest.report").joinpath("output.schema.json").read_text()
    return json.loads(text)


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (schema: difftest/report/output.schema.json) on "
        "stdout; the text goes to stderr",
    )


def new_doc(command: str) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "command": command}


def finish(doc: dict[str, Any], status: int, *, error: str | None = None) -> dict[str, Any]:
    doc["exit_status"] = status
    doc["status"] = "interrupted" if status == 130 else STATUS.get(status, "internal-error")
    if doc.get("explore", {}).get("result") == "incomplete" and status == 0:
        doc["status"] = "incomplete"
    if error is not None:
        doc["error"] = error
    return doc


def findings(counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """Finding kinds with how many runs showed each, in kind order."""
    return [
        {"kind": k, "severity": SEVERITY[Kind(k)], "count": int(n)}
        for k, n in sorted(counts.items())
    ]


def reproducer(
    path: Path | str | None,
    finding: Finding | None,
    digest: list[str],
    *,
    command: str | None = None,
    **sizes: int,
) -> dict[str, Any]:
    return {
        "path": str(path) if path is not None else None,
        "command": command or (f"difftest replay {path}" if path is not None else None),
        "finding": finding.to_json() if finding is not None else None,
        **sizes,
        "digest": digest,
    }


def dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False)


def markdown(doc: Mapping[str, Any]) -> str:
    """The step summary: verdict, counts, each reproducer's digest and path."""
    head = f"### difftest {doc['command']}"
    if doc.get("impl"):
        head += f" `{doc['impl']}`"
    out = [head, "", f"**{doc['status']}** (exit status {doc['exit_status']})"]
    if doc.get("error"):
        out += ["", f"error: `{doc['error']}`"]
    c = doc.get("check")
    if c:
        out += ["", f"{c['runs']} runs, {c['steps']} steps, seed {c['seed']}"]
    e = doc.get("explore")
    if e:
        out += ["", f"{e['result']}: {e['scenarios_done']}/{e['scenarios_total']} scenarios"]
    fz = doc.get("fuzz")
    if fz:
        new, distinct = fz["new_crash_inputs"], fz["distinct_findings"]
        out += ["", f"{new} new crash inputs, {distinct} distinct findings"]
    m = doc.get("mutants")
    if m:
        found = sum(1 for cell in m["cells"] if cell["found"])
        out += ["", f"{found} of {len(m['cells'])} cells found a bug"]
        if m["false_alarms"]:
            out += [f"FALSE ALARMS: {', '.join(m['false_alarms'])}"]
    if doc.get("findings"):
        out += ["", "| finding | severity | count |", "|---|---|---|"]
        out += [f"| {f['kind']} | {f['severity']} | {f['count']} |" for f in doc["findings"]]
    for r in doc.get("reproducers", []):
        out += [""]
        if r["path"]:
            out += [f"reproducer: `{r['path']}` (`{r['command']}`)"]
        if r["digest"]:
            out += ["", "```", *r["digest"], "```"]
    return "\n".join(out) + "\n"


def append_step_summary(doc: Mapping[str, Any]) -> None:
    """Append to $GITHUB_STEP_SUMMARY when it is set (GitHub Actions)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with open(target, "a") as f:
            f.write(markdown(doc) + "\n")
    except OSError:
        pass  # a summary that cannot be written must not change the run's verdict
