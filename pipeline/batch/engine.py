"""One batch over a workspace: scan -> decide what changed -> process in parallel -> store -> report.

Only this module writes the store, the quarantine and the report. Work goes out as plain Tasks
to a process pool (the executor is this one seam); results come back and are recorded one by
one, so a run killed at any moment loses at most the inputs in flight, which the next run redoes.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from operator import itemgetter

from pipeline.atomic import clear_tmp
from pipeline.batch.executor import WorkerPool
from pipeline.batch.lock import workspace_lock
from pipeline.batch.quarantine import quarantine, unquarantine
from pipeline.batch.report import RunReport, item, write_report
from pipeline.batch.store import Row, State, Store, now
from pipeline.batch.worker import DISK_FULL, file_sha256
from pipeline.config.sidecar import read_sidecar
from pipeline.config.workspace import Candidate, Workspace
from pipeline.errors import DiskFullError
from pipeline.job import Result, Task
from pipeline.media.sniff import sniff
from pipeline.names import one_line, printable

log = logging.getLogger("crossmedia")

SECTION_OF_MEDIA = {"image": "image", "audio": "audio", "video": "video"}


class Stop:
    """Set by SIGINT/SIGTERM: no new inputs start; those in flight finish and are recorded."""

    def __init__(self):
        self.event = threading.Event()
        self.signal = None

    def __call__(self, signum, frame):
        if self.event.is_set():  # a second Ctrl-C: the user means it
            raise KeyboardInterrupt
        self.signal = signum
        self.event.set()

    def install(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        return lambda: [signal.signal(s, h) for s, h in old.items()]


# A step that runs after each batch, under the same lock: (workspace, report, inputs_changed).
# The commands pass the publish step (site, pages, banners); the engine knows none of them.
AfterRun = Callable[[Workspace, RunReport, bool], None]


def run(
    ws: Workspace,
    *,
    jobs: int | None = None,
    command: str = "run",
    on_result: Callable[[Result, int, int], None] | None = None,
    on_step: Callable[[str, str, float, int], None] | None = None,
    after: Sequence[AfterRun] = (),
    pool: WorkerPool | None = None,
) -> RunReport:
    """`crossmedia run`: take the lock, process what is new or changed, write out/report.json.
    `pool`: another executor with the WorkerPool interface (a Dask cluster, #13)."""
    with workspace_lock(ws.state, command):
        stop = Stop()
        restore = stop.install()
        try:
            return run_locked(
                ws, jobs=jobs, on_result=on_result, on_step=on_step, stop=stop.event, after=after, pool=pool
            )
        except (OSError, sqlite3.OperationalError) as e:
            if not disk_full(e):
                raise
            raise DiskFullError(
                f"no space left on the device ({one_line(e, 160)}); nothing half-written was kept. "
                f"Free some space and run again: what was not recorded is retried"
            ) from None
        finally:
            restore()


def disk_full(e: BaseException) -> bool:
    """ENOSPC/EDQUOT from a write, or SQLite's own way of saying it."""
    if isinstance(e, OSError):
        return e.errno in DISK_FULL
    return "disk is full" in str(e)


def run_locked(
    ws: Workspace,
    *,
    jobs: int | None = None,
    stop: threading.Event | None = None,
    on_result: Callable[[Result, int, int], None] | None = None,
    on_step: Callable[[str, str, float, int], None] | None = None,
    only: Iterable[str] | None = None,
    pool: WorkerPool | None = None,
    after: Sequence[AfterRun] = (),
) -> RunReport:
    """The batch itself; the caller holds the workspace lock (run, or the watcher).

    `only`: workspace-relative inputs to consider (the watcher's settled files); the others keep
    their state. `pool`: workers to reuse (the watcher's); by default one for this batch.
    `after`: steps run once the store is closed, before report.json is written."""
    stop = stop or threading.Event()
    report = RunReport(started=now())
    left = clear_tmp(ws.tmp) + clear_tmp(ws.state_tmp)
    if left:
        report.notes.append(f"removed {left} partial file(s) left by an interrupted run")
    db = ws.state / "state.db"
    missing = (not db.exists() or db.stat().st_size == 0) and ws.report_path.exists()
    store = Store(db)
    if missing:  # an earlier run wrote a report: the store was deleted or emptied, not never made (#8)
        store.recovered = (
            f"state database {db.name} was missing or empty (deleted?); every input is checked again "
            f"and its outputs rewritten"
        )
    if store.recovered:
        report.notes.append(store.recovered)
        log.warning(store.recovered)
    run_id = store.begin_run(os.getpid(), "run")
    bulk = _Bulk()
    try:
        try:
            with bulk:
                states = store.states()
                tasks, items = _plan(ws, store, states, only, report)
            report.items.extend(items)
            for status, n in Counter(item["status"] for item in items).items():
                report.counts[status] += n
            if tasks:
                own = pool is None
                workers = pool or WorkerPool(ws, jobs or ws.config.jobs or os.cpu_count() or 1)
                try:
                    _execute(ws, store, states, tasks, workers, stop, report, on_result, on_step)
                finally:
                    if own:
                        workers.close()
            report.interrupted = stop.is_set()
            report.items.sort(key=_BY_PROFILE_AND_INPUT)
            report.finished = now()
            store.finish_run(run_id, report.counts)
        finally:
            store.close()
        del states  # a big workspace's rows: not held while the publish step runs
        changed = bool(report.counts["processed"] or report.removed or not ws.report_path.exists())
        for step in after:
            step(ws, report, changed)
        write_report(report, ws.report_path, ws.tmp)
    finally:
        bulk.thaw()
    return report


_BY_PROFILE_AND_INPUT = itemgetter("profile", "input")


class _Bulk:
    """No cyclic garbage collection while a workspace's rows and report items are made in bulk:
    none is a cycle, and the collector would walk the growing heap of them over and over (W3: a
    tenth of a no-op run over 100,000 inputs, #12). What was made meanwhile is then frozen (left
    out of the collections of the rest of the run: the publish step and report.json, another
    0.2 s at 100,000 inputs) until `thaw`, at the end of the run, makes it collectable again
    (a watcher runs batch after batch)."""

    def __init__(self):
        self.frozen = False

    def __enter__(self):
        self.enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            gc.freeze()
            self.frozen = True
            gc.enable()

    def thaw(self) -> None:
        if self.frozen:
            gc.unfreeze()
            self.frozen = False


def _plan(
    ws: Workspace, store: Store, states: dict[str, State], only, report: RunReport
) -> tuple[list[Task], list[dict]]:
    """Tasks for what is new or changed; report items for what is not.

    Once per input of the workspace, for every run and watcher batch, so kept lean (W3, #12):
    the scan's stat against the store's state read in one query, then one look at the outputs."""
    tasks: list[tuple[int, Task]] = []
    items: list[dict] = []
    seen: set[str] = set()
    wanted = set(only) if only is not None else None
    root = str(ws.root)
    claimed: dict[str, str] = {}
    outputs = _Outputs(root)
    same: dict[tuple, bool] = {}  # _same_recipe of inputs without a sidecar, by what it compares
    try:
        for cand in ws.scan():
            state = states.get(cand.rel)
            # The stored row's copy of the name where there is one: the scan's is dropped with
            # its Candidate instead of being kept in `seen` and `claimed` (memory at 100,000 inputs).
            rel = cand.rel if state is None else state.input
            seen.add(rel)
            if wanted is not None and rel not in wanted:
                if state is not None:
                    items.append(_item(state))
                continue
            out_dir = ws.output_folder(rel, cand.profile)
            if cand.problem or out_dir in claimed:
                error = cand.problem or f"its outputs would overwrite those of {claimed[out_dir]}; rename one of them"
                # Refused before anything was written (and a clashing out_dir is the other input's).
                _record_failure(
                    ws,
                    store,
                    state,
                    Result(rel, cand.profile, "unknown", "failed", error=error, size=cand.size, mtime_ns=cand.mtime_ns),
                    wrote=False,
                )
                items.append(
                    {
                        "input": rel,
                        "profile": cand.profile,
                        "media": "unknown",
                        "status": "failed",
                        "outputs": [],
                        "warnings": [],
                        "error": error,
                        # refused again for the same reason is not news for cron (#17)
                        "new": state is None or state.status != "failed" or state.error != error,
                    }
                )
                continue
            claimed[out_dir] = rel
            if state is not None and _unchanged(ws, store, cand, state, outputs, same):
                items.append(_item(state))
                continue
            tasks.append((cand.size, Task(root, rel, cand.profile, cand.sidecar)))
    finally:
        outputs.close()
    for rel, state in states.items():
        if rel not in seen and (wanted is None or rel in wanted):
            _remove_outputs(ws, state.outputs)
            unquarantine(ws, rel)
            store.remove(rel)
            report.removed.append(rel)
    store.outputs_seen(outputs.complete)
    tasks.sort(key=lambda t: -t[0])  # largest first: the batch ends with small files on both cores
    return [t for _, t in tasks], items


def _item(state: State) -> dict:
    """The report item of an input left as it was (report.item's fields, from its stored state)."""
    return {
        "input": state.input,
        "profile": state.profile,
        "media": state.media,
        "status": "failed" if state.status == "failed" else "skipped",
        "outputs": state.outputs,
        "warnings": state.warnings,
        "error": state.error,
    }


def _unchanged(
    ws: Workspace, store: Store, cand: Candidate, state: State, outputs: _Outputs, same: dict[tuple, bool]
) -> bool:
    if cand.sidecar:
        if not _same_recipe(ws, cand, state):
            return False
    else:  # the same answer for every input of a profile with the same stored kind and recipe
        key = (cand.profile, state.profile, state.media, state.status, state.recipe)
        known = same.get(key)
        if known is None:
            known = same[key] = _same_recipe(ws, cand, state)
        if not known:
            return False
    if cand.size != state.size or cand.mtime_ns != state.mtime_ns:
        # Touched or copied again: same bytes need no work (content hash confirms).
        try:
            if file_sha256(ws.root / cand.rel) != store.sha256(cand.rel):
                return False
        except OSError:
            return False
        store.touch(cand.rel, cand.size, cand.mtime_ns)
    return outputs.exist(state)


def _same_recipe(ws: Workspace, cand: Candidate, state: State) -> bool:
    """Would the input's profile (and sidecar) make what its stored row was made with?"""
    if state.profile != cand.profile:
        return False
    section = None if state.status == "failed" else SECTION_OF_MEDIA.get(state.media)
    profile = ws.profiles[cand.profile]
    if state.status != "failed" and section not in profile.sections and state.status != "skipped":
        return False
    recipe = _recipe(profile, section, read_sidecar(ws.root / cand.sidecar) if cand.sidecar else b"")
    return recipe == state.recipe


# A folder is remembered (outputs_seen) only once it has been still this long: a later change,
# even within the same tick of the file system's clock, then gives it another stamp (git's
# "racily clean" rule). Generous for clocks that tick in seconds (FAT, some shares).
_STILL_NS = 3_000_000_000


class _Outputs:
    """Are an input's outputs all still there? Asked of every input by every run, so a deleted
    output is noticed and made again. One stat of the folder that holds them: unchanged since a
    run found them all in it (the store's stamp), nothing was deleted from it. Otherwise one
    listing of the folder, and its stamp is remembered (`complete`) when all are there (#12).

    Folders are stat'ed relative to their parent's descriptor, kept while the inputs (which come
    in scan order) stay in one folder: the kernel walks one name instead of a whole path."""

    def __init__(self, root: str):
        self.root = root
        self.complete: list[tuple[str, str]] = []  # (input, stamp) of folders found complete
        self.still_before = time.time_ns() - _STILL_NS
        self._parent: str | None = None
        self._fd = -1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._parent, self._fd = None, -1

    def _stat(self, folder: str) -> os.stat_result:
        parent, _, name = folder.rpartition("/")
        if parent != self._parent:
            self.close()
            self._parent = parent
            with contextlib.suppress(OSError):
                self._fd = os.open(f"{self.root}/{parent}", os.O_RDONLY | os.O_DIRECTORY)
        if self._fd < 0:
            return os.stat(f"{self.root}/{folder}")
        return os.stat(name, dir_fd=self._fd)

    def exist(self, state: State) -> bool:
        outputs = state.outputs
        if not outputs:
            return True
        parent = outputs[0].rpartition("/")[0]
        try:
            st = self._stat(parent)  # before the listing: a change after it moves the stamp on
        except OSError:
            return False
        stamp = f"{st.st_ino}:{st.st_mtime_ns}:{st.st_ctime_ns}"
        if stamp == state.seen:
            return True
        names = []
        for o in outputs:
            where, _, name = o.rpartition("/")
            if where != parent:  # outputs in several folders: each one looked at, nothing remembered
                return all(os.path.exists(f"{self.root}/{o}") for o in outputs)
            names.append(name)
        try:
            if not set(os.listdir(f"{self.root}/{parent}")).issuperset(names):
                return False
        except OSError:
            return False
        if max(st.st_mtime_ns, st.st_ctime_ns) < self.still_before:
            self.complete.append((state.input, stamp))
        return True


_RECIPES: dict[tuple[int, str | None], tuple[object, str]] = {}


def _recipe(profile, section: str | None, sidecar: bytes) -> str:
    """Profile.recipe hashes the whole section: for inputs without a sidecar, once per profile
    and section instead of once per input (W3: 10,000 unchanged inputs, #8). Profiles are frozen;
    the cache holds the profile itself, so its id cannot be reused by another one."""
    if sidecar:
        return profile.recipe(section, sidecar)
    key = (id(profile), section)
    if key not in _RECIPES:
        _RECIPES[key] = (profile, profile.recipe(section, b""))
    return _RECIPES[key][1]


def _execute(ws, store, states, tasks, pool: WorkerPool, stop, report, on_result, on_step) -> None:
    total, done = len(tasks), 0
    step = (lambda input, what, fraction: on_step(input, what, fraction, total)) if on_step else None
    if len(tasks) < pool.workers:
        tasks = _split(ws, tasks, pool.workers)
    shares = Counter(t.input for t in tasks)
    parts: dict[str, list[Result]] = {}

    def finish(result: Result) -> None:
        nonlocal done
        if shares[result.input] > 1:  # one share of a split input: record when all are in
            parts.setdefault(result.input, []).append(result)
            if len(parts[result.input]) < shares[result.input]:
                return
            result = _merge(parts.pop(result.input))
        done += 1
        if result.traceback:
            log.error("internal error on %s:\n%s", printable(result.input), result.traceback)
        if result.details:  # the tool's own words behind the plain error (#17)
            log.info("details for %s: %s", printable(result.input), result.details)
        _record(ws, store, states.get(result.input), result)
        report.items.append(item(result, with_facts=result.status == "processed", before=states.get(result.input)))
        report.counts[result.status] += 1
        if on_result:
            on_result(result, done, total)

    queue = list(tasks)
    while queue and not stop.is_set():
        suspects, queue = pool.run(queue, stop, finish, step)
        # A worker died (decoder crash, memory cap, stuck C code): which of the inputs in
        # flight did it? Each runs alone; one that kills its worker alone is failed.
        for task in suspects:
            if stop.is_set():
                break
            with WorkerPool(ws, 1) as alone:
                culprit, _ = alone.run([task], stop, finish, step)
            if culprit:
                finish(
                    Result.unread(
                        task,
                        "the worker process died on this file (a crash in a decoder, or over "
                        "[limits] memory_mb); the file is probably damaged",
                    )
                )


# Relative encoding cost per format, to share an input's formats fairly between workers.
_COST = {"avif": 3, "webp": 2}


def _split(ws: Workspace, tasks: list[Task], workers: int) -> list[Task]:
    """Fewer inputs than workers (a file dropped on an idle watcher): give each image input's
    formats to several workers. Each share decodes the file again (tens of milliseconds for the
    sizes where this matters) and writes only its own formats; the results are merged."""
    share = workers // len(tasks)
    out = []
    for task in tasks:
        options = ws.profiles[task.profile].options("image")
        try:
            image = sniff(ws.root / task.input).kind == "image"
        except OSError:
            image = False
        if share < 2 or not image or options is None or len(options.formats) < 2:
            out.append(task)
            continue
        groups: list[list[str]] = [[] for _ in range(min(share, len(options.formats)))]
        for fmt in sorted(options.formats, key=lambda f: -_COST.get(f, 1)):
            min(groups, key=_cost).append(fmt)
        # The pictures for people go with the lightest share, on a tie the one without the slowest
        # encoder (AVIF): the share that holds it sets the pace.
        light = min(range(len(groups)), key=lambda i: (_cost(groups[i]), max(_COST.get(f, 1) for f in groups[i])))
        out += [replace(task, formats=tuple(g), previews=i == light) for i, g in enumerate(groups)]
    return out


def _cost(formats: list[str]) -> int:
    return sum(_COST.get(f, 1) for f in formats)


def _merge(results: list[Result]) -> Result:
    """One Result from the shares of a split input: failed if any share failed."""
    failed = [r for r in results if r.status == "failed"]
    first = failed[0] if failed else results[0]
    if failed:
        return first
    renditions = [r for res in results for r in res.facts.get("renditions", [])]
    return replace(
        first,
        outputs=[o for r in results for o in r.outputs],
        warnings=list(dict.fromkeys(w for r in results for w in r.warnings)),
        facts={**first.facts, "renditions": renditions},
        seconds=max(r.seconds for r in results),
    )


def _record(ws: Workspace, store: Store, old: State | None, result: Result) -> None:
    if result.status == "failed":
        _record_failure(ws, store, old, result)
        return
    if old is not None:
        _remove_outputs(ws, [p for p in old.outputs if p not in set(result.outputs)])
        if old.status == "failed":
            unquarantine(ws, result.input)
    store.record(
        Row(
            input=result.input,
            profile=result.profile,
            media=result.media,
            status=result.status,
            size=result.size,
            mtime_ns=result.mtime_ns,
            sha256=result.sha256,
            recipe=result.recipe,
            outputs=result.outputs,
            warnings=result.warnings,
            error=None,
            facts=result.facts,
            times_processed=1 if result.status == "processed" else 0,
        )
    )


def _record_failure(ws: Workspace, store: Store, old: State | None, result: Result, wrote: bool = True) -> None:
    """A failed input: its earlier outputs go (they no longer match the file), and so do the
    renditions it wrote before it failed; a copy and the error go to quarantine/, the store
    remembers it so an unchanged file is not retried. A failure that is not the input's fault
    (disk full) is not quarantined and is retried by the next run (an empty recipe never matches)."""
    if old is not None:
        _remove_outputs(ws, old.outputs)
    if wrote:
        _remove_partial(ws, result)
    if not result.retry:
        quarantine(ws, result)
    log.error("failed %s: %s", printable(result.input), result.error)
    store.record(
        Row(
            input=result.input,
            profile=result.profile,
            media=result.media,
            status="failed",
            size=result.size,
            mtime_ns=result.mtime_ns,
            sha256=result.sha256,
            recipe="" if result.retry else result.recipe,
            outputs=[],
            warnings=result.warnings,
            error=result.error,
            facts={},
        )
    )


def _remove_partial(ws: Workspace, result: Result) -> None:
    """Renditions written before the input failed (a timeout, a full disk at the third width):
    the input's own output folder holds only its files (one folder per input)."""
    if result.profile not in ws.profiles:
        return
    folder = ws.output_dir(result.input, result.profile)
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        folder.rmdir()


def _remove_outputs(ws: Workspace, outputs: Iterable[str]) -> None:
    for rel in outputs:
        path = ws.root / rel
        if path.is_relative_to(ws.out):
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # the input's own folder, once empty
