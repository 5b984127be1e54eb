"""Dynamic footprints: which shared locations a step really read and wrote.

The ``Point`` annotations name the access a step is about; the code between two
yields may touch more (an oracle check, a ghost record, ``ack_ipi``). A partial
order reduction that trusted them could skip an interleaving that matters, so the
explorer instruments one world per execution instead: every attribute of the
world, the VM, the vCPUs and the locks, and every element of their lists and
dicts, logs its reads and writes while a step runs. Nothing is logged between
steps (the executor's ``ready`` checks), and ``current``/``now`` are the
executor's own bookkeeping, not shared state.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any

from difftest.engine.sync import Atomic, Mutex, RwSem
from difftest.model.state import VM, VCpu

# The world attributes the executor sets before each step: the running thread and
# the step index. They carry no information between threads.
_SCAFFOLD = frozenset({"current", "now"})


# The value of a location that is not known (a container changed as a whole).
UNKNOWN = object()
# A dict key that is not there.
ABSENT = object()


class Footprint:
    """Locations read, written, and "touched" (an element of a container was
    written: conflicts with a read of the whole container, not with another
    element's write).

    ``old`` holds each written location's value before the step wrote it, and
    ``values`` (only when the tracker was asked for values) each read location's
    value, so that optimal DPOR can tell whether a step moved in front of others
    would see what it saw (``odpor``). ``halts``: see ``__init__``."""

    __slots__ = ("reads", "writes", "touches", "old", "values", "halts")

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.touches: set[str] = set()
        self.old: dict[str, object] = {}
        self.values: dict[str, object] | None = None
        # The step ended the execution (a bug halted it): whatever another thread
        # does before it changes the final state, so it conflicts with every step.
        self.halts = False

    def conflicts(self, other: Footprint) -> bool:
        if self.halts or other.halts:
            return True
        w, ow = self.writes, other.writes
        if w and not (w.isdisjoint(other.reads) and w.isdisjoint(ow)):
            return True
        if w and not w.isdisjoint(other.touches):
            return True
        if ow and not (ow.isdisjoint(self.reads) and ow.isdisjoint(self.touches)):
            return True
        if self.touches and not self.touches.isdisjoint(other.reads):
            return True
        return bool(other.touches) and not other.touches.isdisjoint(self.reads)

    def __repr__(self) -> str:
        return f"Footprint(r={sorted(self.reads)}, w={sorted(self.writes)})"


class Tracker:
    """Collects the footprint of the step in progress; ``fp`` is None between steps."""

    def __init__(self) -> None:
        self.fp: Footprint | None = None
        # owner label -> instrumented object or container (of the current world)
        self.where: dict[str, Any] = {}

    def start(self, values: bool = False) -> Footprint:
        self.fp = Footprint()
        if values:
            self.fp.values = {}
        return self.fp

    def stop(self) -> Footprint | None:
        fp, self.fp = self.fp, None
        return fp


def _label(obj: object) -> str:
    return object.__getattribute__(obj, "_dt_label")


def _saw(fp: Footprint, label: str, value: object) -> None:
    """Record the value a read saw, unless the step wrote the location first."""
    assert fp.values is not None
    if label not in fp.values and label not in fp.writes:
        fp.values[label] = value


def _wrote(fp: Footprint, label: str, old: object) -> None:
    """Record a write and, at the step's first write there, the value before it."""
    if label not in fp.writes:
        fp.writes.add(label)
        fp.old[label] = old


class TrackedList(list):
    """A list that logs element reads/writes (``L[i]``) and whole-list accesses
    (``L``); a structural change (append, pop, ...) writes both ``L`` and ``L~``,
    which every element read also reads."""

    __slots__ = ("_dt_label", "_dt_tracker")

    def _r(self, i: object = None) -> None:
        fp = self._dt_tracker.fp
        if fp is not None:
            shape = self._dt_label + "~"
            fp.reads.add(shape)
            if isinstance(i, int):
                n = len(self)  # tracked: an element read also reads the whole list
                at = f"{self._dt_label}[{i % n if n else i}]"
                fp.reads.add(at)
                if fp.values is not None and -n <= i < n:
                    _saw(fp, at, list.__getitem__(self, i))
            else:
                n = list.__len__(self)
                fp.reads.add(self._dt_label)
                if fp.values is not None:
                    _saw(fp, self._dt_label, tuple(list.__iter__(self)))
            if fp.values is not None:
                _saw(fp, shape, n)

    def _w(self, i: object = None) -> None:
        fp = self._dt_tracker.fp
        if fp is not None:
            if isinstance(i, int):
                n = len(self)
                at = f"{self._dt_label}[{i % n if n else i}]"
                _wrote(fp, at, list.__getitem__(self, i) if -n <= i < n else UNKNOWN)
                fp.touches.add(self._dt_label)
            else:
                _wrote(fp, self._dt_label, UNKNOWN)
                _wrote(fp, self._dt_label + "~", UNKNOWN)

    def __getitem__(self, i: Any) -> Any:
        self._r(i)
        return list.__getitem__(self, i)

    def __setitem__(self, i: Any, v: Any) -> None:
        self._w(i)
        list.__setitem__(self, i, v)


def _list_method(name: str, write: bool) -> Any:
    base = getattr(list, name)

    def method(self: TrackedList, *a: Any, **k: Any) -> Any:
        (self._w if write else self._r)()
        return base(self, *a, **k)

    method.__name__ = name
    return method


for _n in (
    "__iter__",
    "__len__",
    "__contains__",
    "__reversed__",
    "index",
    "count",
    "copy",
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__add__",
    "__mul__",
    "__rmul__",
    "__repr__",
):
    setattr(TrackedList, _n, _list_method(_n, False))
for _n in (
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "clear",
    "sort",
    "reverse",
    "__delitem__",
    "__iadd__",
    "__imul__",
):
    setattr(TrackedList, _n, _list_method(_n, True))


class TrackedDict(dict):
    """A dict that logs per-key reads/writes (``D[k]``) and whole-dict accesses."""

    __slots__ = ("_dt_label", "_dt_tracker")

    def _key(self, op: str, k: object) -> None:
        fp = self._dt_tracker.fp
        if fp is not None:
            at = f"{self._dt_label}[{k!r}]"
            if op == "r":
                fp.reads.add(at)
                fp.reads.add(self._dt_label + "~")
                if fp.values is not None:
                    _saw(fp, at, dict.get(self, k, ABSENT))
                    _saw(fp, self._dt_label + "~", tuple(dict.keys(self)))
            else:
                _wrote(fp, at, dict.get(self, k, ABSENT))
                fp.touches.add(self._dt_label)
                # adding a key changes the key set
                if not dict.__contains__(self, k):
                    _wrote(fp, self._dt_label + "~", tuple(dict.keys(self)))

    def __getitem__(self, k: Any) -> Any:
        self._key("r", k)
        return dict.__getitem__(self, k)

    def get(self, k: Any, default: Any = None) -> Any:
        self._key("r", k)
        return dict.get(self, k, default)

    def __contains__(self, k: object) -> bool:
        self._key("r", k)
        return dict.__contains__(self, k)

    def __setitem__(self, k: Any, v: Any) -> None:
        self._key("w", k)
        dict.__setitem__(self, k, v)


def _dict_method(name: str, write: bool) -> Any:
    base = getattr(dict, name)

    def method(self: TrackedDict, *a: Any, **k: Any) -> Any:
        fp = self._dt_tracker.fp
        if fp is not None:
            if write:
                _wrote(fp, self._dt_label, UNKNOWN)
                _wrote(fp, self._dt_label + "~", UNKNOWN)
            else:
                fp.reads.add(self._dt_label)
                fp.reads.add(self._dt_label + "~")
                if fp.values is not None:
                    _saw(fp, self._dt_label, tuple(dict.items(self)))
                    _saw(fp, self._dt_label + "~", tuple(dict.keys(self)))
        return base(self, *a, **k)

    method.__name__ = name
    return method


for _n in (
    "__iter__",
    "__len__",
    "keys",
    "values",
    "items",
    "copy",
    "__eq__",
    "__ne__",
    "__repr__",
    "__or__",
):
    setattr(TrackedDict, _n, _dict_method(_n, False))
for _n in ("__delitem__", "setdefault", "pop", "popitem", "update", "clear", "__ior__"):
    setattr(TrackedDict, _n, _dict_method(_n, True))


_SUBCLASSES: dict[type, type] = {}


def _tracked_class(cls: type) -> type:
    """A subclass of ``cls`` that logs attribute accesses of its instances.

    For slotted classes every slot is state; for ``__dict__`` classes (the world)
    only instance attributes are, not methods or class constants.
    """
    if cls in _SUBCLASSES:
        return _SUBCLASSES[cls]
    slotted = cls.__dictoffset__ == 0

    def getattribute(self: Any, name: str) -> Any:
        v = object.__getattribute__(self, name)
        t = _TRACKERS.get(id(self))
        if (
            t is not None
            and t.fp is not None
            and name not in _SCAFFOLD
            and (slotted or name in object.__getattribute__(self, "__dict__"))
        ):
            label = f"{_LABELS[id(self)]}.{name}"
            t.fp.reads.add(label)
            if t.fp.values is not None:
                _saw(t.fp, label, v)
        return v

    def setattr_(self: Any, name: str, value: Any) -> None:
        t = _TRACKERS.get(id(self))
        if t is not None and t.fp is not None and name not in _SCAFFOLD:
            label = f"{_LABELS[id(self)]}.{name}"
            if label not in t.fp.writes:
                try:
                    old = object.__getattribute__(self, name)
                except AttributeError:
                    old = ABSENT
                _wrote(t.fp, label, old)
        object.__setattr__(self, name, value)

    ns: dict[str, Any] = {"__getattribute__": getattribute, "__setattr__": setattr_}
    if slotted:
        ns["__slots__"] = ()
    sub = type(f"Tracked{cls.__name__}", (cls,), ns)
    _SUBCLASSES[cls] = sub
    return sub


# Per-object tracker and label, keyed by id(); entries live as long as the
# instrumented world (see ``release``).
_TRACKERS: dict[int, Tracker] = {}
_LABELS: dict[int, str] = {}


def _wrap(value: Any, label: str, tracker: Tracker, keep: list[Any]) -> Any:
    if isinstance(value, (VM, VCpu, RwSem, Mutex, Atomic)):
        _instrument_obj(value, label, tracker, keep)
        return value
    if type(value) is list:
        new = TrackedList(_wrap(x, f"{label}[{i}]", tracker, keep) for i, x in enumerate(value))
        new._dt_label = label
        new._dt_tracker = tracker
        tracker.where[label] = new
        return new
    if type(value) is dict:
        new_d = TrackedDict(value)
        new_d._dt_label = label
        new_d._dt_tracker = tracker
        tracker.where[label] = new_d
        return new_d
    if value is None or isinstance(value, (int, str, float, tuple, frozenset, bytes)):
        return value
    if isinstance(value, types.MethodType):
        return value  # vendor dispatch bound at construction (kvm_x86_ops)
    if dataclasses.is_dataclass(value) and type(value).__dataclass_params__.frozen:
        return value  # the scenario: immutable
    raise TypeError(f"explorer cannot track shared state {label} of type {type(value).__name__}")


def _instrument_obj(obj: Any, label: str, tracker: Tracker, keep: list[Any]) -> None:
    if isinstance(obj, VCpu):
        label = obj.name
    elif isinstance(obj, (RwSem, Mutex)):
        label = f"lock:{obj.name}"
    elif isinstance(obj, Atomic):
        label = f"atomic:{obj.name}"
    _TRACKERS[id(obj)] = tracker
    _LABELS[id(obj)] = label
    tracker.where[label] = obj
    keep.append(obj)
    names = (
        [n for c in type(obj).__mro__ for n in getattr(c, "__slots__", ())]
        if not hasattr(obj, "__dict__")
        else list(vars(obj))
    )
    for n in sorted(set(names)):
        if n in _SCAFFOLD or not hasattr(obj, n):
            continue
        v = getattr(obj, n)
        new = _wrap(v, f"{label}.{n}", tracker, keep)
        if new is not v:
            object.__setattr__(obj, n, new)
    obj.__class__ = _tracked_class(type(obj))


def instrument(world: Any, tracker: Tracker) -> list[Any]:
    """Instrument ``world`` in place; returns the objects to ``release`` after the run."""
    keep: list[Any] = []
    tracker.where = {}
    _instrument_obj(world, "world", tracker, keep)
    return keep


Undo = list[tuple[Any, Any, Any]]


def patch(tracker: Tracker, values: dict[str, object]) -> Undo | None:
    """Set tracked locations to ``values`` without logging; the undo list for
    ``unpatch``, or None (nothing set) if some location cannot be set: a
    container changed as a whole, or an attribute that did not exist."""
    todo: list[tuple[Any, Any, Any]] = []
    for label, value in values.items():
        if value is UNKNOWN:
            return None
        if label.endswith("~"):
            continue  # a key set: follows from the keys
        if label.endswith("]"):
            cut = label.rindex("[")
            c, key = tracker.where.get(label[:cut]), label[cut + 1 : -1]
            if isinstance(c, TrackedList):
                todo.append((c, int(key), value))
            elif isinstance(c, TrackedDict):
                keys = [k for k in dict.keys(c) if repr(k) == key]
                if not keys:
                    return None  # the key was added and removed: not followed
                todo.append((c, keys[0], value))
            else:
                return None
        else:
            cut = label.rindex(".")
            owner = tracker.where.get(label[:cut])
            if owner is None or value is ABSENT:
                return None
            todo.append((owner, label[cut + 1 :], value))
    undo: Undo = []
    for where, key, value in todo:
        undo.append((where, key, _get(where, key)))
        _set(where, key, value)
    return undo


def unpatch(undo: Undo) -> None:
    for where, key, value in reversed(undo):
        _set(where, key, value)


def _get(where: Any, key: Any) -> Any:
    if isinstance(where, TrackedList):
        return list.__getitem__(where, key)
    if isinstance(where, TrackedDict):
        return dict.get(where, key, ABSENT)
    return object.__getattribute__(where, key)


def _set(where: Any, key: Any, value: Any) -> None:
    if isinstance(where, TrackedList):
        list.__setitem__(where, key, value)
    elif isinstance(where, TrackedDict):
        if value is ABSENT:
            dict.pop(where, key, None)
        else:
            dict.__setitem__(where, key, value)
    else:
        object.__setattr__(where, key, value)


def release(keep: list[Any]) -> None:
    for obj in keep:
        _TRACKERS.pop(id(obj), None)
        _LABELS.pop(id(obj), None)
