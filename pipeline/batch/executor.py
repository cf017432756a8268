"""The executor seam: worker processes that take Tasks and give back Results.

A Task is plain data and a Result is plain data, so the pool here (a local process pool, kept
across batches by the watcher) is the one thing another executor replaces.
"""

from __future__ import annotations

import contextlib
import os
import queue as queue_module
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from pipeline.batch.forkserver import forkserver
from pipeline.batch.worker import init_worker, process
from pipeline.config.workspace import Workspace
from pipeline.job import Result, Task


class WorkerPool:
    """Worker processes that run Tasks: the executor seam. Kept across batches by the watcher
    (no start-up per drop); replaced after a worker dies."""

    def __init__(self, ws: Workspace, workers: int):
        self.ws, self.workers = ws, max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self.progress = None  # the queue workers report long inputs' progress on

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = forkserver()
            # Bounded: a worker drops progress updates rather than wait on a slow terminal.
            self.progress = ctx.Queue(maxsize=1000)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=init_worker,
                initargs=(self.ws.config.limits.memory_mb, os.getpid(), self.progress),
            )
        return self._pool

    def warm(self) -> None:
        """Start every worker now, so that the first input does not wait for them."""
        pool = self._executor()
        for fut in [pool.submit(time.sleep, 0.05) for _ in range(self.workers)]:
            fut.result()

    def _drain(self, step: Callable[[str, str, float], None]) -> None:
        latest: dict[str, tuple[str, float]] = {}
        with contextlib.suppress(queue_module.Empty, OSError, ValueError):
            while len(latest) < 1000:
                input, what, fraction = self.progress.get_nowait()
                latest[input] = (what, fraction)
        for input, (what, fraction) in latest.items():
            step(input, what, fraction)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self.progress = None  # a killed worker may have held its lock: the next pool gets a new one

    def _kill(self) -> None:
        if self._pool is not None:
            for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
                proc.kill()
        self.close()

    def run(
        self,
        tasks: list[Task],
        stop: threading.Event,
        finish: Callable[[Result], None],
        step: Callable[[str, str, float], None] | None = None,
    ) -> tuple[list[Task], list[Task]]:
        """Run tasks until done, stopped, or a worker dies; `step(input, what, fraction)` hears
        how far long inputs are.

        Returns (tasks in flight when a worker died, tasks not started yet).
        """
        limits = self.ws.config.limits
        pool = self._executor()
        queue = list(tasks)
        running: dict[Future, tuple[Task, float]] = {}
        broken: list[Task] = []
        while queue or running:
            # Two per worker keeps both busy while staying quick to stop.
            while queue and len(running) < self.workers * 2 and not stop.is_set():
                task = queue.pop(0)
                running[pool.submit(process, task)] = (task, time.monotonic())
            if not running:
                break
            finished, _ = wait(list(running), timeout=0.25 if step else 1.0, return_when=FIRST_COMPLETED)
            if step:
                self._drain(step)
            for fut in finished:
                task, _ = running.pop(fut)
                try:
                    finish(fut.result())
                except BrokenProcessPool:
                    broken.append(task)
            # The alarm in the worker cannot interrupt C code that never returns: past the limit
            # (plus grace) the pool is killed; the overdue input fails, the others are retried.
            overdue = {f for f, (_, started) in running.items() if time.monotonic() - started > limits.timeout + 30}
            if broken or overdue:
                self._kill()
                for fut, (task, _) in running.items():
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        finish(fut.result())
                    elif fut in overdue:
                        finish(Result.unread(task, f"took longer than {limits.timeout} s ([limits] timeout); stopped"))
                    else:
                        broken.append(task)
                break
        return broken, queue
