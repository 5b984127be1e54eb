"""The layout shows the architecture: front-ends depend on the core, never the
reverse. The engine, model, kernel model, oracle, searches and reports import
neither a front-end (``difftest.frontends``) nor the plugin tools
(``difftest.plugin``), which only front-ends use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "difftest"
UPPER = ("difftest.frontends", "difftest.plugin")
# Modules allowed to import the upper layers: the layers themselves and the entry point.
ALLOWED = {"frontends", "plugin", "__main__.py"}


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


CORE = sorted(p for p in PKG.rglob("*.py") if p.relative_to(PKG).parts[0] not in ALLOWED)


def test_core_modules_are_found() -> None:
    names = {p.relative_to(PKG).parts[0] for p in CORE}
    assert {"engine", "impls", "oracle", "model", "explore", "search", "check.py"} <= names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PKG)))
def test_core_imports_no_front_end(path: Path) -> None:
    bad = [
        f"{path.relative_to(PKG)}:{line} imports {mod}"
        for line, mod in _imports(path)
        if any(mod == u or mod.startswith(u + ".") for u in UPPER)
    ]
    assert not bad, bad
