"""A canonical key for the state of an execution: the world plus where each thread is.

Two prefixes that end in equal keys have the same futures (the same schedules
are possible from there and lead to the same findings and final states), so a
stateful search may explore only one of them. What the key covers:

- **The world**, walked generically from the world object: every attribute of
  every object reachable from it (the VM, the vCPUs, the locks, and whatever
  oracle or observer objects hang off it), every element of its lists, dicts
  and tuples. An object met a second time is keyed by the order it was first met
  in, so aliasing is part of the key. A value of a type the walk does not know
  is an error, never silently dropped: a state that is not covered could merge
  two states with different futures.
- **Each thread's position**: for every generator frame of its ``yield from``
  chain, the code object, the instruction offset (``gi_frame.f_lasti``), the
  locals (objects of the world by that label) and what the frame's value stack
  holds (a ``for`` loop's iterator and its index, found through
  ``gc.get_referents``), plus the pending ``Point`` and its ``ready`` predicate.

Left out, because nothing in a run reads them to decide anything: the
executor's scaffolding (``current``, ``now``), the scenario (fixed per search),
and the step indices inside findings and ``ghost_blind_since`` (they only go
into messages). Findings are keyed by their kinds: an outcome is its final
state and the kinds of its findings.
"""

from __future__ import annotations

import enum
import functools
import gc
import operator
import types
from collections.abc import Sequence
from typing import Any

from difftest.engine.points import Point

# World attributes that carry no information between steps, or are constant.
SKIP = frozenset({"current", "now", "scenario", "thread_names", "name"})
# Step indices kept only for messages: keyed by whether they are set.
STEP_INDEX = frozenset({"ghost_blind_since"})

_ATOMS = (type(None), bool, int, float, str, bytes, enum.Enum)
_ATOM_TYPES = frozenset({type(None), bool, int, float, str, bytes})
_FRAME_OWN = (types.CodeType, types.FunctionType, types.FrameType, str)  # its own code, names
_UNSET = "<unset slot>"  # compared by identity
_SLOTS: dict[type, tuple[str, ...]] = {}
_name = operator.itemgetter(0)


def _slots(cls: type) -> tuple[str, ...]:
    names = _SLOTS.get(cls)
    if names is None:
        names = _SLOTS[cls] = tuple(
            sorted({n for c in cls.__mro__ for n in getattr(c, "__slots__", ())})
        )
    return names


# Kinds of value, decided once per type (in the order the walks test them).
_ATOM, _LOCK_POINT_OR_OBJ, _SEQ, _DICT, _SET, _METHOD, _PARTIAL, _FUNCTION, _OBJ, _OTHER = (
    object() for _ in range(10)
)
_KINDS: dict[type, object] = {}
# Types whose values are keyed as they are (immutable, compared by value); grows
# by the enum types met.
_ATOMIC: set[type] = set(_ATOM_TYPES) | {type(_UNSET)}
_SHAPES: dict[type, tuple[Any, frozenset[int]]] = {}


def _kind(t: type) -> object:
    if issubclass(t, _ATOMS):
        if issubclass(t, enum.Enum):
            _ATOMIC.add(t)
        return _ATOM
    if t is Point:
        return _LOCK_POINT_OR_OBJ
    if issubclass(t, (list, tuple)):
        return _SEQ
    if issubclass(t, dict):
        return _DICT
    if issubclass(t, (set, frozenset)):
        return _SET
    if issubclass(t, types.MethodType):
        return _METHOD
    if issubclass(t, functools.partial):
        return _PARTIAL
    if issubclass(t, types.FunctionType):
        return _FUNCTION
    if hasattr(t, "__slots__") or t.__dictoffset__ != 0:
        return _OBJ
    return _OTHER


def _shape(cls: type) -> tuple[Any, frozenset[int]]:
    """A slotted class's getter of every slot, and which slots are step indices."""
    names = _slots(cls)
    get = operator.attrgetter(*names) if len(names) > 1 else (lambda o: (getattr(o, names[0]),))
    return get, frozenset(i for i, n in enumerate(names) if n in STEP_INDEX)


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
        self.labels: dict[int, int] = {}
        self.pos: list[int] = []
        self.cached: list[tuple[int, tuple[tuple[int, int], ...]] | None] = [None] * len(gens)
        self.refs: list[tuple[int, int]] = []  # (id, label) of world objects a position names

    # -- the world ----------------------------------------------------------

    def world_key(self) -> int:
        self.labels = {}
        return self._id(("W", self._obj(self.world, "world", top=True)))

    def _obj(self, obj: Any, where: str, *, top: bool = False) -> tuple[Any, ...]:
        """An object's fields; the object is labelled by the order it was met in."""
        self.labels[id(obj)] = len(self.labels)
        d = getattr(obj, "__dict__", None)
        val = self._val
        if d is None:
            cls = type(obj)
            shape = _SHAPES.get(cls)
            if shape is None:
                shape = _SHAPES[cls] = _shape(cls)
            get, steps = shape
            try:
                vals = get(obj)
            except AttributeError:  # an unset slot
                vals = tuple(getattr(obj, n, _UNSET) for n in _slots(cls))
            if steps:
                vals = list(vals)
                for i in steps:
                    vals[i] = vals[i] is not None
            if _ATOMIC.issuperset(map(type, vals)):
                return (cls.__name__, *vals)
            return (
                cls.__name__,
                *(v if type(v) in _ATOMIC or v is _UNSET else val(v, where) for v in vals),
            )
        out: list[Any] = [type(obj).__name__]
        for n, v in sorted(d.items()):
            if top and n in SKIP:
                continue
            if n in STEP_INDEX:
                v = v is not None
            elif type(v) in _ATOMIC:
                pass
            elif top and n == "findings":
                v = tuple(sorted({f.kind.value for f in v}))
            else:
                v = val(v, n)
            out.append((n, v))
        return tuple(out)

    def _val(self, v: Any, where: str) -> Any:
        t = type(v)
        if t in _ATOMIC:
            return v
        kind = _KINDS.get(t)
        if kind is None:
            kind = _KINDS[t] = _kind(t)
        if kind is _ATOM:
            return v
        ref = self.labels.get(id(v))
        if ref is not None:
            return ("@", ref)
        if kind is _LOCK_POINT_OR_OBJ:
            if v.lock is not None:
                # a lock's own point (the lock holds them): immutable, its
                # predicate and lock are the lock's own
                return ("point", v.op, v.obj, v.write)
            return self._obj(v, where)
        if kind is _SEQ:
            if isinstance(v, list):  # identity matters for what can change, not for tuples
                self.labels[id(v)] = len(self.labels)
            val = self._val
            return (t.__name__, *(x if type(x) in _ATOMIC else val(x, where) for x in v))
        if kind is _DICT:
            self.labels[id(v)] = len(self.labels)
            return ("dict", *sorted((repr(k), self._val(x, where)) for k, x in v.items()))
        if kind is _SET:
            return ("set", *sorted(repr(x) for x in v))
        if kind is _METHOD:
            return ("method", v.__func__.__qualname__, self._val(v.__self__, where))
        if kind is _FUNCTION:
            return ("fn", v.__qualname__)
        if kind is _PARTIAL:
            val = self._val
            return ("partial", val(v.func, where), val(v.args, where), val(v.keywords, where))
        if kind is _OBJ:
            return self._obj(v, where)
        raise UncoveredState(f"state key: cannot cover {where} of type {t.__name__}")

    # -- thread positions -----------------------------------------------------

    def ran(self, tid: int) -> None:
        """Thread ``tid`` ran a step: its frames changed. Another thread's frames
        did not, so its position is reused while the world objects it refers to
        keep their labels."""
        self.cached[tid] = None

    def _position(self, tid: int) -> int:
        parts: list[Any] = []
        local, atomic = self._local, _ATOMIC
        g = self.gens[tid]
        while g is not None:
            f = g.gi_frame
            if f is None:
                parts.append("finished")
                break
            loc = f.f_locals
            # Not the locals themselves, nor the dict f_locals returns (CPython 3.11
            # keeps it on the frame, and gc lists it once it exists), nor a None:
            # the stack's depth is fixed at an instruction offset, and a slot gc
            # reports as None in one visit and skips (NULL) in another, depending
            # on how far the interpreter has specialised the code, is dead. Each
            # would key one position two ways, the first search in a process
            # differently from the next.
            mine = set(map(id, loc.values()))
            mine.add(id(loc))
            mine.add(id(None))
            # What the frame holds besides its locals: its value stack, where a
            # ``for`` loop keeps its iterator (gc sees the stack; f_locals does not).
            stack = tuple(
                r if type(r) in atomic else local(r)
                for r in gc.get_referents(g)
                if id(r) not in mine and not isinstance(r, _FRAME_OWN)
            )
            parts.append(
                (
                    g.gi_code,
                    f.f_lasti,
                    # by name: f_locals lists a cell variable (one a closure
                    # shares) where the frame's cached dict first saw it
                    tuple(
                        (k, x if type(x) in atomic else local(x))
                        for k, x in sorted(loc.items(), key=_name)
                    ),
                    stack,
                )
            )
            g = g.gi_yieldfrom
        return self._id(tuple(parts))

    def _local(self, v: Any) -> Any:
        t = type(v)
        if t in _ATOMIC:
            return v
        kind = _KINDS.get(t)
        if kind is None:
            kind = _KINDS[t] = _kind(t)
        if kind is _ATOM:
            return v
        ref = self.labels.get(id(v))
        if ref is not None:
            self.refs.append((id(v), ref))
            return ("@", ref)
        if v is self.world:
            return ("@", "w")
        if kind is _SEQ:  # a list of the frame's own
            return (t.__name__, *(self._local(x) for x in v))
        if kind is _DICT:
            return ("dict", *sorted((repr(k), self._local(x)) for k, x in v.items()))
        if isinstance(v, type):  # the __class__ cell of a method that calls super()
            return ("type", v.__module__, v.__qualname__)
        if kind is _LOCK_POINT_OR_OBJ:
            return ("point", v.op, v.obj, v.write, self._local(v.ready))
        if kind is _METHOD:
            return ("method", v.__func__.__qualname__, self._local(v.__self__))
        if kind is _PARTIAL:
            return ("partial", self._local(v.func), self._local(v.args), self._local(v.keywords))
        if kind is _FUNCTION:
            cells = v.__closure__ or ()
            return ("fn", v.__code__, tuple(self._local(c.cell_contents) for c in cells))
        if t is types.CellType:  # a local that a closure shares
            try:
                return ("cell", self._local(v.cell_contents))
            except ValueError:
                return ("cell",)
        if t.__name__.endswith("iterator") and hasattr(v, "__reduce__"):
            _, args, *state = v.__reduce__()  # e.g. (iter, (seq,), index)
            return ("iter", t.__name__, self._local(args), tuple(state))
        if t is types.GeneratorType:
            return ("gen", v.gi_code, v.gi_frame.f_lasti if v.gi_frame else None)
        raise UncoveredState(f"state key: cannot cover a thread local of type {t.__name__}")

    def key(self, pending: Sequence[Point | None]) -> tuple[int, ...]:
        """The state now: world, positions, pending steps."""
        w = self.world_key()  # labels first: locals refer to world objects by label
        labels = self.labels
        for i, c in enumerate(self.cached):
            if c is not None and all(labels.get(o) == r for o, r in c[1]):
                self.pos[i] = c[0]
                continue
            self.refs = []
            pos = self._position(i)
            if len(self.pos) <= i:
                self.pos.append(pos)
            else:
                self.pos[i] = pos
            self.cached[i] = (pos, tuple(self.refs))
        pend = self._id(
            tuple(None if p is None else self._local(p) for p in pending)  # type: ignore[arg-type]
        )
        return (w, pend, *self.pos)

    def _id(self, t: Any) -> int:
        i = self.intern.get(t)
        if i is None:
            i = self.intern[t] = len(self.intern)
        return i
