"""A canonical key for the state of an execution: the world plus where each thread is.

Two prefixes that end in equal keys have the same futures (the same schedules
are possible from there and lead to the same findings and final states), so a
stateful search may explore only one of them. What the key covers:

- **The world**, walked generically from the world object: every attribute of
  every object reachable from it (the VM, the vCPUs, the locks, and whatever
  oracle or observer objects hang off it), every element of its lists, dicts
  and tuples. An object met a second time is keyed by the path it was first met
  at, so aliasing is part of the key. A value of a type the walk does not know
  is an error, never silently dropped: a state that is not covered could merge
  two states with different futures.
- **Each thread's position**: for every generator frame of its ``yield from``
  chain, the code object, the instruction offset (``gi_frame.f_lasti``) and the
  locals (objects of the world by their path), plus the pending ``Point`` and
  its ``ready`` predicate.

Left out, because nothing in a run reads them to decide anything: the
executor's scaffolding (``current``, ``now``), the scenario (fixed per search),
and the step indices inside findings and ``ghost_blind_since`` (they only go
into messages). Findings are keyed by their kinds: an outcome is its final
state and the kinds of its findings.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Sequence
from typing import Any

from difftest.engine.points import Point

# World attributes that carry no information between steps, or are constant.
SKIP = frozenset({"current", "now", "scenario", "thread_names", "name"})
# Step indices kept only for messages: keyed by whether they are set.
STEP_INDEX = frozenset({"ghost_blind_since"})

_ATOMS = (type(None), bool, int, float, str, bytes, enum.Enum)


class UncoveredState(TypeError):
    """The state holds a value the key cannot cover."""


class StateKey:
    """Computes keys for one world; components are interned to small ints so that
    a stored key is a short tuple and equal keys mean equal states (no hashing
    collisions)."""

    def __init__(self, world: Any, gens: Sequence[Any], intern: dict[Any, int]) -> None:
        self.world = world
        self.gens = gens
        self.intern = intern
        self.labels: dict[int, str] = {}
        self.pos: list[int] = []

    # -- the world ----------------------------------------------------------

    def world_key(self) -> int:
        self.labels = {}
        return self._id(("W", self._obj(self.world, "w", top=True)))

    def _obj(self, obj: Any, path: str, *, top: bool = False) -> tuple[Any, ...]:
        self.labels[id(obj)] = path
        if hasattr(obj, "__dict__"):
            names = sorted(vars(obj))
        else:
            names = sorted({n for c in type(obj).__mro__ for n in getattr(c, "__slots__", ())})
        out: list[Any] = [type(obj).__name__]
        for n in names:
            if top and n in SKIP or n.startswith("__"):
                continue
            if not hasattr(obj, n):
                continue
            v = getattr(obj, n)
            if n in STEP_INDEX:
                out.append((n, v is not None))
            elif top and n == "findings":
                out.append((n, tuple(sorted({f.kind.value for f in v}))))
            else:
                out.append((n, self._val(v, f"{path}.{n}")))
        return tuple(out)

    def _val(self, v: Any, path: str) -> Any:
        if isinstance(v, _ATOMS):
            return v
        ref = self.labels.get(id(v))
        if ref is not None:
            return ("@", ref)
        if isinstance(v, (list, tuple)):
            self.labels[id(v)] = path
            return (type(v).__name__, *(self._val(x, f"{path}[{i}]") for i, x in enumerate(v)))
        if isinstance(v, dict):
            self.labels[id(v)] = path
            return (
                "dict",
                *sorted((repr(k), self._val(x, f"{path}[{k!r}]")) for k, x in v.items()),
            )
        if isinstance(v, (set, frozenset)):
            return ("set", *sorted(repr(x) for x in v))
        if isinstance(v, types.MethodType):
            return ("method", v.__func__.__qualname__, self._val(v.__self__, path + ".__self__"))
        if isinstance(v, types.FunctionType):
            return ("fn", v.__qualname__)
        if hasattr(v, "__dict__") or hasattr(type(v), "__slots__"):
            return self._obj(v, path)
        raise UncoveredState(f"state key: cannot cover {path} of type {type(v).__name__}")

    # -- thread positions -----------------------------------------------------

    def ran(self, tid: int) -> None:
        """Only the thread that ran moved; the others keep their positions."""
        self.pos[tid] = self._position(tid)

    def _position(self, tid: int) -> int:
        parts: list[Any] = []
        g = self.gens[tid]
        while g is not None:
            f = g.gi_frame
            if f is None:
                parts.append("finished")
                break
            loc = f.f_locals
            parts.append(
                (
                    g.gi_code,
                    f.f_lasti,
                    tuple((k, self._local(x)) for k, x in loc.items()),
                )
            )
            g = g.gi_yieldfrom
        return self._id(tuple(parts))

    def _local(self, v: Any) -> Any:
        if isinstance(v, _ATOMS):
            return v
        ref = self.labels.get(id(v))
        if ref is not None:
            return ("@", ref)
        if v is self.world:
            return ("@", "w")
        if isinstance(v, (tuple, list)):  # a list of the frame's own
            return (type(v).__name__, *(self._local(x) for x in v))
        if isinstance(v, dict):
            return ("dict", *sorted((repr(k), self._local(x)) for k, x in v.items()))
        if isinstance(v, type):  # the __class__ cell of a method that calls super()
            return ("type", v.__module__, v.__qualname__)
        if isinstance(v, Point):
            return ("point", v.op, v.obj, v.write, self._local(v.ready))
        if isinstance(v, types.MethodType):
            return ("method", v.__func__.__qualname__, self._local(v.__self__))
        if isinstance(v, types.FunctionType):
            cells = v.__closure__ or ()
            return ("fn", v.__code__, tuple(self._local(c.cell_contents) for c in cells))
        if isinstance(v, types.GeneratorType):
            return ("gen", v.gi_code, v.gi_frame.f_lasti if v.gi_frame else None)
        raise UncoveredState(f"state key: cannot cover a thread local of type {type(v).__name__}")

    def key(self, pending: Sequence[Point | None]) -> tuple[int, ...]:
        """The state now: world, positions, pending steps."""
        w = self.world_key()  # labels first: locals refer to world objects by path
        self.pos = [self._position(i) for i in range(len(self.gens))]
        pend = self._id(
            tuple(None if p is None else self._local(p) for p in pending)  # type: ignore[arg-type]
        )
        return (w, pend, *self.pos)

    def _id(self, t: Any) -> int:
        i = self.intern.get(t)
        if i is None:
            i = self.intern[t] = len(self.intern)
        return i
