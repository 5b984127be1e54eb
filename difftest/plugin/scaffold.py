"""A ready-to-edit plugin: the kernel functions a patch touches, copied from a
shipped version under their kernel names.

``touched(patch)`` reads a unified diff and names the C functions whose lines it
adds or removes, file by file. The hunk header (``@@ -a,b +c,d @@ context``)
names the function the hunk starts in; a function definition inside the hunk
(context, removed or added) moves the hunk on to that function. ``plugin_text``
copies the modelled ones from the base, with the imports their bodies need, and
lists the rest: what the patch adds or what the model does not have.

What is automated: which functions, their copies, imports, the class. What the
user edits: the bodies (to what the patch makes them), the new functions, and the
class flags (``has_counter``, ``lazy_irqwin``).
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
import types
from dataclasses import dataclass, field

from difftest.impls.functions import KernelFunction, kernel_functions

# The files whose functions the model has: path suffix -> short name.
MODELLED_FILES = {
    "arch/x86/include/asm/kvm_host.h": "kvm_host.h",
    "arch/x86/kvm/x86.c": "x86.c",
    "arch/x86/kvm/svm/svm.c": "svm.c",
    "arch/x86/kvm/svm/nested.c": "nested.c",
    "arch/x86/kvm/svm/avic.c": "avic.c",
    "arch/x86/kvm/mmu/mmu.c": "mmu.c",
    "virt/kvm/kvm_main.c": "kvm_main.c",
}

_C_KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else", "case"}
# "static inline void foo(" / "void __foo(struct kvm *kvm," / "int foo(void)"
_DEF = re.compile(r"^(?:[A-Za-z_][\w\s\*]*?[\s\*])([A-Za-z_]\w*)\s*\(([^;]*)$")


class PatchError(ValueError):
    """A patch that cannot be read; the message is one line."""


@dataclass
class FileChanges:
    path: str
    touched: list[str] = field(default_factory=list)  # in order of first change
    added: set[str] = field(default_factory=set)  # defined by the patch itself


def _function_defined(line: str) -> str | None:
    """The name of the C function whose definition starts on ``line``."""
    if not line or line[0].isspace() or "=" in line.split("(")[0]:
        return None
    m = _DEF.match(line.rstrip())
    if m is None or m.group(1) in _C_KEYWORDS:
        return None
    first = line.split()[0]
    return None if first in _C_KEYWORDS or first.startswith("#") else m.group(1)


def touched(patch: str) -> list[FileChanges]:
    """Functions each file's hunks add or remove lines in."""
    files: list[FileChanges] = []
    cur: FileChanges | None = None
    func: str | None = None
    in_hunk = False
    for raw in patch.splitlines():
        if raw.startswith("diff --git ") or raw.startswith("--- "):
            in_hunk = False
            continue
        if raw.startswith("+++ "):
            path = raw[4:].strip().split("\t")[0]
            path = path[2:] if path.startswith(("a/", "b/")) else path
            cur = FileChanges(path)
            files.append(cur)
            in_hunk = False
            continue
        if raw.startswith("@@"):
            if cur is None:
                raise PatchError("a hunk before any +++ file header")
            m = re.match(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?(.*)$", raw)
            if m is None:
                raise PatchError(f"malformed hunk header: {raw[:60]}")
            func = _function_defined(m.group(1)) if m.group(1) else None
            in_hunk = True
            continue
        if not in_hunk or cur is None:
            continue
        if raw.startswith("--") and raw.strip() == "--":  # mail signature
            in_hunk = False
            continue
        mark, text = (raw[0], raw[1:]) if raw and raw[0] in "+- " else (" ", raw)
        if mark in "+-":
            text = text[1:] if text.startswith(" ") and not text.startswith("  ") else text
        name = _function_defined(text)
        if name is not None:
            func = name
            if mark == "+":
                cur.added.add(name)
        if mark in "+-" and text.strip() and func is not None and func not in cur.touched:
            cur.touched.append(func)
        if text.startswith("}"):  # the function's closing brace
            func = None
    if not files:
        raise PatchError("no file in the patch (no +++ header)")
    return files


def model_name(c_name: str) -> str:
    """The kernel's ``__foo`` is ``_foo`` in the model."""
    return "_" + c_name[2:] if c_name.startswith("__") else c_name


@dataclass
class Plan:
    copied: list[tuple[str, KernelFunction]]  # (file, function) to copy from the base
    new: list[tuple[str, str]]  # (file, C name) the patch adds: not in the base
    missing: list[tuple[str, str]]  # (file, C name) the patch changes, the model lacks
    skipped: list[str]  # files the model does not read


def plan_from_patch(base: type, patch: str) -> Plan:
    fns = kernel_functions(base)
    plan = Plan([], [], [], [])
    for fc in touched(patch):
        short = next((s for p, s in MODELLED_FILES.items() if fc.path.endswith(p)), None)
        if short is None:
            plan.skipped.append(fc.path)
            continue
        for c in fc.touched:
            m = model_name(c)
            if m in fns:
                plan.copied.append((short, fns[m]))
            elif c in fc.added:
                plan.new.append((short, c))
            else:
                plan.missing.append((short, c))
    return plan


def plan_from_names(base: type, names: list[str]) -> Plan:
    fns = kernel_functions(base)
    unknown = [n for n in names if model_name(n) not in fns]
    if unknown:
        raise PatchError(
            f"{', '.join(unknown)}: not a kernel function of {base.name} "
            f"(it has: {', '.join(sorted(fns))})"
        )
    return Plan([("", fns[model_name(n)]) for n in names], [], [], [])


def _copy_source(base: type, f: KernelFunction) -> tuple[str, set[type]]:
    """The function's source, with ``super().g(`` spelled as the class it meant."""
    src = textwrap.dedent(inspect.getsource(f.func))
    needs: set[type] = set()

    def parent_call(m: re.Match[str]) -> str:
        attr = m.group(1)
        mro = base.__mro__
        after = mro[mro.index(f.owner) + 1 :] if f.owner in mro else f.owner.__mro__[1:]
        parent = next(k for k in after if attr in vars(k))
        needs.add(parent)
        return f"{parent.__name__}.{attr}(self, "

    src = re.sub(r"super\(\)\.(\w+)\(", parent_call, src)
    return src, needs


# Where constants without a __module__ of their own are defined.
_CONSTANT_HOMES = ("difftest.model.state", "difftest.engine.points", "difftest.engine.sync")


def _imports(
    funcs: list[types.FunctionType], classes: set[type], extra: dict[str, set[str]]
) -> list[str]:
    """``from M import N`` lines for the globals the copied bodies (and their
    annotations) use."""
    by_module: dict[str, set[str]] = {m: set(ns) for m, ns in extra.items()}
    for fn in funcs:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        for n in sorted(used):
            if n not in fn.__globals__:
                continue
            obj = fn.__globals__[n]
            if inspect.ismodule(obj):
                continue
            mod = getattr(obj, "__module__", None)
            if mod is None or getattr(obj, "__name__", None) != n:
                homes = [sys.modules[h] for h in _CONSTANT_HOMES if h in sys.modules]
                mod = next((h.__name__ for h in homes if getattr(h, n, None) is obj), fn.__module__)
            by_module.setdefault(mod, set()).add(n)
    for k in classes:
        by_module.setdefault(k.__module__, set()).add(k.__name__)
    return [f"from {m} import {', '.join(sorted(ns))}" for m, ns in sorted(by_module.items())]


def plugin_text(base: type, base_spec: str, class_name: str, plan: Plan, origin: str) -> str:
    copies = [(file, f, *_copy_source(base, f)) for file, f in plan.copied]
    classes: set[type] = {base}
    for *_, needs in copies:
        classes |= needs
    extra = {"difftest.engine.points": {"Kfunc"}} if plan.new else {}
    imports = _imports([f.func for _, f, _, _ in copies], classes, extra)
    doc = [
        f"{class_name}: a variant of {base_spec}, {origin}.",
        "",
        "Generated by `difftest new`. Each function below is the base's copy: edit its",
        "body to what the patch makes it (as in C, with a `yield` before every shared",
        "access), write the functions the patch adds, and set the flags. Check it with",
        f"`difftest check --impl THIS_FILE.py:{class_name}`.",
    ]
    if plan.missing:
        doc += ["", "Changed by the patch but not in the model (left out):"]
        doc += [f"  {file}: {c}" for file, c in plan.missing]
    if plan.skipped:
        doc += ["", "Files of the patch the model does not read:"]
        doc += [f"  {p}" for p in plan.skipped]
    lines = [
        '"""' + "\n".join(doc).rstrip() + '\n"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    lines += imports
    lines += ["", "", f"class {class_name}({base.__name__}):"]
    lines += [f'    name = "{re.sub(r"(?<!^)(?=[A-Z])", "-", class_name).lower()}"']
    lines += ["    # has_counter = True  # the version keeps apicv_nr_irq_window_req"]
    lines += ["    # lazy_irqwin = True  # it promises no IRQWIN write lock while inhibited"]
    for file, f, src, _ in copies:
        where = f" ({file})" if file else ""
        lines += ["", f"    # {_c_name(f.name)}{where}: copied from {f.owner.__name__}"]
        lines += [textwrap.indent(src.rstrip(), "    ")]
    for file, c in plan.new:
        lines += [
            "",
            f"    # {c} ({file}): added by the patch; write it",
            f"    def {model_name(c)}(self, *args) -> Kfunc:",
            f'        raise NotImplementedError("{c}: write it as the patch does")',
            "        yield",
        ]
    return "\n".join(lines) + "\n"


def _c_name(name: str) -> str:
    return "_" + name if name.startswith("_") and not name.startswith("__") else name
