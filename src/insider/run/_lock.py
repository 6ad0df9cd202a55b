"""One writer per run directory: an OS lock on ``RUN_DIR/.insider.lock``.

``run``, ``classify``, ``analyze`` and ``report`` each hold the lock while they work, so two
commands never pay twice for the same samples or judge calls, or interleave their writes. The
lock is ``flock`` on an open file: the kernel releases it when the holder exits, however it
exits (kill -9 included), so a lock left by a dead process is simply taken over. The file
keeps the holder's PID and command for the message the next writer gets.

The lock is re-entrant within a process (``insider run`` holds it and then classifies under
the same hold). Forked worker processes share the parent's hold; they close their copy of the
descriptor without unlocking (``close_inherited_locks``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from insider.errors import ConfigError

LOCK_FILE = ".insider.lock"


class RunDirBusy(ConfigError):
    """Another process holds the run directory's lock (exit code 2: nothing was done)."""


@dataclass
class _Hold:
    fd: int
    depth: int = 1


_holds: dict[Path, _Hold] = {}


def _key(root: Path) -> Path:
    return root.resolve()


@contextlib.contextmanager
def lock_run_dir(root: Path, command: str | None = None) -> Iterator[None]:
    """Hold ``root``'s writer lock for the block, or raise ``RunDirBusy`` at once.

    ``root`` is created if missing. ``command`` (default: the CLI command) is recorded with
    the PID for whoever finds the lock held.
    """
    key = _key(root)
    hold = _holds.get(key)
    if hold is not None:
        hold.depth += 1
        try:
            yield
        finally:
            hold.depth -= 1
        return
    fd = _acquire(root, command or _command_name())
    _holds[key] = _Hold(fd)
    try:
        yield
    finally:
        del _holds[key]
        os.close(fd)  # releases the flock


def _command_name() -> str:
    args = [arg for arg in sys.argv[1:2] if not arg.startswith("-")]
    return f"insider {args[0]}" if args else "insider"


def _acquire(root: Path, command: str) -> int:
    path = root / LOCK_FILE
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ConfigError(
            f"{root}: cannot lock the run directory ({exc.strerror or exc}); "
            "it must be a writable directory"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise RunDirBusy(
            f"{root}: in use by another insider process ({holder}); one writer at a time. "
            "Nothing was run or paid for; wait for it to finish, then rerun."
        ) from None
    except OSError as exc:
        os.close(fd)
        raise ConfigError(f"{root}: cannot lock the run directory ({exc.strerror})") from exc
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n{command}\n".encode(), 0)
    return fd


def _read_holder(fd: int) -> str:
    """'pid N, insider run' from the lock file, as far as the holder has written it."""
    try:
        lines = os.pread(fd, 256, 0).decode("utf-8", "replace").splitlines()
    except OSError:
        lines = []
    if not lines or not lines[0].strip().isdigit():
        return "pid unknown"
    command = lines[1].strip() if len(lines) > 1 and lines[1].strip() else "insider"
    return f"pid {lines[0].strip()}, {command}"


def holds_lock(root: Path) -> bool:
    """Whether this process holds ``root``'s lock."""
    return _key(root) in _holds


def close_inherited_locks() -> None:
    """In a forked child: drop the inherited descriptors without unlocking the parent's hold.

    ``flock`` belongs to the open file, shared by parent and child; closing the child's
    descriptor leaves the parent's lock in place, and the lock then ends with the parent.
    """
    for hold in _holds.values():
        with contextlib.suppress(OSError):
            os.close(hold.fd)
    _holds.clear()
