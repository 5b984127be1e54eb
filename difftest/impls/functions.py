"""Which methods of an implementation are kernel functions, and where each is written.

A kernel function is a method written in one of the kernel classes (``X86``,
``KvmMain``, ``Mmu``, ``Svm``, ``Vmx``) or in a version class (``Prepatch``,
``Seed``, a plugin, ...). The runtime (``World`` and the oracle's ``Observer``)
and the hardware model (``Hardware``) are not: plugins do not override them.
"""

from __future__ import annotations

import inspect
import types
from dataclasses import dataclass
from typing import Any

from difftest.impls.kernel.hw import Hardware
from difftest.impls.kernel.world import World

# Classes whose methods are not kernel functions.
RUNTIME = tuple(c for c in (*World.__mro__, *Hardware.__mro__) if c is not object)


@dataclass(frozen=True)
class KernelFunction:
    name: str  # attribute name (the kernel's ``__foo`` is ``_foo``)
    func: types.FunctionType  # the plain function
    owner: type  # the class in whose body it is written
    static: bool  # a @staticmethod

    @property
    def module(self) -> str:
        return self.func.__module__


def _owner(func: types.FunctionType) -> type | None:
    """The class whose body defines ``func`` (by qualified name), which is not
    always the class the attribute is found on: ``Final`` borrows ``Seed``'s
    locked body by assignment."""
    module = inspect.getmodule(func)
    obj: Any = module
    parts = func.__qualname__.split(".")
    if len(parts) < 2 or "<locals>" in parts:
        return None
    for p in parts[:-1]:
        obj = getattr(obj, p, None)
    return obj if isinstance(obj, type) else None


def kernel_functions(cls: type) -> dict[str, KernelFunction]:
    """Every kernel function ``cls`` has, resolved as an instance would, by name."""
    out: dict[str, KernelFunction] = {}
    for name in sorted(dir(cls)):
        if name.startswith("__"):
            continue
        for klass in cls.__mro__:
            if name in vars(klass):
                raw = vars(klass)[name]
                break
        else:
            continue
        static = isinstance(raw, staticmethod)
        func = raw.__func__ if static else raw
        if not isinstance(func, types.FunctionType):
            continue
        owner = _owner(func)
        if owner is None or owner in RUNTIME:
            continue
        out[name] = KernelFunction(name, func, owner, static)
    return out


def defined_in(cls: type) -> dict[str, KernelFunction]:
    """The kernel functions written in ``cls``'s own body (what a plugin overrides)."""
    return {n: f for n, f in kernel_functions(cls).items() if f.owner is cls}
