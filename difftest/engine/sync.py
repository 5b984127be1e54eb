"""Kernel synchronisation primitives as scheduling points.

Each acquisition is one step whose ``ready`` predicate says whether it can be
granted now, so a blocked thread is simply not runnable and "every thread blocked"
is a deadlock the executor can see. Releases are steps too: another thread may run
between the last access under a lock and its release.

A lock's fields change only here, in the step that follows one of the lock's own
points (``Point.lock``); the executor relies on that to re-evaluate a waiting
acquisition only after a step on the same lock.
"""

from __future__ import annotations

from collections.abc import Callable

from difftest.engine.points import Kfunc, Point


class RwSem:
    """``struct rw_semaphore`` without writer preference or optimistic spinning.

    Readers are admitted while no writer holds it. The kernel's rwsem queues new
    readers behind a waiting writer; modelling that only removes interleavings, so
    the permissive form explores a superset.
    """

    __slots__ = ("name", "readers", "writer", "on_write", "points")

    def __init__(self, name: str) -> None:
        self.name = name
        self.readers = 0
        self.writer: int | None = None
        # Called once a writer holds it: how the oracle sees write acquisitions
        # (lockdep's view of the lock, not kernel state).
        self.on_write: Callable[[], None] | None = None
        # down_read, up_read, down_write, up_write: made once, yielded many times
        self.points = (
            Point("down_read", name, True, self.can_read, self),
            Point("up_read", name, True, None, self),
            Point("down_write", name, True, self.can_write, self),
            Point("up_write", name, True, None, self),
        )

    def can_read(self) -> bool:
        return self.writer is None

    def can_write(self) -> bool:
        return self.writer is None and self.readers == 0


class Mutex:
    """A sleeping or spinning lock held exclusively (``mmu_lock`` taken for write)."""

    __slots__ = ("name", "owner", "points")

    def __init__(self, name: str) -> None:
        self.name = name
        self.owner: int | None = None
        self.points = (
            Point("lock", name, True, self.free, self),
            Point("unlock", name, True, None, self),
        )

    def free(self) -> bool:
        return self.owner is None


def down_read(sem: RwSem) -> Kfunc:
    yield sem.points[0]
    sem.readers += 1


def up_read(sem: RwSem) -> Kfunc:
    yield sem.points[1]
    sem.readers -= 1


def down_write(sem: RwSem, tid: int) -> Kfunc:
    yield sem.points[2]
    sem.writer = tid
    if sem.on_write is not None:
        sem.on_write()


def up_write(sem: RwSem) -> Kfunc:
    yield sem.points[3]
    sem.writer = None


def lock(mutex: Mutex, tid: int) -> Kfunc:
    yield mutex.points[0]
    mutex.owner = tid


def unlock(mutex: Mutex) -> Kfunc:
    yield mutex.points[1]
    mutex.owner = None


class Atomic:
    """``atomic_t``. Kernel code updates it only through the ``atomic_*`` functions
    below, so every store is seen by ``on_store`` (the oracle's underflow check).
    They do not yield: the caller yields the scheduling point of the access first,
    as for any other shared access."""

    __slots__ = ("name", "counter", "on_store")

    def __init__(self, name: str) -> None:
        self.name = name
        self.counter = 0
        self.on_store: Callable[[int], None] | None = None

    def _store(self, value: int) -> int:
        self.counter = value
        if self.on_store is not None:
            self.on_store(value)
        return value


def atomic_read(v: Atomic) -> int:
    return v.counter


def atomic_set(v: Atomic, i: int) -> None:
    v._store(i)


def atomic_add(i: int, v: Atomic) -> None:
    v._store(v.counter + i)


def atomic_add_return(i: int, v: Atomic) -> int:
    return v._store(v.counter + i)


def atomic_inc_return(v: Atomic) -> int:
    return atomic_add_return(1, v)


def atomic_dec_return(v: Atomic) -> int:
    return atomic_add_return(-1, v)


# Names of the generator functions above, so that a report can skip them when it
# names the kernel function a step belongs to.
PRIMITIVES = frozenset({"down_read", "up_read", "down_write", "up_write", "lock", "unlock"})
