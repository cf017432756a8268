"""`crossmedia watch`: process files as they land in the watched folders, once they are complete.

A file is taken when its size and mtime have not changed for the settle time and it can be
opened; names of copy tools' temp files are never taken (`names.is_ignored`). A file closed after
writing on a local disk (inotify's IN_CLOSE_WRITE) is taken at once, without the settle time,
when no process has it open for writing any more (#12: in the store within 1 s of its close);
polling (network shares) and files whose writers cannot be told keep the settle time. Events
only say "look at this path": the decision is always made from the file itself, so a burst of
events, a rename over, or a missed event (network shares: --poll; and a periodic rescan) all end
the same way. Settled files are processed together as one engine batch, with the engine's rules
(a file whose bytes did not change is not redone) and one publish step (site, pages, banners) per
batch.

The watcher holds the workspace lock for its lifetime, like a run: cron's `crossmedia run`
exits 75 meanwhile. SIGINT/SIGTERM: the inputs in flight finish, nothing partial stays, exit 130.
SIGKILL: nothing is lost; the next start catches up with everything that changed meanwhile.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from pipeline.atomic import write_bytes_atomic
from pipeline.batch.engine import AfterRun, Stop, run_locked
from pipeline.batch.executor import WorkerPool
from pipeline.batch.lock import holder, workspace_lock
from pipeline.batch.progress import Progress
from pipeline.batch.report import RunReport
from pipeline.batch.store import Store, now
from pipeline.config.workspace import Workspace
from pipeline.errors import ExitCode
from pipeline.names import is_ignored

log = logging.getLogger("crossmedia")

STATE_FILE = "watch.json"
TICK = 0.1  # seconds between looks at pending files
MAX_WAIT = 10.0  # a settled file waits at most this long for others still being written


@dataclass
class Pending:
    size: int = -1
    mtime_ns: int = -1
    changed: float = field(default_factory=time.monotonic)  # last time size/mtime moved
    settled: float | None = None  # when it was first seen settled
    closed: bool = False  # a writer closed it (local kernel events): no settle time once none has it open


class Handler(FileSystemEventHandler):
    """Turns every event into 'look at this workspace-relative path again'."""

    def __init__(self, watcher: Watcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type == "modified":
            # Comes with every file created, closed or deleted in the folder, which has an event
            # of its own; walking the folder for it would send all its files back to settling.
            return
        closed = event.event_type == "closed"  # IN_CLOSE_WRITE: a writer closed the file
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path:
                self.watcher.touch(os.fsdecode(path), is_dir=event.is_directory, closed=closed)


class Watcher:
    def __init__(
        self,
        ws: Workspace,
        *,
        settle: float,
        poll: bool,
        jobs: int | None,
        rescan: float = 300.0,
        stream=None,
        after: Sequence[AfterRun] = (),
        pool_factory: Callable[[Workspace, int], WorkerPool] | None = None,
    ):
        self.ws = ws
        self.pool_factory = pool_factory or WorkerPool  # or a Dask cluster's (#13)
        self.after = after  # steps after each batch (the commands' publish step)
        self.settle = settle
        self.poll = poll
        self.rescan = rescan
        self.jobs = jobs or ws.config.jobs or os.cpu_count() or 1
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()
        self.pending: dict[str, Pending] = {}
        self.leases = False  # may _no_writer take a lease (SIGIO ignored)? Set by run()
        self.wake = threading.Event()
        self.stop = Stop()
        self.state = {
            "pid": os.getpid(),
            "since": now(),
            "state": "starting",
            "queued": 0,
            "last_batch": None,
            "last_error": None,
            "folders": sorted(ws.folders()),
        }

    # Events ------------------------------------------------------------------------------
    def touch(self, path: str, is_dir: bool = False, closed: bool = False) -> None:
        """Look at `path` again; `closed`: a writer has just closed it (the kernel said so)."""
        try:
            rel = Path(path).resolve().relative_to(self.ws.root).as_posix()
        except (ValueError, OSError):
            return
        if is_dir:
            # A folder copied in whole: its files may predate the new inotify watch.
            self._enqueue_tree(self.ws.root / rel)
            return
        name = rel.rsplit("/", 1)[-1]
        if name.endswith(".toml") and not name.startswith("."):
            rel = rel[: -len(".toml")]  # a sidecar: its input is what changed
            name = name[: -len(".toml")]
            closed = False  # the sidecar was closed, which says nothing of its input
        if is_ignored(name) or self.ws.folder_of(rel) is None:
            return
        with self.lock:
            pending = self.pending.setdefault(rel, Pending())
            pending.closed = pending.closed or (closed and not self.poll)
        self.wake.set()

    def _enqueue_tree(self, folder: Path) -> None:
        for dirpath, _, files in os.walk(folder):
            for f in files:
                self.touch(os.path.join(dirpath, f))

    def _changed_since_store(self) -> list[str]:
        """Inputs new or changed since the store last saw them (the rescan safety net)."""
        store = Store(self.ws.state / "state.db")
        try:
            rows = store.states()
        finally:
            store.close()
        out = []
        for cand in self.ws.scan():
            row = rows.get(cand.rel)
            if row is None or (row.size, row.mtime_ns) != (cand.size, cand.mtime_ns) or row.profile != cand.profile:
                out.append(cand.rel)
        out += [rel for rel in rows if not (self.ws.root / rel).exists()]
        return out

    # Stability ---------------------------------------------------------------------------
    def _settled(self) -> tuple[list[str], bool, bool]:
        """(paths ready to process, whether some other path is still settling, whether a ready
        path was taken on its close and so should not wait for the others)."""
        ready, busy, prompt = [], False, False
        clock = time.monotonic()
        with self.lock:
            items = list(self.pending.items())
        for rel, p in items:
            path = self.ws.root / rel
            try:
                st = path.stat()
            except FileNotFoundError:
                ready.append(rel)  # deleted: the engine forgets it and removes its outputs
                continue
            except OSError:
                continue
            moved = (st.st_size, st.st_mtime_ns) != (p.size, p.mtime_ns)
            if moved:
                p.size, p.mtime_ns, p.changed, p.settled = st.st_size, st.st_mtime_ns, clock, None
            if p.closed and self.leases and _no_writer(path):
                # Closed after writing, and nobody (no second handle, no other process) has it
                # open for writing now: complete, whatever the settle time.
                p.settled = p.settled or clock
                ready.append(rel)
                prompt = True
                continue
            if moved or clock - p.changed < self.settle or not _openable(path):
                busy = True
                continue
            p.settled = p.settled or clock
            ready.append(rel)
        return ready, busy, prompt

    # Loop --------------------------------------------------------------------------------
    def run(self) -> int:
        with workspace_lock(self.ws.state, "watch"):
            restore = self.stop.install()
            # A writer opening a file in the instant _no_writer holds its lease makes the kernel
            # send SIGIO, whose default action would end the watcher.
            main = threading.current_thread() is threading.main_thread()
            sigio = signal.signal(signal.SIGIO, signal.SIG_IGN) if main else None
            self.leases = main  # else closed files wait for the settle time like the others
            observers = []
            pool = self.pool_factory(self.ws, self.jobs)
            try:
                self._write_state("catching up")
                self._say(
                    f"watching {', '.join(self.state['folders'])} (settle {self.settle:g} s"
                    f"{', polling' if self.poll else ''}); Ctrl-C stops"
                )
                observers = self._observe()
                pool.warm()
                self._batch(None, pool)  # everything that arrived while no watcher ran
                last_scan = time.monotonic()
                while not self.stop.event.is_set():
                    self.wake.wait(TICK)
                    self.wake.clear()
                    if time.monotonic() - last_scan > self.rescan:
                        for rel in self._changed_since_store():
                            self.touch(str(self.ws.root / rel))
                        last_scan = time.monotonic()
                    ready, busy, prompt = self._settled()
                    oldest = min((self.pending[r].settled or 0 for r in ready), default=None)
                    if ready and (prompt or not busy or time.monotonic() - (oldest or 0) > MAX_WAIT):
                        with self.lock:
                            for rel in ready:
                                self.pending.pop(rel, None)
                        self._batch(ready, pool)
                    elif self.state["state"] != "idle" and not self.pending:
                        self._write_state("idle")
            finally:
                for obs in observers:
                    obs.stop()
                for obs in observers:
                    obs.join(timeout=5)
                pool.close()
                restore()
                if main:
                    signal.signal(signal.SIGIO, sigio)
                self._write_state("stopped")
        self._say("watcher stopped")
        return int(ExitCode.INTERRUPTED)

    def _observe(self) -> list:
        observers = []
        for folder in sorted(self.ws.folders()):
            path = self.ws.root / folder
            path.mkdir(parents=True, exist_ok=True)
            obs = PollingObserver(timeout=1) if self.poll else Observer()
            obs.schedule(Handler(self), str(path), recursive=True)
            obs.start()
            observers.append(obs)
        return observers

    def _batch(self, only: list[str] | None, pool: WorkerPool) -> RunReport | None:
        self._write_state("processing")
        progress = Progress(self.stream)
        try:
            report = run_locked(
                self.ws,
                only=only,
                pool=pool,
                stop=self.stop.event,
                on_result=progress.update,
                on_step=progress.step,
                after=self.after,
            )
        except Exception as e:  # a bug or a damaged workspace: say it, keep watching
            log.exception("watch batch failed")
            self.state["last_error"] = f"{type(e).__name__}: {e}"
            self._write_state("idle")
            return None
        finally:
            progress.__exit__(None, None, None)
        c = report.counts
        self.state["last_batch"] = {
            "finished": report.finished,
            "processed": c["processed"],
            "failed": c["failed"],
            "removed": len(report.removed),
        }
        failed = [i for i in report.items if i["status"] == "failed" and (only is None or i["input"] in only)]
        if failed:
            self.state["last_error"] = f"{failed[-1]['input']}: {failed[-1]['error']}"
        if c["processed"] or c["failed"] or report.removed:
            self._say(
                f"batch: {c['processed']} processed, {c['failed']} failed"
                f"{', ' + str(len(report.removed)) + ' removed' if report.removed else ''}"
            )
        self._write_state("idle")
        return report

    def _write_state(self, state: str) -> None:
        self.state["state"] = state
        with self.lock:
            self.state["queued"] = len(self.pending)
        self.state["updated"] = now()
        try:
            write_bytes_atomic(self.ws.state / STATE_FILE, self.ws.state_tmp, json.dumps(self.state, indent=1).encode())
        except OSError as e:
            log.error("watch state not written: %s", e)

    def _say(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=self.stream, flush=True)
        log.info(text)


def _no_writer(path: Path) -> bool:
    """Has no process the file open for writing? Linux grants a read lease only then (fcntl(2),
    F_SETLEASE: the kernel's own count of the file's writers, whichever process or handle they
    are); it is given back at once. False when that cannot be told (a file of another user
    without CAP_LEASE, a file system without leases): such a file waits for the settle time."""
    if not hasattr(fcntl, "F_SETLEASE"):
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    except OSError:  # EAGAIN: open for writing somewhere; EACCES, EINVAL: cannot be told
        return False
    finally:
        os.close(fd)
    return True


def _openable(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    os.close(fd)
    return True


def watch_state(ws: Workspace) -> dict | None:
    """The watcher's last written state, with `running` tested on the lock (a SIGKILLed
    watcher leaves its file behind, but not its lock)."""
    try:
        state = json.loads((ws.state / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    who = holder(ws.state)
    state["running"] = bool(who) and who.get("command") == "watch" and who.get("pid") == state.get("pid")
    return state
