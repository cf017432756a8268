"""Run a batch's Tasks on a Dask cluster (#13): the executor seam's other side.

`DaskPool` has the `WorkerPool` interface (workers, run, close, warm, context manager), so the
engine and the watcher use it unchanged. What goes to the cluster is the very `process(task)`
the local pool runs, wrapped by `run_task`, which applies [limits] inside each Dask worker
process (the address-space cap once per process, the time limit per input) as `init_worker`
does locally. Workers write outputs atomically into the shared workspace and return Results;
only this process (the coordinator) writes the store, report, quarantine and site.

Faults: a worker lost mid-task has its tasks run again elsewhere by Dask (up to the scheduler's
`allowed-failures`, 3 by default, then the input fails as a worker crash, as locally). A task
that ran twice writes the same bytes (outputs are renamed into place whole) and is recorded
once, because only the coordinator records, one Result per future. A lost scheduler ends the run
within SCHEDULER_GRACE seconds with one line and exit 1; what finished is already recorded.

`distributed` is imported only here and only when the dask executor is chosen: importing it
costs 0.5-0.7 s (measured with -X importtime), which `crossmedia run` on a local pool, `status`
and `--help` must not pay.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import os
import queue as queue_module
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pipeline import __version__
from pipeline.atomic import clear_tmp
from pipeline.batch.worker import cap_memory, process
from pipeline.config.profile import load_profiles
from pipeline.config.workspace import Workspace
from pipeline.errors import CrossmediaError, ExitCode
from pipeline.job import Result, Task
from pipeline.media.sniff import sniff

INSTALL_HINT = "pip install 'crossmedia[dask]'"
CONNECT_TIMEOUT = 10  # seconds to reach the scheduler at the start
WORKERS_TIMEOUT = 30  # seconds to wait for a first worker to join
# A scheduler gone mid-run: how long the client may try to reconnect before the run stops. Dask
# cancels the futures as soon as the connection drops; this bounds the wait when it does not.
SCHEDULER_GRACE = 20
AV_KINDS = {"audio", "video", "av"}


class ClusterError(CrossmediaError):
    """The cluster cannot run the batch as asked (unreachable, no workers, a worker that differs)."""


class SchedulerLost(CrossmediaError):
    """The scheduler went away mid-run: what finished is recorded; the next run does the rest."""

    exit_code = ExitCode.INPUTS_FAILED


class WorkspaceNotVisible(Exception):
    """Raised on a worker that cannot see the workspace: the coordinator names worker and path."""


def import_distributed():
    """The `distributed` module, or a one-line error saying how to install it (exit 2)."""
    try:
        import distributed
    except ImportError:
        raise CrossmediaError(
            f"--executor dask needs Dask's distributed package, which is not installed: {INSTALL_HINT}"
        ) from None
    return distributed


def map_path(path: str, path_map: dict[str, str]) -> str:
    """This machine's absolute path as the workers see it: the longest matching prefix of
    [executor] path_map replaced (as Tdarr and FileFlows map server paths to node paths)."""
    for here in sorted(path_map, key=len, reverse=True):
        prefix = here.rstrip("/")
        if path == prefix or path.startswith(prefix + "/"):
            return path_map[here].rstrip("/") + path[len(prefix) :]
    return path


def where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# Runs on the workers -------------------------------------------------------------------------
_capped: set[int] = set()


def run_task(task: Task, memory_mb: int) -> Result:
    """`process(task)` in a Dask worker, under the same [limits] as a local worker: the memory
    cap is set once per worker process (it covers the whole process, Dask's own ~150 MiB of
    address space included); the time limit is process()'s own (a timer in the task's thread)."""
    if os.getpid() not in _capped:
        cap_memory(memory_mb)
        _capped.add(os.getpid())
    if not os.path.isfile(os.path.join(task.workspace, "crossmedia.toml")):
        raise WorkspaceNotVisible(f"Dask worker {where()} cannot see the workspace at {task.workspace}")
    return process(task)


def probe_worker(root: str | None) -> dict:
    """What a machine runs: versions, profile set, whether it sees the workspace (doctor, status)."""
    ffmpeg = shutil.which("ffmpeg")
    version = ""
    if ffmpeg:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            out = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, timeout=20).stdout
            version = (out.splitlines() or [""])[0].removeprefix("ffmpeg version ").split(" ")[0]
    info = {"where": where(), "crossmedia": __version__, "ffmpeg": version, "workspace": root, "sees_workspace": None}
    profiles = None
    try:
        if root is not None:
            info["sees_workspace"] = os.path.isfile(os.path.join(root, "crossmedia.toml"))
            profiles = Workspace.open(root).profiles if info["sees_workspace"] else None
        if profiles is None:
            profiles = load_profiles(None)
        info["profiles"] = sorted(profiles)
        info["profile_hash"] = _profile_hash(profiles)
    except CrossmediaError as e:
        info["profiles"], info["profile_hash"] = [], f"error: {e}"
    return info


def _profile_hash(profiles: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(profiles):
        h.update(f"{name}={profiles[name].recipe(None)};".encode())
    return h.hexdigest()[:12]


# Runs on the coordinator ---------------------------------------------------------------------
def connect(address: str):
    distributed = import_distributed()
    # Dask logs to stderr (a lost connection is a dozen lines); on the coordinator its messages go
    # to .crossmedia/crossmedia.log, and the user reads the one line our error says.
    # Dask gives some of its loggers (distributed.client...) handlers of their own: all go up to one.
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]:
        logging.getLogger(name).handlers, logging.getLogger(name).propagate = [], True
    dask_log = logging.getLogger("distributed")
    dask_log.handlers = [*logging.getLogger("crossmedia").handlers] or [logging.NullHandler()]
    dask_log.propagate = False
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} ({type(e).__name__}); start it with "
            f"`dask scheduler`, or check --scheduler / [executor] scheduler / DASK_SCHEDULER_ADDRESS"
        ) from None


def cluster_state(client, root: str | None, path_map: dict[str, str]) -> dict:
    """The workers as the scheduler and they themselves say, and what differs from this machine."""
    info = client.scheduler_info(n_workers=-1)["workers"]
    mine = probe_worker(root)
    remote_root = map_path(root, path_map) if root else None
    probes = client.run(probe_worker, remote_root, on_error="return")
    workers, problems = [], []
    for address in sorted(info):
        got = probes.get(address)
        w = {
            "address": address,
            "nthreads": info[address].get("nthreads", 0),
            "resources": info[address].get("resources", {}),
        }
        if not isinstance(got, dict):
            problems.append(f"Dask worker {address} did not answer ({got!r})")
            workers.append(w)
            continue
        w.update(got)
        workers.append(w)
        name = f"Dask worker {got['where']} ({address})"
        if got["crossmedia"] != mine["crossmedia"]:
            problems.append(
                f"{name} runs crossmedia {got['crossmedia']}, this machine {mine['crossmedia']}: install the "
                f"same version on every machine"
            )
        if got["profile_hash"] != mine["profile_hash"]:
            problems.append(
                f"{name} has a different profile set ({', '.join(got['profiles']) or 'none'}) than this machine "
                f"({', '.join(mine['profiles'])}): same crossmedia version and the same workspace on every machine"
            )
        if root is not None and not got["sees_workspace"]:
            problems.append(
                f"{name} cannot see the workspace at {remote_root}: mount it there, or map it with [executor] path_map"
            )
    return {"workers": workers, "problems": problems, "coordinator": mine}


def format_cluster(address: str, state: dict) -> list[str]:
    lines = [f"cluster: scheduler {address}, {len(state['workers'])} worker(s)"]
    for w in state["workers"]:
        res = ",".join(f"{k}={v:g}" for k, v in w.get("resources", {}).items()) or "no resources"
        lines.append(
            f"  {w['address']} {w.get('where', '?')}: {w['nthreads']} thread(s), {res}, crossmedia "
            f"{w.get('crossmedia', '?')}, ffmpeg {w.get('ffmpeg') or 'missing'}"
        )
    lines += [f"  error: {p}" for p in state["problems"]]
    return lines


class DaskPool:
    """Tasks to a Dask cluster, Results back: the `WorkerPool` interface (#13)."""

    def __init__(self, ws: Workspace, address: str, path_map: dict[str, str] | None = None):
        self.ws, self.address, self.path_map = ws, address, dict(path_map or {})
        self._client = None
        self._nthreads = 0
        self._ffmpeg_slots = 0
        self.fn: Callable[..., Result] = run_task  # the benchmark swaps in an empty task

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def workers(self) -> int:
        """Threads over all workers (the engine shares a lone input's formats between them)."""
        self._connect()
        return self._nthreads

    def _connect(self):
        if self._client is not None:
            return self._client
        client = connect(self.address)
        try:
            try:
                client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
            except TimeoutError:
                raise ClusterError(
                    f"no Dask worker joined the scheduler at {self.address} within {WORKERS_TIMEOUT} s; start "
                    f"them with `dask worker {self.address} --nworkers 1 --nthreads 1 --resources ffmpeg=1`"
                ) from None
            state = cluster_state(client, str(self.ws.root), self.path_map)
            if state["problems"]:
                raise ClusterError(state["problems"][0])
        except BaseException:
            client.close(timeout=5)
            raise
        self._client = client
        self._census()
        return client

    def _census(self) -> None:
        info = self._client.scheduler_info(n_workers=-1)["workers"].values()
        self._nthreads = max(1, sum(w.get("nthreads", 1) for w in info))
        self._ffmpeg_slots = sum(w.get("resources", {}).get("ffmpeg", 0) for w in info)

    def warm(self) -> None:
        """Connect and check the workers now, so that a watcher says what is wrong at start."""
        self._connect()

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):  # a scheduler already gone must not hang the exit
                client.close(timeout=5)

    def _remote(self, task: Task) -> Task:
        return replace(task, workspace=map_path(task.workspace, self.path_map)) if self.path_map else task

    def _needs_ffmpeg(self, task: Task) -> bool:
        try:
            return sniff(self.ws.root / task.input).kind in AV_KINDS
        except OSError:
            return False  # the worker says what is wrong with it

    def run(
        self,
        tasks: list[Task],
        stop: threading.Event,
        finish: Callable[[Result], None],
        step: Callable[[str, str, float], None] | None = None,
    ) -> tuple[list[Task], list[Task]]:
        """Run tasks until done or stopped. Returns ([], tasks not started): a lost worker's tasks
        are Dask's to run again, and a worker crash is reported per input (KilledWorker).
        `step` is not fed: progress of a long input stays on its worker."""
        client = self._connect()
        self._census()
        memory_mb = self.ws.config.limits.memory_mb
        pending = collections.deque(tasks)
        done: queue_module.SimpleQueue = queue_module.SimpleQueue()
        running: dict[str, tuple[Task, object]] = {}
        # Enough submitted ahead that workers never wait on this loop and Results come back in
        # batches (each round trip is a few ms); a stop sends back those not started yet.
        window = max(8 * self._nthreads, 256)
        lost_since: float | None = None
        while pending or running:
            while pending and len(running) < window and not stop.is_set():
                task = pending.popleft()
                resources = None
                if self._needs_ffmpeg(task):
                    if not self._ffmpeg_slots:
                        raise ClusterError(
                            f"no Dask worker offers the ffmpeg resource that audio and video need (first: "
                            f"{task.input}); start workers with --resources ffmpeg=1"
                        )
                    resources = {"ffmpeg": 1}
                key = f"crossmedia-{uuid.uuid4().hex}"
                future = client.submit(self.fn, self._remote(task), memory_mb, key=key, pure=False, resources=resources)
                future.add_done_callback(done.put)
                running[key] = (task, future)
            if not running:
                break
            if stop.is_set():
                pending.extendleft(reversed(self._cancel_queued(client, running)))
            try:
                finished = [done.get(timeout=1.0)]
            except queue_module.Empty:
                if client.status == "running":
                    lost_since = None
                else:
                    lost_since = lost_since or time.monotonic()
                    if time.monotonic() - lost_since > SCHEDULER_GRACE:
                        raise self._lost(running) from None
                continue
            with contextlib.suppress(queue_module.Empty):
                while len(finished) < 1000:
                    finished.append(done.get_nowait())
            ours = [(running.pop(f.key)[0], f) for f in finished if f.key in running]
            # The Results of finished futures are on the workers: one gather fetches them all (a
            # result() each was a round trip each, 2 ms: the coordinator's ceiling was 340 tasks/s).
            ok = [f for _, f in ours if f.status == "finished"]
            results = dict(zip((f.key for f in ok), client.gather(ok, errors="skip"), strict=False)) if ok else {}
            for task, future in ours:
                if future.key in results:
                    finish(results[future.key])
                else:
                    self._settle(task, future, running, finish)
        # Temp files of a worker killed mid-write: no task runs any more, so none is in use.
        clear_tmp(self.ws.tmp)
        return [], list(pending)

    def _settle(self, task: Task, future, running: dict, finish: Callable[[Result], None]) -> None:
        distributed = import_distributed()
        if future.status == "finished":  # lost between done and gather (its worker died): ask again
            finish(future.result())
            return
        if future.status == "cancelled":
            raise self._lost(running)
        error = future.exception()
        if isinstance(error, distributed.KilledWorker):
            finish(
                Result.unread(
                    task,
                    "the worker process died on this file on several Dask workers (a crash in a decoder, or "
                    "over [limits] memory_mb); the file is probably damaged",
                )
            )
            return
        if isinstance(error, WorkspaceNotVisible):
            raise ClusterError(f"{error}: mount it there, or map it with [executor] path_map")
        raise error  # a bug of ours, or a worker without crossmedia: keep the traceback

    def _lost(self, running: dict) -> SchedulerLost:
        return SchedulerLost(
            f"lost the Dask scheduler at {self.address} mid-run; what finished is recorded, the "
            f"{len(running)} input(s) in flight and the rest wait for the next run"
        )

    def _cancel_queued(self, client, running: dict) -> list[Task]:
        """Stopping: inputs a worker has started finish and are recorded; the others go back."""
        try:
            started = {k for keys in client.processing().values() for k in keys}
        except Exception:  # the scheduler is gone: the loop says so
            return []
        back = [(k, t, f) for k, (t, f) in running.items() if k not in started]
        for key, _, _ in back:
            del running[key]
        if back:
            client.cancel([f for _, _, f in back])
        return [t for _, t, _ in back]


def pool_factory(ws: Workspace, executor: str | None, scheduler: str | None) -> Callable | None:
    """The pool the run or watcher should use: None for the local pool, else a factory of
    DaskPools. `executor`/`scheduler` (the CLI's) override [executor]; DASK_SCHEDULER_ADDRESS
    stands in for an empty scheduler."""
    options = ws.config.executor
    kind = executor or options.kind
    if kind == "local":
        return None
    import_distributed()  # fail now, with the install hint, before the lock is taken
    address = scheduler or options.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS", "")
    if not address:
        raise CrossmediaError(
            "--executor dask needs the scheduler's address: --scheduler tcp://HOST:8786, [executor] scheduler, "
            "or DASK_SCHEDULER_ADDRESS"
        )
    return lambda ws, jobs=None: DaskPool(ws, address, options.path_map)


def scheduler_address(ws: Workspace | None, scheduler: str | None = None) -> str:
    """The scheduler doctor and status look at, if any."""
    configured = ws.config.executor.scheduler if ws is not None else ""
    return scheduler or configured or os.environ.get("DASK_SCHEDULER_ADDRESS", "")


def describe_cluster(address: str, root: Path | None, path_map: dict[str, str]) -> dict:
    """For doctor and status: the workers, or why they cannot be asked."""
    try:
        client = connect(address)
    except CrossmediaError as e:
        return {"scheduler": address, "workers": [], "problems": [str(e)]}
    try:
        state = cluster_state(client, str(root) if root else None, path_map)
    finally:
        client.close(timeout=5)
    if not state["workers"]:
        state["problems"].append(f"no Dask worker is connected to the scheduler at {address}")
    return {"scheduler": address, **state}
