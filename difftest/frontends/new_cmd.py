"""``difftest new FILE.py``: a ready-to-edit plugin, from a list of kernel
functions or from the functions a kernel patch touches."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from difftest.impls import BUILTIN, ImplError, load
from difftest.plugin.scaffold import PatchError, plan_from_names, plan_from_patch, plugin_text


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    n = sub.add_parser("new", help="write a plugin that copies kernel functions of a version")
    n.add_argument("file", type=Path, help="the plugin file to write (must not exist)")
    n.add_argument("--base", default="final", help="shipped version to copy from")
    n.add_argument("--class", dest="cls", default=None, help="class name (default: from FILE)")
    g = n.add_mutually_exclusive_group(required=True)
    g.add_argument("--functions", help="comma-separated kernel function names")
    g.add_argument("--from-patch", type=Path, help="unified diff (a mail works too)")
    n.set_defaults(run=_new)


def _new(a: argparse.Namespace) -> int:
    if a.base not in BUILTIN:
        raise ImplError(f"--base {a.base!r}: not a shipped version ({', '.join(BUILTIN)})")
    if a.file.suffix != ".py":
        raise ImplError(f"{a.file}: a plugin file ends in .py")
    if a.file.exists():
        raise ImplError(f"{a.file} exists; difftest new never overwrites a file")
    base = load(a.base)
    cls = a.cls or "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", a.file.stem) if w)
    if not cls.isidentifier():
        raise ImplError(f"--class {cls!r} is not a Python class name")
    try:
        if a.functions is not None:
            plan = plan_from_names(base, [x.strip() for x in a.functions.split(",") if x.strip()])
            origin = f"changing {a.functions}"
        else:
            try:
                patch = a.from_patch.read_text(errors="replace")
            except OSError as e:
                raise PatchError(f"{a.from_patch}: cannot read ({e.strerror})") from None
            plan = plan_from_patch(base, patch)
            origin = f"from {a.from_patch.name}"
    except PatchError as e:
        raise ImplError(str(e)) from None
    if not plan.copied and not plan.new:
        raise ImplError("the patch touches no function the model has")
    text = plugin_text(base, a.base, cls, plan, origin)
    a.file.parent.mkdir(parents=True, exist_ok=True)
    with open(a.file, "x") as f:  # exclusive: a file created meanwhile is kept
        f.write(text)
    print(f"wrote {a.file}: class {cls}({base.__name__})")
    for file, f in plan.copied:
        print(f"  copied   {f.name}{f' ({file})' if file else ''}")
    for file, c in plan.new:
        print(f"  to write {c} ({file}): added by the patch")
    for file, c in plan.missing:
        print(f"  not in the model: {c} ({file})")
    for p in plan.skipped:
        print(f"  not read: {p}")
    print(f"next: edit the bodies, then difftest check --impl {a.file}:{cls}")
    return 0
