"""DIST: the same batches through the local pool and through a Dask cluster of two local workers (#13).

    python bench/dist.py [--photos 12] [--clips 4] [--seconds 5] [--repeat 3] [--tasks 5000]

A real `dask scheduler` and two `dask worker --nworkers 1 --nthreads 1 --resources ffmpeg=1`
processes on 127.0.0.1 (what docs/cluster.md tells users to start), kept up for the whole
benchmark. W1's photos (../shared/bench/gen_photos.py, W1's profile) and W2's 1080p clips (the
built-in web profile) each go through `crossmedia run --jobs 2` and `crossmedia run --executor
dask`, alternating, `--repeat` times, a fresh workspace each time; medians are compared: Dask's
overhead in % (goal under 5 %). On this 2-core machine the scheduler, the coordinator and the two
workers share the same cores, so this is Dask's cost at its worst, not a speed-up.

The coordinator's ceiling: `--tasks` near-empty tasks (each returns a Result at once) through
DaskPool.run, the loop that sends Tasks and takes Results in `crossmedia run`: tasks per second
(goal at least 500, so that 10,000 inputs never wait on the coordinator). The last line is the
summary:

    DIST W1 overhead=<%> W2 overhead=<%> ceiling=<tasks/s>
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import w1  # noqa: E402  (the W1 photos and profile)
import w2  # noqa: E402  (the W2 clips)

DASK = Path(sys.executable).with_name("dask")
CROSSMEDIA = [sys.executable, "-m", "pipeline.commands.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, log: Path):
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.procs: list[subprocess.Popen] = []
        self.log = log

    def __enter__(self) -> Cluster:
        port = self.address.rsplit(":", 1)[1]
        self._start("scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard", "--no-show")
        for _ in range(2):
            self._start(
                "worker", self.address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
                "--resources", "ffmpeg=1", "--no-dashboard", "--memory-limit", "0",
            )  # fmt: skip
        import distributed

        with distributed.Client(self.address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        return self

    def _start(self, *args: str) -> None:
        with self.log.open("a") as log:
            self.procs.append(
                subprocess.Popen([str(DASK), *args], stdout=log, stderr=log, start_new_session=True, cwd="/")
            )

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def one_run(files: list[Path], profile: str | None, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="dist-") as tmp:
        ws = Path(tmp) / "ws"
        subprocess.run([*CROSSMEDIA, "init", str(ws)], check=True, capture_output=True, cwd=ROOT)
        inbox = ws / "inbox" / "web"
        if profile is not None:  # as bench/w1.py does
            (ws / "profiles" / "w1.toml").write_text(profile)
            (ws / "crossmedia.toml").write_text('name = "w1"\n[folders]\n"inbox/w1" = "w1"\n')
            inbox = ws / "inbox" / "w1"
            inbox.mkdir(parents=True)
        for f in files:
            os.link(f, inbox / f.name)  # same bytes, no copy; never written to
        t0 = time.perf_counter()
        done = subprocess.run([*CROSSMEDIA, "run", "-w", str(ws), *extra], capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            sys.exit(f"crossmedia run {' '.join(extra)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return wall


def side_by_side(name: str, files: list[Path], profile: str | None, cluster: Cluster, repeat: int) -> float:
    local, dask = [], []
    for i in range(repeat):
        for which in ("local", "dask") if i % 2 == 0 else ("dask", "local"):
            if which == "local":
                local.append(one_run(files, profile, ["--jobs", "2", "--executor", "local"]))
            else:
                dask.append(one_run(files, profile, ["--executor", "dask", "--scheduler", cluster.address]))
    lo, da = statistics.median(local), statistics.median(dask)
    overhead = (da / lo - 1) * 100
    print(
        f"{name}: {len(files)} inputs; local pool (2 workers) median {lo:.2f} s "
        f"[{', '.join(f'{t:.2f}' for t in local)}]; Dask (2 workers) median {da:.2f} s "
        f"[{', '.join(f'{t:.2f}' for t in dask)}]; overhead {overhead:+.1f} %"
    )
    return overhead


def empty_task(task, memory_mb):
    """A near-empty task: the Result comes back at once (what the coordinator's loop costs)."""
    from pipeline.job import Result

    return Result(task.input, task.profile, "image", "processed", worker=f"{socket.gethostname()}:{os.getpid()}")


def ceiling(cluster: Cluster, n: int, repeat: int) -> float:
    from pipeline.batch.cluster import DaskPool
    from pipeline.config.workspace import Workspace, init_workspace
    from pipeline.job import Task

    rates = []
    with tempfile.TemporaryDirectory(prefix="dist-ceiling-") as tmp:
        root = init_workspace(Path(tmp) / "ws", "ceiling")
        inbox = root / "inbox" / "web"
        for i in range(n):  # tiny real files: the coordinator sniffs each (audio/video need ffmpeg)
            (inbox / f"{i:05d}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(60))
        ws = Workspace.open(root)
        tasks = [Task(str(ws.root), f"inbox/web/{i:05d}.jpg", "web") for i in range(n)]
        with DaskPool(ws, cluster.address) as pool:
            pool.fn = empty_task
            pool.warm()
            for _ in range(repeat):
                got = []
                t0 = time.perf_counter()
                pool.run(tasks, threading.Event(), got.append)
                elapsed = time.perf_counter() - t0
                assert len(got) == n, len(got)
                rates.append(n / elapsed)
    rate = statistics.median(rates)
    print(
        f"coordinator ceiling: {n} near-empty tasks, median {rate:.0f} tasks/s [{', '.join(f'{r:.0f}' for r in rates)}]"
    )
    return rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=5000)
    args = ap.parse_args()
    photos = sorted(w1.photos(args.photos).glob("*.jpg"))
    clips = w2.make_clips(args.clips, args.seconds)
    with tempfile.TemporaryDirectory(prefix="dist-log-") as logs, Cluster(Path(logs) / "dask.log") as cluster:
        w1_over = side_by_side("W1 photos", photos, w1.PROFILE, cluster, args.repeat)
        w2_over = side_by_side("W2 clips", clips, None, cluster, args.repeat)
        rate = ceiling(cluster, args.tasks, args.repeat)
    print(f"DIST W1 overhead={w1_over:+.1f}% W2 overhead={w2_over:+.1f}% ceiling={rate:.0f} tasks/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
