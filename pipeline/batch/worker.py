"""Run one Task in a worker process: sniff, route to a chain of stages, return a Result.

Everything an input can do wrong ends here as a failed Result with one plain line; a bug in
our code is a failed Result too (the run goes on), with its traceback in the log.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import logging
import os
import resource
import select
import signal
import socket
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from pipeline.config.sidecar import parse_sidecar, read_sidecar, sidecar_facts
from pipeline.config.workspace import Workspace
from pipeline.errors import CrossmediaError, InputError, MachineFault
from pipeline.job import Job, Result, Task
from pipeline.media.avprobe import resolve_av
from pipeline.media.sniff import sniff
from pipeline.names import one_line

log = logging.getLogger("crossmedia")

_workspaces: dict[str, tuple[float, Workspace]] = {}

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# A write refused by the machine (permissions, a read-only mount): not the input's fault (#17).
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
# Stages whose files do not depend on the formats asked: one share of a split input makes them.
SHARED_ONCE = {"previews"}

# This worker process's queue to the engine's progress display (set by init_worker).
_channel = None


class Reporter:
    """`Job.progress` in a worker: (input, step, fraction) onto the engine's queue, at most 4 a
    second; never blocks or fails the job (progress is a courtesy)."""

    def __init__(self, input: str, channel):
        self.input, self.channel, self.last = input, channel, 0.0

    def __call__(self, what: str, fraction: float) -> None:
        now = time.monotonic()
        if self.channel is None or (now - self.last < 0.25 and fraction < 1.0):
            return
        self.last = now
        with contextlib.suppress(Exception):  # a full or closed queue: drop the update
            self.channel.put_nowait((self.input, what, fraction))


class JobTimeout(Exception):
    pass


def init_worker(memory_mb: int, engine_pid: int | None = None, progress_channel=None) -> None:
    """Process-pool initializer: cap the address space so one input cannot take the machine,
    end with the engine process, report progress of long inputs to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt means
    global _channel
    _channel = progress_channel
    if progress_channel is not None:
        progress_channel.cancel_join_thread()  # a worker's exit never waits on undelivered progress
    if engine_pid is not None:
        threading.Thread(target=_end_with, args=(engine_pid,), daemon=True, name="end-with-engine").start()
    cap_memory(memory_mb)


def cap_memory(memory_mb: int) -> None:
    """[limits] memory_mb as this process's address-space cap (local workers and Dask workers)."""
    limit = memory_mb * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _end_with(engine_pid: int) -> None:
    """When the engine process dies alone (the OOM killer, a SIGKILL of its pid), its workers and
    their fork server would wait for work forever, holding memory (#8: every such kill leaked
    them). Wait for its exit, then end the fork server (this worker's parent) and this worker."""
    try:
        fd = os.pidfd_open(engine_pid)
    except ProcessLookupError:
        fd = None
    except OSError:  # no pidfd (old kernel): poll instead
        fd = -1
    if fd is not None and fd >= 0:
        select.select([fd], [], [])
    elif fd == -1:
        while os.path.exists(f"/proc/{engine_pid}"):
            time.sleep(1)
    if os.getppid() != engine_pid:  # our parent is the engine's fork server: it serves no one now
        with contextlib.suppress(OSError):
            os.kill(os.getppid(), signal.SIGKILL)
    os._exit(1)


def workspace(root: str) -> Workspace:
    """Workspace config and profiles, loaded once per process (again if crossmedia.toml changed)."""
    config = Path(root) / "crossmedia.toml"
    mtime = config.stat().st_mtime
    cached = _workspaces.get(root)
    if cached is None or cached[0] != mtime:
        _workspaces[root] = (mtime, Workspace.open(root))
    return _workspaces[root][1]


@contextmanager
def time_limit(seconds: int):
    if threading.current_thread() is not threading.main_thread():
        # A Dask worker runs tasks in a thread, where SIGALRM cannot be used (#13).
        with _thread_time_limit(seconds):
            yield
        return

    def expire(signum, frame):
        raise JobTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _thread_time_limit(seconds: int):
    """The same limit in a worker thread: JobTimeout raised asynchronously in it when time is up.
    Like the alarm, it lands between bytecodes (our ffmpeg runner waits in short slices); C code
    that never returns is the coordinator's to give up on, as the local pool does."""
    ident = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def expire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(JobTimeout))

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["done"] = True
            if state["fired"]:  # set but maybe not delivered yet: it must not land after the job
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
        timer.cancel()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def route(path: Path) -> tuple[str, str]:
    """(kind the chains know, media kind for the report), or InputError saying what the file is."""
    found = sniff(path)
    if found.kind in ("image", "svg"):
        return found.kind, "image"
    if found.kind in ("audio", "video", "av"):
        kind = resolve_av(path, found)
        return kind, kind
    if found.kind == "empty":
        raise InputError("file is empty (0 bytes); the copy or upload probably failed")
    raise InputError(f"not a media file: {found.description}")


def process(task: Task) -> Result:
    """Process one input completely; never raises for anything the input can do. The Result
    says where it ran (#13: on a cluster, which machine and process)."""
    return replace(_process(task), worker=f"{_HOST}:{os.getpid()}")


_HOST = socket.gethostname()


def _process(task: Task) -> Result:
    # Imported on the first input, not with this module: the engine imports this module for the
    # pool, and the stages bring Pillow's plugins, pillow_heif and ffmpeg-python that a no-op run
    # never needs. Workers forked from the fork server find them already imported (its preload).
    from stages import CHAINS, STAGES

    ws = workspace(task.workspace)
    source = ws.root / task.input
    started = time.monotonic()
    media = "unknown"
    sidecar_path = ws.root / task.sidecar if task.sidecar else None
    if not ws.inside(source) or (sidecar_path is not None and not ws.inside(sidecar_path)):
        # Re-pointed since the scan: never read what lies outside the workspace (#8).
        return Result.unread(task, "symbolic link points outside the workspace; copy the file in instead")
    try:
        st = source.stat()
        sha = file_sha256(source)
    except OSError as e:
        return Result.unread(task, f"cannot read the file: {e.strerror}")
    profile = ws.profiles[task.profile]
    sidecar_raw = read_sidecar(sidecar_path)
    # A failed input is retried when anything in its profile or sidecar changes (or its bytes).
    stat = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "recipe": profile.recipe(None, sidecar_raw)}
    try:
        with time_limit(ws.config.limits.timeout):
            sidecar = parse_sidecar(sidecar_raw, task.sidecar or "")
            kind, media = route(source)
            section, chain = CHAINS.get(kind, (kind, []))
            recipe = profile.recipe(section, sidecar_raw)
            options = profile.options(section) if chain else None
            if options is not None and task.formats:
                options = replace(options, formats=[f for f in options.formats if f in task.formats])
            if options is None:
                return Result(
                    task.input,
                    task.profile,
                    media,
                    "skipped",
                    warnings=[
                        f"profile {task.profile!r} has no [{section}] section, so {media} files are not "
                        f"processed here; drop it into a folder whose profile handles {media}"
                    ],
                    seconds=time.monotonic() - started,
                    **{**stat, "recipe": recipe},
                )
            job = Job(
                source=source,
                rel=task.input,
                kind=kind,
                profile=profile,
                out_dir=ws.output_dir(task.input, task.profile),
                tmp_dir=ws.tmp,
                workspace=ws.root,
                limits=ws.config.limits,
                sidecar=sidecar,
                progress=Reporter(task.input, _channel),
            )
            for name in chain:
                if name in SHARED_ONCE and not task.previews:
                    continue  # another share of this input makes them (engine._split)
                job = STAGES[name](job, options)
    except MachineFault as e:
        # Not the input's fault: no quarantine, exit 2, and the next run tries it again (#17).
        return replace(_failed(task, media, str(e), started, stat, e.details), retry=True, fault=True)
    except CrossmediaError as e:
        return _failed(task, media, str(e), started, stat, getattr(e, "details", ""))
    except JobTimeout:
        return _failed(
            task, media, f"took longer than {ws.config.limits.timeout} s ([limits] timeout); stopped", started, stat
        )
    except MemoryError:
        return _failed(
            task,
            media,
            f"needs more memory than [limits] memory_mb = {ws.config.limits.memory_mb} allows",
            started,
            stat,
        )
    except OSError as e:
        if e.errno in NOT_WRITABLE and e.filename and ws.out in Path(e.filename).parents:
            # out/ (or a folder in it) lost its write permission or is mounted read-only (#17).
            return replace(
                _failed(task, media, not_writable(ws, e), started, stat, f"{type(e).__name__}: {e}"),
                retry=True,
                fault=True,
            )
        if e.errno not in DISK_FULL:
            return _internal(task, media, e, started, stat)
        # Not the input's fault: no quarantine, and the next run tries it again (#8).
        return replace(
            _failed(
                task,
                media,
                f"no space left on the device of out/ ({e.strerror}); nothing half-written "
                f"was kept; free some space: the next run retries this input",
                started,
                stat,
            ),
            retry=True,
        )
    except Exception as e:  # a bug of ours: keep the run going, keep the traceback
        return _internal(task, media, e, started, stat)
    facts = {k: v for k, v in job.facts.items() if _jsonable(v)}
    # What the sidecar says travels with the stored facts: pages and banners read it from the
    # store, never from the sidecar file again.
    said = {k: v for k, v in sidecar_facts(sidecar).items() if v not in (None, False)}
    if said:
        facts["sidecar"] = said
    facts["renditions"] = [{"path": ws.rel(o.path), **o.facts} for o in job.outputs]
    return Result(
        task.input,
        task.profile,
        media,
        "processed",
        outputs=[ws.rel(o.path) for o in job.outputs],
        warnings=list(dict.fromkeys(job.warnings)),
        facts=facts,
        seconds=time.monotonic() - started,
        **{**stat, "recipe": recipe},
    )


def _internal(task: Task, media: str, e: BaseException, started: float, stat: dict) -> Result:
    failed = _failed(
        task,
        media,
        f"internal error ({type(e).__name__}: {one_line(e, 160)}); traceback in .crossmedia/crossmedia.log",
        started,
        stat,
    )
    return replace(failed, traceback=traceback.format_exc())


def not_writable(ws: Workspace, e: OSError) -> str:
    """The one line for a write this machine refused under out/ (#17)."""
    where = ws.rel(Path(e.filename).parent) if e.filename else "out"
    how = "is mounted read-only" if e.errno == errno.EROFS else "is not writable by this user"
    return (
        f"{where}/ {how}; give the user that runs crossmedia write access to out/ "
        f"(e.g. chmod -R u+w out): the next run retries this input"
    )


def _failed(task: Task, media: str, error: str, started: float, stat: dict, details: str = "") -> Result:
    return Result(
        task.input,
        task.profile,
        media,
        "failed",
        error=one_line(error),
        seconds=time.monotonic() - started,
        details=details,
        **stat,
    )


def _jsonable(value) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)
