"""Coverage of the change: which lines and branches of a plugin's own kernel
functions no run executed.

A clean verdict says nothing about code that never ran. For an implementation
given as ``FILE.py:CLASS`` the functions written in that file are the user's
change; coverage.py, in branch mode and restricted to that file, records what the
runs executed. It is started only when asked for (``--coverage`` or
``--require-coverage``), so an ordinary run pays nothing.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path

from difftest.impls.functions import kernel_functions

# Exit status of a search that ran clean but left part of the change unexecuted,
# when --require-coverage asks for all of it: the verdict is incomplete.
EXIT_UNCOVERED = 4


@dataclass(frozen=True)
class Gap:
    """A line no run executed, a branch (``line -> target``) no run took, or (on
    the base's side of the change) a condition that never took one value."""

    function: str
    line: int
    text: str
    target: int | None = None  # None: the line itself; <0: leaving the function
    condition: str = ""  # base side: "`expr` never true", ...

    @property
    def is_line(self) -> bool:
        return self.target is None and not self.condition

    def describe(self) -> str:
        where = f"{self.function}:{self.line}"
        if self.condition:
            return f"{where}  {self.condition} (your change alters this line): {self.text}"
        if self.target is None:
            return f"{where}  never ran: {self.text}"
        to = "the function's exit" if self.target < 0 else f"line {self.target}"
        return f"{where}  branch to {to} never taken: {self.text}"


def plugin_file(impl: type) -> Path | None:
    """The file of a plugin implementation; None for a shipped one."""
    return plugin_file_of_class(impl)


def _function_ranges(path: Path, names: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Body line ranges of the functions ``name -> def line`` in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    out: dict[str, tuple[int, int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            for name, line in names.items():
                if line in (first, node.lineno) and node.end_lineno is not None:
                    out[name] = (node.body[0].lineno, node.end_lineno)
    return out


class ChangeCoverage:
    """Accumulates coverage of a plugin's functions over any number of runs."""

    def __init__(self, impl: type) -> None:
        import coverage  # only imported when coverage is asked for

        path = plugin_file(impl)
        if path is None:
            raise ValueError(f"{impl.name} is a shipped implementation, not a plugin")
        self.path = path
        own = {
            name: f.func.__code__.co_firstlineno
            for name, f in kernel_functions(impl).items()
            if Path(f.func.__code__.co_filename).resolve() == path
        }
        self.ranges = _function_ranges(path, own)
        self.base_side = BaseSide(
            impl,
            {
                n: f.func
                for n, f in kernel_functions(impl).items()
                if Path(f.func.__code__.co_filename).resolve() == path
            },
        )
        self._cov = coverage.Coverage(
            data_file=None, branch=True, include=[str(path)], config_file=False
        )
        self._lines = path.read_text().splitlines()

    def __enter__(self) -> ChangeCoverage:
        self._cov.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cov.stop()

    def gaps(self) -> list[Gap]:
        a = self._cov._analyze(str(self.path))
        missing = set(a.missing)
        out: list[Gap] = []
        for name, (lo, hi) in sorted(self.ranges.items(), key=lambda kv: kv[1]):
            for line in sorted(s for s in a.statements if lo <= s <= hi):
                if line in missing:
                    out.append(Gap(name, line, self._text(line)))
            for line, targets in sorted(a.missing_branch_arcs().items()):
                if lo <= line <= hi and line not in missing:
                    for t in sorted(targets):
                        out.append(Gap(name, line, self._text(line), t))
        return out + self.base_side.gaps()

    def measured(self) -> int:
        """Lines of the change that coverage can see (statements in its functions)."""
        a = self._cov._analyze(str(self.path))
        return sum(1 for s in a.statements for lo, hi in self.ranges.values() if lo <= s <= hi)

    def _text(self, line: int) -> str:
        return self._lines[line - 1].strip() if 0 < line <= len(self._lines) else ""


def summarize(gaps: list[Gap]) -> str:
    """``2 lines and 1 branch of the change never ran`` (empty if none)."""
    lines = sum(1 for g in gaps if g.is_line)
    conds = sum(1 for g in gaps if g.condition)
    branches = len(gaps) - lines - conds
    parts = []
    if lines:
        parts.append(f"{lines} line{'s' * (lines != 1)}")
    if branches:
        parts.append(f"{branches} branch{'es' * (branches != 1)}")
    if conds:
        parts.append(f"{conds} replaced condition{'s' * (conds != 1)}")
    return f"{' and '.join(parts)} of the change not exercised" if parts else ""


def report(cov: ChangeCoverage, gaps: list[Gap]) -> str:
    """The block printed after a search: every gap, or that there is none."""
    funcs = ", ".join(sorted(cov.ranges)) or "none"
    head = f"coverage of the change ({cov.path.name}: {funcs})"
    if not gaps:
        return f"{head}: every line and branch ran"
    return "\n".join([f"{head}: {summarize(gaps)}", *(f"  {g.describe()}" for g in gaps)])


# -- the base's side of the change ---------------------------------------------


def base_of(impl: type) -> type:
    """The shipped version a plugin class derives from."""
    return next(k for k in impl.__mro__ if plugin_file_of_class(k) is None)


def plugin_file_of_class(klass: type) -> Path | None:
    mod = sys.modules.get(klass.__module__)
    if klass.__module__.startswith("difftest.") or mod is None:
        return None
    f = getattr(mod, "__file__", None)
    return Path(f).resolve() if f else None


def _changed_base_lines(base_fn: types.FunctionType, new_fn: types.FunctionType) -> set[int]:
    """Lines of ``base_fn``'s file that the plugin's version replaces or deletes."""
    old, start = inspect.getsourcelines(base_fn)
    new, _ = inspect.getsourcelines(new_fn)
    sm = difflib.SequenceMatcher(a=[x.strip() for x in old], b=[x.strip() for x in new])
    out: set[int] = set()
    for tag, i1, i2, _j1, _j2 in sm.get_opcodes():
        if tag in ("replace", "delete"):
            out.update(range(start + i1, start + i2))
    return out


class _Conditions(ast.NodeTransformer):
    """Wraps each condition on the changed lines in ``__dt_cond__(k, expr)``."""

    def __init__(self, lines: set[int]) -> None:
        self.lines = lines
        self.conds: list[tuple[int, str]] = []

    def _wrap(self, e: ast.expr) -> ast.expr:
        self.conds.append((e.lineno, ast.unparse(e)))
        k = len(self.conds) - 1
        call = ast.Call(ast.Name("__dt_cond__", ast.Load()), [ast.Constant(k), e], [])
        return ast.copy_location(call, e)

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:  # noqa: N802
        self.generic_visit(node)
        if node.lineno in self.lines:
            node.values = [v if isinstance(v, ast.BoolOp) else self._wrap(v) for v in node.values]
        return node

    def _test(self, node: ast.If | ast.While | ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if node.test.lineno in self.lines and not isinstance(node.test, ast.BoolOp):
            node.test = self._wrap(node.test)
        return node

    visit_If = visit_While = visit_IfExp = _test  # noqa: N815


class BaseSide:
    """Runs the base version with its overridden functions' changed conditions
    instrumented: a condition the plugin replaces that never took a value in the
    base's runs is a change the search cannot have told apart."""

    def __init__(self, impl: type, plugin_functions: dict[str, types.FunctionType]) -> None:
        self.base = base_of(impl)
        base_fns = kernel_functions(self.base)
        self.seen: list[list[bool]] = []
        self.ran = False  # set once the shadow has run the search
        self.conds: list[tuple[str, int, str, str]] = []  # function, line, expr, line text
        ns: dict[str, object] = {"name": self.base.name}
        for name, new_fn in plugin_functions.items():
            kf = base_fns.get(name)
            if kf is None:
                continue
            lines = _changed_base_lines(kf.func, new_fn)
            if not lines:
                continue
            fn = self._instrument(kf.func, kf.owner, lines, name)
            if fn is not None:
                ns[name] = staticmethod(fn) if kf.static else fn
        self.shadow: type | None = (
            type(f"{self.base.__name__}Conditions", (self.base,), ns) if len(ns) > 1 else None
        )

    def _instrument(
        self, fn: types.FunctionType, owner: type, lines: set[int], name: str
    ) -> types.FunctionType | None:
        src_lines, start = inspect.getsourcelines(fn)
        src = textwrap.dedent("".join(src_lines)).replace("super()", "super(__dt_owner__, self)")
        tree = ast.parse(src)
        ast.increment_lineno(tree, start - 1)
        tr = _Conditions(lines)
        tree = ast.fix_missing_locations(tr.visit(tree))
        if not tr.conds:
            return None
        offset = len(self.seen)
        file_lines = Path(inspect.getsourcefile(fn) or "").read_text().splitlines()
        for line, expr in tr.conds:
            self.seen.append([False, False])
            self.conds.append((name, line, expr, file_lines[line - 1].strip()))
        seen = self.seen

        def cond(k: int, v: object) -> object:
            seen[offset + k][bool(v)] = True
            return v

        g = dict(fn.__globals__)
        g["__dt_cond__"] = cond
        g["__dt_owner__"] = owner
        exec(compile(tree, inspect.getsourcefile(fn) or "<base>", "exec"), g)
        out = g[fn.__name__]
        return out.__func__ if isinstance(out, staticmethod) else out  # type: ignore[return-value]

    def gaps(self) -> list[Gap]:
        out: list[Gap] = []
        if not self.ran:
            return out
        for (name, line, expr, text), (f, t) in zip(self.conds, self.seen, strict=True):
            if f and t:
                continue
            what = "never reached" if not (f or t) else "never true" if not t else "never false"
            out.append(Gap(f"{self.base.name}:{name}", line, text, condition=f"`{expr}` {what}"))
        return out
