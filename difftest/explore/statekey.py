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

``StateKey`` walks the world with functions generated per class (per layout
of an object's ``__dict__``) that compute exactly the generic walk's key
(``GenericStateKey``), and keys a frame's locals once (the generic position
also keys the frame's ``f_locals`` dict, which holds the same locals).
``tests/test_explore.py`` checks both tell apart the same states.

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


class GenericStateKey:
    """Computes keys for one world by the generic walk; components are interned
    to small ints so that a stored key is a short tuple and equal keys mean equal
    states (no hashing collisions). ``StateKey`` computes the same world keys
    faster; this walk is its reference (``tests/test_explore.py``)."""

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
            mine = set(map(id, loc.values()))
            mine.add(id(loc))
            mine.add(id(None))  # dead slots (see StateKey._position)
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
        return (w, self._pending(pending), *self.pos)

    def _pending(self, pending: Sequence[Point | None]) -> int:
        return self._id(
            tuple(None if p is None else self._local(p) for p in pending)  # type: ignore[arg-type]
        )

    def _id(self, t: Any) -> int:
        i = self.intern.get(t)
        if i is None:
            i = self.intern[t] = len(self.intern)
        return i


# -- the compiled walk ----------------------------------------------------------
#
# ``StateKey`` computes the same world key as ``GenericStateKey._obj`` with one
# generated function per class (per layout of its ``__dict__``): the fields are
# read in the order the generic walk reads them and every value goes through the
# generic ``_val`` unless it is atomic, with an inline fast path for the kind of
# value the field held when the layout was first met (a bound method, a tuple).
# A value of any other kind takes the generic path, so a value the walk cannot
# cover still raises ``UncoveredState``.

_ENV: dict[str, Any] = {"A": _ATOMIC, "MT": types.MethodType, "FT": types.FunctionType, "P": Point}
# (class, top) -> (fields of its last layout, the function); layouts met so far
_DICT_FNS: dict[tuple[type, bool], tuple[frozenset[str], Any]] = {}
_DICT_LAYOUTS: dict[tuple[type, bool, frozenset[str]], tuple[frozenset[str], Any]] = {}
# slotted class -> its function; the classes being compiled
_SLOT_FNS: dict[type, Any] = {}
_COMPILING: set[type] = set()


def _slotted(v: Any) -> type | None:
    """The class of ``v`` if the generic walk keys it as a slotted object
    (``GenericStateKey._obj`` without a ``__dict__``), else None."""
    t = type(v)
    if t is Point or t in _COMPILING or t in _ATOMIC:
        return None
    kind = _KINDS.get(t)
    if kind is None:
        kind = _KINDS[t] = _kind(t)
    if kind is not _OBJ or getattr(v, "__dict__", None) is not None or t.__dictoffset__:
        return None
    return t


def _slot_fn(cls: type, sample: Any) -> Any:
    fn = _SLOT_FNS.get(cls)
    if fn is None:
        _COMPILING.add(cls)
        try:
            fn = _SLOT_FNS[cls] = _compile_slots(cls, sample)
        finally:
            _COMPILING.discard(cls)
    return fn


class _Env:
    """The globals of one generated function: classes met as samples, bound to
    names with their functions."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = dict(_ENV)

    def cls(self, sample: Any) -> str | None:
        """The name of ``sample``'s class if it is inlined (slotted), binding
        ``K<name>`` to its function."""
        t = _slotted(sample)
        if t is None:
            return None
        name = f"C{len(self.names)}"
        self.names[name] = t
        self.names["K" + name] = _slot_fn(t, sample)
        return name

    def define(self, lines: list[str], where: str) -> Any:
        exec(compile("\n".join(lines), f"<state key of {where}>", "exec"), self.names)  # noqa: S102
        return self.names["key"]


def _elem(e: str, w: str, c: str | None = None) -> str:
    """``_val``'s key of ``e``, an item of a list, tuple or dict: inline for an
    atomic value, a function, a lock's own point and a tuple of atomic values,
    none of which is ever labelled, and an object of the inlined class ``c``."""
    head = ""
    if c is not None:
        head = (
            f"(('@', labels[id({e})]) if id({e}) in labels else K{c}({e}, labels, val, slow)) "
            f"if type({e}) is {c} else "
        )
    return (
        f"{head}{e} if type({e}) in A "
        f"else ('point', {e}.op, {e}.obj, {e}.write) if type({e}) is P and {e}.lock is not None "
        f"else ('fn', {e}.__qualname__) if type({e}) is FT "
        f"else ('tuple', *{e}) if type({e}) is tuple and A.issuperset(map(type, {e})) "
        f"else val({e}, {w})"
    )


def _field(x: str, where: str, sample: Any, env: _Env) -> list[str]:
    """Statements turning field variable ``x`` into ``_val``'s key of it (or
    leaving an atomic value as it is), fast for the kind of ``sample``."""
    w = repr(where)
    generic = [f"elif type({x}) not in A:", f"    {x} = val({x}, {w})"]
    t = type(sample)
    if t is types.MethodType:
        # _val: ("method", qualname, _val(self)); a method is never labelled
        return [
            f"if type({x}) is MT:",
            f"    s = {x}.__self__",
            "    r = labels.get(id(s))",
            f"    {x} = ('method', {x}.__func__.__qualname__, "
            f"('@', r) if r is not None else val(s, {w}))",
            *generic,
        ]
    if t is tuple:
        # _val: ("tuple", *items); a tuple is never labelled
        return [
            f"if type({x}) is tuple:",
            f"    {x} = ('tuple', *[{_elem('e', w)} for e in {x}])",
            *generic,
        ]
    if t is list or t is dict:
        # _val: a list or dict met before is keyed by its label, else labelled
        # and keyed by its items (a dict's sorted by the keys' repr)
        first = next(iter(sample if t is list else sample.values()), None)
        c = env.cls(first)
        items = (
            f"('list', *[{_elem('e', w, c)} for e in {x}])"
            if t is list
            else f"('dict', *sorted([(repr(k), {_elem('e', w, c)}) for k, e in {x}.items()]))"
        )
        return [
            f"if type({x}) is {t.__name__}:",
            f"    r = labels.get(id({x}))",
            "    if r is not None:",
            f"        {x} = ('@', r)",
            "    else:",
            f"        labels[id({x})] = len(labels)",
            f"        {x} = {items}",
            *generic,
        ]
    c = env.cls(sample)
    if c is not None:
        # _val: an object met before is keyed by its label, else by _obj
        return [
            f"if type({x}) is {c}:",
            f"    r = labels.get(id({x}))",
            f"    {x} = ('@', r) if r is not None else K{c}({x}, labels, val, slow)",
            *generic,
        ]
    return [f"if type({x}) not in A:", f"    {x} = val({x}, {w})"]


def _compile_dict(cls: type, d: dict[str, Any], top: bool) -> Any:
    """``GenericStateKey._obj`` for an object of ``cls`` with the fields of ``d``."""
    env = _Env()
    lines = ["def key(o, d, labels, val, slow):", "    labels[id(o)] = len(labels)"]
    out = [repr(cls.__name__)]
    for i, (n, v) in enumerate(sorted(d.items())):
        if top and n in SKIP:
            continue
        x = f"x{i}"
        lines.append(f"    {x} = d[{n!r}]")
        if n in STEP_INDEX:
            body = [f"{x} = {x} is not None"]
        elif top and n == "findings":
            body = [
                f"if type({x}) not in A:",
                f"    {x} = tuple(sorted({{f.kind.value for f in {x}}}))",
            ]
        else:
            body = _field(x, n, v, env)
        lines += ["    " + b for b in body]
        out.append(f"({n!r}, {x})")
    lines.append(f"    return ({', '.join(out)},)")
    return env.define(lines, cls.__qualname__)


def _compile_slots(cls: type, sample: Any) -> Any:
    """``StateKey._obj`` for an object of slotted class ``cls``: its slots read
    at once (sorted; on an unset one, the generic walk), then keyed as
    ``GenericStateKey._obj`` keys them."""
    env = _Env()
    names = _slots(cls)
    xs = [f"x{i}" for i in range(len(names))]
    name = repr(cls.__name__)
    if not names:
        lines = ["def key(o, labels, val, slow):", "    labels[id(o)] = len(labels)"]
        return env.define([*lines, f"    return ({name},)"], cls.__qualname__)
    env.names["GET"] = (
        operator.attrgetter(*names) if len(names) > 1 else (lambda o: (getattr(o, names[0]),))
    )
    lines = [
        "def key(o, labels, val, slow):",
        "    try:",
        "        vals = GET(o)",
        "    except AttributeError:  # an unset slot",
        f"        return slow(o, {cls.__name__!r})",
        "    labels[id(o)] = len(labels)",
    ]
    steps = [i for i, n in enumerate(names) if n in STEP_INDEX]
    lines.append(f"    {', '.join(xs)}, = vals")
    for i in steps:
        lines.append(f"    x{i} = x{i} is not None")
    if steps:
        lines.append(f"    vals = ({', '.join(xs)},)")
    lines += [
        "    if A.issuperset(map(type, vals)):",
        f"        return ({name}, *vals)",
    ]
    for i, n in enumerate(names):
        if i not in steps:
            lines += ["    " + b for b in _field(f"x{i}", n, getattr(sample, n, None), env)]
    lines.append(f"    return ({name}, {', '.join(xs)},)")
    return env.define(lines, cls.__qualname__)


class StateKey(GenericStateKey):
    """The state key, with the world walked by compiled per-class functions (the
    same world key as ``GenericStateKey``) and thread positions read in one pass
    per frame."""

    def _obj(self, obj: Any, where: str, *, top: bool = False) -> tuple[Any, ...]:
        cls = type(obj)
        d = getattr(obj, "__dict__", None)
        if d is None:
            fn = _SLOT_FNS.get(cls)
            if fn is None:
                if cls in _COMPILING or cls.__dictoffset__:
                    return super()._obj(obj, where, top=top)
                fn = _slot_fn(cls, obj)
            return fn(obj, self.labels, self._val, self._slow)  # type: ignore[no-any-return]
        fn = _DICT_FNS.get((cls, top))
        if fn is None or d.keys() != fn[0]:
            layout = frozenset(d)
            fn = _DICT_LAYOUTS.get((cls, top, layout))
            if fn is None:
                fn = _DICT_LAYOUTS[cls, top, layout] = (layout, _compile_dict(cls, d, top))
            _DICT_FNS[cls, top] = fn
        return fn[1](obj, d, self.labels, self._val, self._slow)  # type: ignore[no-any-return]

    def _pending(self, pending: Sequence[Point | None]) -> int:
        """As ``GenericStateKey._pending``, inline for a point (never labelled
        unless the world holds it) whose predicate is none or a method of a
        labelled object (a lock's)."""
        labels, refs = self.labels, self.refs
        out: list[Any] = []
        for p in pending:
            if p is None:
                out.append(None)
                continue
            if type(p) is Point and id(p) not in labels:
                ready = p.ready
                if ready is None:
                    out.append(("point", p.op, p.obj, p.write, None))
                    continue
                if type(ready) is types.MethodType:
                    s = ready.__self__
                    r = labels.get(id(s))
                    if r is not None:
                        refs.append((id(s), r))
                        m = ("method", ready.__func__.__qualname__, ("@", r))
                        out.append(("point", p.op, p.obj, p.write, m))
                        continue
            out.append(self._local(p))
        return self._id(tuple(out))

    def _slow(self, obj: Any, where: str) -> tuple[Any, ...]:
        """The generic walk of an object with an unset slot."""
        return GenericStateKey._obj(self, obj, where)

    def _position(self, tid: int) -> int:
        """As ``GenericStateKey._position``, in one pass over each frame's locals
        and what it holds, and with the locals keyed once: the generic position
        also keys the frame's ``f_locals`` dict, seen on the frame as a referent,
        which holds exactly the locals."""
        parts: list[Any] = []
        local, atomic, labels, refs = self._local, _ATOMIC, self.labels, self.refs
        g = self.gens[tid]
        while g is not None:
            f = g.gi_frame
            if f is None:
                parts.append("finished")
                break
            code = g.gi_code
            loc = f.f_locals
            # Locals by name: f_locals lists a cell variable (one a closure shares)
            # where the frame's cached dict first saw it, so its order depends on
            # the interpreter's history, not on the state.
            names = sorted(loc)
            vals = []
            for k in names:
                x = loc[k]
                t = type(x)
                if t in atomic:
                    vals.append(x)
                    continue
                r = labels.get(id(x))
                if r is not None:
                    refs.append((id(x), r))
                    vals.append(("@", r))
                elif t is tuple and atomic.issuperset(map(type, x)):
                    vals.append(("tuple", *x))
                else:
                    vals.append(local(x))
            held = gc.get_referents(g)
            # A generator's referents start with its code, name and qualname, its
            # frame, the frame's f_locals, function and code: all of which the
            # filter below drops; then come the locals and the value stack.
            if (
                len(held) >= 7
                and held[3] is f
                and held[4] is loc
                and held[0] is code
                and held[6] is code
                and type(held[5]) is types.FunctionType
            ):
                held = held[7:]
            stack = []
            if held:
                mine = set(map(id, loc.values()))
                mine.add(id(loc))
                # A None there is a dead slot: the stack's depth is fixed at an
                # offset, and gc lists such a slot as None or skips it (NULL)
                # depending on how far the interpreter specialised the code.
                mine.add(id(None))
                for x in held:
                    if id(x) in mine or isinstance(x, _FRAME_OWN):
                        continue
                    t = type(x)
                    if t in atomic:
                        stack.append(x)
                        continue
                    r = labels.get(id(x))
                    if r is not None:
                        refs.append((id(x), r))
                        stack.append(("@", r))
                    elif t is types.GeneratorType:
                        s = x.gi_frame
                        stack.append(("gen", x.gi_code, s.f_lasti if s is not None else None))
                    else:
                        stack.append(local(x))
            parts.append((code, f.f_lasti, tuple(names), tuple(vals), tuple(stack)))
            g = g.gi_yieldfrom
        return self._id(tuple(parts))
