"""Scheduling points: what a thread is about to do when the scheduler picks it.

A modelled kernel function is a generator. Before every access to shared state it
yields a ``Point`` naming the object and whether it writes it; the code between two
yields runs atomically. Everything a later analysis needs (DPOR independence,
coverage feedback, the report's "what changed" column) starts from these records.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any


class Point:
    """One pending step of one thread. Never modified once made: ``rd``, ``wr``
    and the primitives hand out shared instances.

    ``ready`` is None for a step that can always run; a blocking step (rwsem
    acquisition, waiting for a kicked vCPU) gives a predicate, and the thread is
    not runnable while it is false.

    ``lock`` is set on the points of a lock primitive (``difftest.engine.sync``):
    the lock whose fields its ``ready`` reads. Those fields change only in the
    steps of that lock's own points, so the executor re-evaluates a waiting
    acquisition only after such a step instead of at every step.
    """

    __slots__ = ("op", "obj", "write", "ready", "lock")

    def __init__(
        self,
        op: str,
        obj: str,
        write: bool,
        ready: Callable[[], bool] | None = None,
        lock: object = None,
    ) -> None:
        self.op = op
        self.obj = obj
        self.write = write
        self.ready = ready
        self.lock = lock

    def __repr__(self) -> str:
        return f"Point({self.op!r}, {self.obj!r}, {'w' if self.write else 'r'})"


# A kernel function modelled as a generator of scheduling points; its return value
# is the C function's return value.
Kfunc = Generator[Point, None, Any]


# Memoised points of rd() and wr(), by op then obj: a step's point is looked up,
# not built, after its first use (the sets of ops and objects are small).
_READS: dict[str, dict[str, Point]] = {}
_WRITES: dict[str, dict[str, Point]] = {}


def rd(op: str, obj: str) -> Point:
    """A READ_ONCE-style load of ``obj``."""
    try:
        return _READS[op][obj]
    except KeyError:
        p = _READS.setdefault(op, {})[obj] = Point(op, obj, False)
        return p


def wr(op: str, obj: str) -> Point:
    """A store or read-modify-write of ``obj``."""
    try:
        return _WRITES[op][obj]
    except KeyError:
        p = _WRITES.setdefault(op, {})[obj] = Point(op, obj, True)
        return p


class Points(dict):  # type: ignore[type-arg]
    """Scheduling points made on first use by ``make(*key)``, then looked up.

    For a yield whose op or object names a vCPU or a request: formatting them
    (and looking the point up in ``rd``/``wr``) at every step costs more than
    the step's kernel code, so the kernel function yields ``TABLE[req, vcpu.name]``
    from a table defined next to it, ``make`` spelling out the point as
    ``rd``/``wr`` would. Keys must be immutable and few (names, requests, ops).
    """

    __slots__ = ("make",)

    def __init__(self, make: Callable[..., Point]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: object) -> Point:
        p = self[key] = self.make(*key) if type(key) is tuple else self.make(key)
        return p
