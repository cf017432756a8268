"""One run or watcher per workspace: an advisory lock on .crossmedia/lock.

flock is released by the kernel when the holder dies, even by SIGKILL, so a crashed run never
leaves a stale lock behind. The file says who holds it, for the message the others print.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import LockedError


def holder(state_dir: Path) -> dict | None:
    """Who holds the workspace ({pid, command, since}), or None when nobody does.

    The file's text alone would lie after a SIGKILL, so the lock itself is tested."""
    path = state_dir / "lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            return json.loads(path.read_text() or "null") or {}
        except (OSError, ValueError):
            return {}
    else:
        return None
    finally:
        os.close(fd)


@contextmanager
def workspace_lock(state_dir: Path, command: str, wait: float = 0):
    """Hold the workspace lock for the block; LockedError (exit 75) if another process has it
    and it is not released within `wait` seconds."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    acquired = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    who = holder(state_dir) or {}
                    raise LockedError(
                        f"workspace is busy: `crossmedia {who.get('command', '?')}` (pid {who.get('pid', '?')}) "
                        f"holds it since {who.get('since', '?')}; try again later"
                    ) from None
                time.sleep(0.2)
        acquired = True
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            json.dumps(
                {"pid": os.getpid(), "command": command, "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            ).encode(),
            0,
        )
        yield
    finally:
        if acquired:
            os.ftruncate(fd, 0)
        os.close(fd)  # closing releases the flock
