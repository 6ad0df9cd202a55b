"""One writer per run directory: an OS lock on ``RUN_DIR/.insider.lock``.

``run``, ``classify``, ``analyze`` and ``report`` each hold the lock while they work, so two
commands never pay twice for the same samples or judge calls, or interleave their writes. The
lock is ``flock`` on an open file: the kernel releases it when the holder exits, however it
exits (kill -9 included), so a lock left by a dead process is simply taken over. The file
keeps the holder's PID and command for the message the next writer gets.

The lock is re-entrant within a process (``insider run`` holds it and then classifies under
the same hold). Forked worker processes share the parent's hold; they close their copy of the
descriptor without unlocking (``close_inherited_locks``).

``insider mcp-server`` sessions take the lock *shared*: besides the run's set-up, each writes
only files of its own (its session claim, its own task log), so several sessions may serve one
run directory at once. ``run``, ``classify``, ``analyze`` and ``report`` rewrite files across
the run: they are refused while any session holds the lock, and a session is refused while one
of them does. A holder that finds the lock free rewrites the lock file with its PID; a session
that joins others appends its own, so a refused writer can name the sessions still alive.
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
    shared: bool
    depth: int = 1


_holds: dict[Path, _Hold] = {}


def _key(root: Path) -> Path:
    return root.resolve()


@contextlib.contextmanager
def lock_run_dir(root: Path, command: str | None = None, *, shared: bool = False) -> Iterator[None]:
    """Hold ``root``'s writer lock for the block, or raise ``RunDirBusy`` at once.

    ``root`` is created if missing. ``command`` (default: the CLI command) is recorded with
    the PID for whoever finds the lock held. ``shared`` holds it together with other shared
    holders (MCP sessions, which add files of their own) and against every exclusive one.
    """
    key = _key(root)
    hold = _holds.get(key)
    if hold is not None:
        if hold.shared and not shared:
            raise RuntimeError(f"{root}: held shared by this process; cannot hold it exclusively")
        hold.depth += 1
        try:
            yield
        finally:
            hold.depth -= 1
        return
    fd = _acquire(root, command or _command_name(), shared)
    _holds[key] = _Hold(fd, shared)
    try:
        yield
    finally:
        del _holds[key]
        os.close(fd)  # releases the flock


def _command_name() -> str:
    args = [arg for arg in sys.argv[1:2] if not arg.startswith("-")]
    return f"insider {args[0]}" if args else "insider"


def _acquire(root: Path, command: str, shared: bool) -> int:
    path = root / LOCK_FILE
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ConfigError(
            f"{root}: cannot lock the run directory ({exc.strerror or exc}); "
            "it must be a writable directory"
        ) from exc
    record = f"{os.getpid()}\n{command}\n".encode()
    try:
        if _try_lock(fd, fcntl.LOCK_EX):  # no one else holds it: the file names this holder
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
            # a session then lets other sessions in (flock converts without waiting; a
            # writer that took the lock in between makes this session the one refused)
            if shared and not _try_lock(fd, fcntl.LOCK_SH):
                raise _busy(root, fd)
        elif shared and _try_lock(fd, fcntl.LOCK_SH):  # other sessions hold it: join them
            os.lseek(fd, 0, os.SEEK_END)
            os.write(fd, record)
        else:
            raise _busy(root, fd)
    except RunDirBusy:
        os.close(fd)
        raise
    except OSError as exc:
        os.close(fd)
        raise ConfigError(f"{root}: cannot lock the run directory ({exc.strerror})") from exc
    return fd


def _try_lock(fd: int, kind: int) -> bool:
    """Take (or convert the hold to) ``kind`` without waiting; whether it was free."""
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _busy(root: Path, fd: int) -> RunDirBusy:
    return RunDirBusy(
        f"{root}: in use by another insider process ({_read_holder(fd)}); one writer at a "
        "time. Nothing was run or paid for; wait for it to finish, then rerun."
    )


def _read_holder(fd: int) -> str:
    """'pid N, insider run' from the lock file, as far as the holder has written it.

    Shared holders (MCP sessions) append theirs: those whose process is still alive are named.
    """
    try:
        lines = os.pread(fd, 1 << 20, 0).decode("utf-8", "replace").splitlines()
    except OSError:
        lines = []
    holders = [
        (pid.strip(), command.strip() or "insider")
        for pid, command in zip(lines[::2], lines[1::2], strict=False)
        if pid.strip().isdigit()
    ]
    if len(lines) % 2 and lines[-1].strip().isdigit():  # the command is not written yet
        holders.append((lines[-1].strip(), "insider"))
    if len(holders) > 1:
        holders = [holder for holder in holders if _alive(int(holder[0]))] or holders[-1:]
    if not holders:
        return "pid unknown"
    return "; ".join(f"pid {pid}, {command}" for pid, command in holders)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


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
