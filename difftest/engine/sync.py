"""Kernel synchronisation primitives as scheduling points.

Each acquisition is one step whose ``ready`` predicate says whether it can be
granted now, so a blocked thread is simply not runnable and "every thread blocked"
is a deadlock the executor can see. Releases are steps too: another thread may run
between the last access under a lock and its release.
"""

from __future__ import annotations

from difftest.engine.points import Kfunc, Point


class RwSem:
    """``struct rw_semaphore`` without writer preference or optimistic spinning.

    Readers are admitted while no writer holds it. The kernel's rwsem queues new
    readers behind a waiting writer; modelling that only removes interleavings, so
    the permissive form explores a superset.
    """

    __slots__ = ("name", "readers", "writer", "points")

    def __init__(self, name: str) -> None:
        self.name = name
        self.readers = 0
        self.writer: int | None = None
        # down_read, up_read, down_write, up_write: made once, yielded many times
        self.points = (
            Point("down_read", name, True, self.can_read),
            Point("up_read", name, True),
            Point("down_write", name, True, self.can_write),
            Point("up_write", name, True),
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
        self.points = (Point("lock", name, True, self.free), Point("unlock", name, True))

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


def up_write(sem: RwSem) -> Kfunc:
    yield sem.points[3]
    sem.writer = None


def lock(mutex: Mutex, tid: int) -> Kfunc:
    yield mutex.points[0]
    mutex.owner = tid


def unlock(mutex: Mutex) -> Kfunc:
    yield mutex.points[1]
    mutex.owner = None


# Names of the generator functions above, so that a report can skip them when it
# names the kernel function a step belongs to.
PRIMITIVES = frozenset({"down_read", "up_read", "down_write", "up_write", "lock", "unlock"})
