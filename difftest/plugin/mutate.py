"""Mutants of a plugin's change: which of its comparisons and booleans the search
actually guards.

Each mutant flips one thing in one of the functions written in the plugin file:
a comparison operator (``==``/``!=``, ``<``/``>=``, ``>``/``<=``, ``is``/``is not``,
``in``/``not in``), an ``and``/``or``, a ``not`` (dropped), or a ``True``/``False``.
The mutated function is compiled from the plugin's source with the AST changed
at that one place, in a subclass of the plugin class. A mutant the search does
not catch marks a line whose every outcome the search cannot tell apart.
"""

from __future__ import annotations

import ast
import copy
import inspect
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from difftest.impls.functions import kernel_functions
from difftest.plugin.change_coverage import plugin_file

_FLIP: dict[type, type] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}


@dataclass
class Mutant:
    function: str
    line: int
    description: str
    impl: type


def _sites(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every mutation site, numbered in walk order, with its description."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) in _FLIP:
                    yield (
                        node.lineno,
                        (f"{_sym(op)} -> {_sym(_FLIP[type(op)]())} in `{ast.unparse(node)}`"),
                    )
        elif isinstance(node, ast.BoolOp):
            other = "or" if isinstance(node.op, ast.And) else "and"
            yield node.lineno, f"{other} for {_sym(node.op)} in `{ast.unparse(node)}`"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node.lineno, f"drop `not` in `{ast.unparse(node)}`"
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield node.lineno, f"{not node.value} for {node.value}"


def _sym(op: ast.AST) -> str:
    return {
        ast.Eq: "==",
        ast.NotEq: "!=",
        ast.Lt: "<",
        ast.GtE: ">=",
        ast.Gt: ">",
        ast.LtE: "<=",
        ast.Is: "is",
        ast.IsNot: "is not",
        ast.In: "in",
        ast.NotIn: "not in",
        ast.And: "and",
        ast.Or: "or",
    }[type(op)]


class _Apply(ast.NodeTransformer):
    """Applies the ``k``-th mutation of ``_sites``' walk order."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.i = -1

    def _hit(self) -> bool:
        self.i += 1
        return self.i == self.k

    def apply(self, tree: ast.AST) -> ast.AST:
        # Walk in the same order as _sites and mutate the k-th site in place.
        for node in list(ast.walk(tree)):
            if isinstance(node, ast.Compare):
                for j, op in enumerate(node.ops):
                    if type(op) in _FLIP and self._hit():
                        node.ops[j] = _FLIP[type(op)]()
            elif isinstance(node, ast.BoolOp) and self._hit():
                node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and self._hit():
                node.op = ast.UAdd()  # +bool(x): the operand's truth, un-negated
                node.operand = ast.Call(ast.Name("bool", ast.Load()), [node.operand], [])
            elif isinstance(node, ast.Constant) and isinstance(node.value, bool) and self._hit():
                node.value = not node.value
        return tree


def mutants(impl: type) -> list[Mutant]:
    """One subclass of ``impl`` per mutation site in its plugin file's functions."""
    path = plugin_file(impl)
    if path is None:
        raise ValueError(f"{impl.name} is a shipped implementation, not a plugin")
    out: list[Mutant] = []
    for name, f in kernel_functions(impl).items():
        if Path(f.func.__code__.co_filename).resolve() != path:
            continue
        src_lines, start = inspect.getsourcelines(f.func)
        src = textwrap.dedent("".join(src_lines)).replace("super()", "super(__dt_owner__, self)")
        tree = ast.parse(src)
        ast.increment_lineno(tree, start - 1)
        body_first = tree.body[0].body[0].lineno  # type: ignore[attr-defined]
        sites = [(line, d) for line, d in _sites(tree)]
        for k, (line, desc) in enumerate(sites):
            if line < body_first:  # default arguments, decorators: not the change
                continue
            mutated = ast.fix_missing_locations(_Apply(k).apply(copy.deepcopy(tree)))
            g = dict(f.func.__globals__)
            g["__dt_owner__"] = f.owner
            exec(compile(mutated, str(path), "exec"), g)
            fn = g[f.func.__name__]
            attr = fn if not isinstance(fn, staticmethod) else fn
            cls = types.new_class(
                f"{impl.__name__}Mutant{len(out)}",
                (impl,),
                exec_body=lambda ns, a=attr, n=name: ns.update({n: a}),
            )
            out.append(Mutant(name, line, desc, cls))
    return out
