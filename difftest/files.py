"""Writing result files so that nothing is half-written, lost or overwritten.

Every file is first written in full to a temporary file beside its final name,
then published in one step: ``os.replace`` where replacing is wanted, ``os.link``
where the name must be new (the link fails if the name exists, so concurrent
writers each get their own name: check-then-rename would let one overwrite
another). Temporary files are created with mode 0666 and so honour the umask;
their names carry the writer's pid, so a later writer removes those a killed
process left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

_TEMP = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def _temp_file(path: Path, data: bytes) -> Iterator[Path]:
    """A complete, synced temporary copy of ``data`` next to ``path``; removed on
    every way out of the block (exception, Ctrl-C) unless it was renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old or the new file."""
    raw = data.encode() if isinstance(data, str) else data
    with _temp_file(path, raw) as tmp:
        os.replace(tmp, path)


def write_new(path: Path, data: str | bytes) -> bool:
    """Write ``data`` under ``path`` only if no file has that name; False if one has.
    Atomic against concurrent writers: exactly one of them gets the name."""
    raw = data.encode() if isinstance(data, str) else data
    with _temp_file(path, raw) as tmp:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as e:  # a file system without hard links: exclusive create
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            return _create_exclusive(path, raw)
    return True


def _create_exclusive(path: Path, raw: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
    return True


def claim_new(directory: Path, names: Callable[[int], str], data: str | bytes) -> Path:
    """Write ``data`` under the first free name of ``names(1)``, ``names(2)``, ...
    and return it. Files already there, and those other writers claim meanwhile,
    are never touched."""
    sweep_temps(directory)
    n = 1
    while True:
        path = directory / names(n)
        if not path.exists() and write_new(path, data):
            return path
        n += 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temps(directory: Path) -> list[Path]:
    """Remove temporary files that killed writers left in ``directory``."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            m = _TEMP.match(entry.name)
            if m and int(m[1]) != os.getpid() and not _alive(int(m[1])):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed
