"""A batch on a Dask cluster (#13): a LocalCluster with worker processes, and a real `dask scheduler`
with two `dask worker` processes on 127.0.0.1 whose faults (a worker SIGKILLed mid-batch, the
scheduler gone mid-run) must keep the workspace's invariants: every input recorded once, every
output whole, no temp file left, a bounded stop with one line, and a next run that resumes.

Media: ../shared/corpus (images/, audio/, video/; SOURCES.md gives origin and licence).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import crossmedia

distributed = pytest.importorskip("distributed")

DASK = Path(sys.executable).with_name("dask")
IMAGES = ["images/gray.jpg", "images/adobergb.jpg", "images/orient-3.jpg", "images/alpha.png", "images/large-4032.jpg"]
AUDIO = ["audio/speech.opus"]
VIDEO = ["video/short-0.47s.mov"]


def mixed_batch(ws, images=IMAGES, audio=AUDIO, video=VIDEO) -> list[str]:
    for name in [*images, *audio, *video]:
        ws.drop(name)
    return sorted(f"inbox/web/{Path(n).name}" for n in [*images, *audio, *video])


def store_rows(root: Path) -> list[tuple]:
    with sqlite3.connect(root / ".crossmedia" / "state.db") as db:
        return db.execute("SELECT input, status, times_processed FROM items ORDER BY input").fetchall()


def recorded(root: Path) -> int:
    db = root / ".crossmedia" / "state.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    except sqlite3.Error:
        return 0


def assert_whole(ws, report: dict) -> None:
    """Every listed output is on disk and decodes (images with Pillow, the rest with ffprobe)."""
    for item in report["items"]:
        for rel in item["outputs"]:
            path = ws.root / rel
            assert path.is_file() and path.stat().st_size > 0, rel
            if path.suffix in (".jpg", ".png", ".webp", ".avif"):
                with Image.open(path) as im:
                    im.load()
            elif path.suffix in (".mp4", ".mp3", ".m4a", ".ogg", ".opus", ".webm"):
                probe = subprocess.run(
                    ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert probe.returncode == 0 and float(probe.stdout.strip()) > 0, (rel, probe.stderr)
    assert not list((ws.root / "out" / ".tmp").glob("*")), "temp files left"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The pure parts ------------------------------------------------------------------------------
def test_path_map_translates_the_longest_prefix():
    from pipeline.batch.cluster import map_path

    mapping = {"/srv": "/mnt/a", "/srv/campaign/": "/mnt/campaign"}
    assert map_path("/srv/campaign", mapping) == "/mnt/campaign"
    assert map_path("/srv/campaign/inbox", mapping) == "/mnt/campaign/inbox"
    assert map_path("/srv/other", mapping) == "/mnt/a/other"
    assert map_path("/srvx/campaign", mapping) == "/srvx/campaign"


def test_the_time_limit_holds_in_a_worker_thread():
    """Dask runs tasks in threads, where SIGALRM cannot be used: the same limit, by a timer."""
    from pipeline.batch.worker import JobTimeout, time_limit

    outcome = []

    def task():
        try:
            with time_limit(1):
                while True:
                    time.sleep(0.02)
        except JobTimeout:
            outcome.append("stopped")
        time.sleep(1.5)  # the limit must not fire again once its block has ended
        outcome.append("after")

    t = threading.Thread(target=task)
    t.start()
    t.join(30)
    assert outcome == ["stopped", "after"]


def test_without_the_extra_dask_says_how_to_install_it(ws, monkeypatch):
    ws.drop("images/gray.jpg")
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = ws.run("--executor", "dask", "--scheduler", "tcp://127.0.0.1:1", expect=2)
    assert "pip install 'crossmedia[dask]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (ws.root / "out" / "report.json").exists()


def test_config_executor_table_is_checked(ws):
    ws.write("crossmedia.toml", '[executor]\nkind = "spark"\npath_map = { "srv" = "/mnt" }\n')
    result = ws.run(expect=2)
    assert "[executor] kind" in result.output and "path_map" in result.output


# A LocalCluster with worker processes --------------------------------------------------------
@pytest.fixture(scope="module")
def local_cluster():
    cluster = distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, resources={"ffmpeg": 1}, dashboard_address=None
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_a_mixed_batch_runs_on_a_local_cluster(ws, local_cluster):
    inputs = mixed_batch(ws)
    ws.write("crossmedia.toml", 'name = "c"\n[limits]\nmemory_mb = 3000\n')
    done = crossmedia("run", "-w", str(ws.root), "--executor", "dask", "--scheduler", local_cluster, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = ws.report()
    assert sorted(i["input"] for i in report["items"]) == inputs
    assert all(i["status"] == "processed" for i in report["items"]), report["items"]
    # Each item says where it ran: a worker process of the cluster, not this machine's pool.
    workers = {i["worker"] for i in report["items"]}
    assert all(w.startswith(f"{socket.gethostname()}:") for w in workers)
    with distributed.Client(local_cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)
        caps = client.run(resource.getrlimit, resource.RLIMIT_AS)
    assert {int(w.rsplit(":", 1)[1]) for w in workers} <= set(pids.values())
    # [limits] memory_mb holds on the workers as it does locally.
    assert all(soft == 3000 * 1024 * 1024 for soft, _ in caps.values()), caps
    assert_whole(ws, report)
    assert store_rows(ws.root) == [(i, "processed", 1) for i in inputs]
    # A second run: nothing new, nothing sent to the cluster.
    again = crossmedia("run", "-w", str(ws.root), "--executor", "dask", "--scheduler", local_cluster, timeout=300)
    assert again.returncode == 0 and "0 processed" in again.stderr, again.stderr[-2000:]


def test_a_worker_that_cannot_see_the_workspace_is_named(ws, local_cluster):
    ws.drop("images/gray.jpg")
    ws.write(
        "crossmedia.toml",
        f'name = "c"\n[executor]\nkind = "dask"\nscheduler = "{local_cluster}"\n'
        f'path_map = {{ "{ws.root}" = "/nonexistent/campaign" }}\n',
    )
    done = crossmedia("run", "-w", str(ws.root), timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    line = done.stderr.strip().splitlines()[-1]
    assert "Dask worker" in line and "cannot see the workspace at /nonexistent/campaign" in line, done.stderr
    assert recorded(ws.root) == 0
    status = crossmedia("status", "-w", str(ws.root), timeout=120)
    assert "cannot see the workspace at /nonexistent/campaign" in status.stdout, status.stdout


def test_doctor_and_status_show_the_workers(ws, local_cluster):
    doctor = crossmedia("doctor", "--json", "-w", str(ws.root), "--scheduler", local_cluster, timeout=120)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert checks["dask cluster"]["ok"], checks["dask cluster"]
    workers = [c for name, c in checks.items() if name.startswith("dask worker ")]
    assert len(workers) == 2 and all("crossmedia 0.1.0" in c["detail"] and "ffmpeg=1" in c["detail"] for c in workers)
    status = crossmedia("status", "--json", "-w", str(ws.root), "--scheduler", local_cluster, timeout=120)
    cluster = json.loads(status.stdout)["cluster"]
    assert len(cluster["workers"]) == 2 and not cluster["problems"], cluster


def test_a_worker_with_another_profile_set_is_refused(ws, local_cluster, tmp_path):
    """The workers see another copy of the workspace (a stale mirror) whose profiles differ."""
    import shutil

    ws.drop("images/gray.jpg")
    mirror = tmp_path / "mirror"
    shutil.copytree(ws.root, mirror)
    (mirror / "profiles" / "extra.toml").write_text('[image]\nwidths = [100]\nformats = ["jpeg"]\n')
    ws.write("crossmedia.toml", f'name = "test"\n[executor]\npath_map = {{ "{ws.root}" = "{mirror}" }}\n')
    (mirror / "crossmedia.toml").write_text((ws.root / "crossmedia.toml").read_text())
    done = crossmedia("run", "-w", str(ws.root), "--executor", "dask", "--scheduler", local_cluster, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "different profile set" in done.stderr.strip().splitlines()[-1], done.stderr


# A real scheduler and two workers, and their faults ------------------------------------------
class RealCluster:
    def __init__(self, tmp: Path):
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.log = tmp / "dask.log"

    def _start(self, *args: str) -> subprocess.Popen:
        # Its own session: the nanny's worker process goes with the group when we clean up.
        with self.log.open("a") as log:
            proc = subprocess.Popen([str(DASK), *args], stdout=log, stderr=log, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self) -> RealCluster:
        self.scheduler = self._start(
            "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard", "--no-show"
        )
        for _ in range(2):
            self._start(
                "worker",
                self.address,
                "--host",
                "127.0.0.1",
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--resources",
                "ffmpeg=1",
                "--no-dashboard",
                "--memory-limit",
                "0",
            )
        with self.client() as client:
            client.wait_for_workers(2, timeout=120)
        return self

    def client(self):
        return distributed.Client(self.address, timeout=60, set_as_default=False)

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture
def real_cluster(tmp_path):
    cluster = RealCluster(tmp_path)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def start_run(ws, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.cli", "run", "-w", str(ws.root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, proc: subprocess.Popen, limit: float = 180) -> None:
    """Until `condition()`; fails if the run ended first (the fault would not land mid-batch)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert proc.poll() is None, f"the run ended before the fault: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)


def test_a_worker_killed_mid_batch_loses_nothing(ws, real_cluster):
    images = list(dict.fromkeys([f"images/orient-{n}.jpg" for n in range(1, 9)] + IMAGES))
    inputs = mixed_batch(ws, images, ["audio/speech.opus", "audio/tagged-stereo.flac"], VIDEO + ["video/no-audio.mp4"])
    with real_cluster.client() as client:
        pids = client.run(os.getpid)
        run = start_run(ws, "--executor", "dask", "--scheduler", real_cluster.address)
        try:
            wait_for(lambda: recorded(ws.root) >= 3, run)
            busy = [a for a, keys in client.processing().items() if keys and a in pids]
            victim = (busy or sorted(pids))[0]
            os.kill(pids[victim], signal.SIGKILL)
            _, err = run.communicate(timeout=300)
        finally:
            run.kill()
    assert run.returncode == 0, err[-3000:]
    assert busy, "no worker was busy when the kill landed"
    report = ws.report()
    assert sorted(i["input"] for i in report["items"]) == inputs
    assert all(i["status"] == "processed" for i in report["items"]), [i for i in report["items"] if i["error"]]
    # Both workers appear in the report (the killed one before its death, or its restarted process).
    ran = {i["worker"] for i in report["items"]}
    survivor = next(a for a in pids if a != victim)
    assert f"{socket.gethostname()}:{pids[survivor]}" in ran and len(ran) >= 2, (ran, pids)
    assert store_rows(ws.root) == [(i, "processed", 1) for i in inputs]
    assert_whole(ws, report)
    assert not list((ws.root / ".crossmedia" / "tmp").glob("*"))


def test_the_scheduler_gone_mid_run_stops_it_with_one_line_and_the_next_run_resumes(ws, real_cluster):
    images = list(dict.fromkeys([f"images/orient-{n}.jpg" for n in range(1, 9)] + IMAGES))
    inputs = mixed_batch(ws, images, AUDIO, VIDEO)
    run = start_run(ws, "--executor", "dask", "--scheduler", real_cluster.address)
    try:
        wait_for(lambda: recorded(ws.root) >= 2, run)
        os.killpg(real_cluster.scheduler.pid, signal.SIGKILL)
        # Bounded: a hang fails here (the coordinator's own bound is SCHEDULER_GRACE seconds).
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 1, err[-3000:]
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: lost the Dask scheduler at"), err[-3000:]
    assert "Traceback" not in err, err
    done_before = store_rows(ws.root)
    assert 2 <= len(done_before) < len(inputs), done_before
    # The next run (here on this machine) does the rest, and only the rest.
    again = crossmedia("run", "-w", str(ws.root), "--executor", "local", timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(inputs) - len(done_before)} processed" in again.stderr, again.stderr[-2000:]
    assert store_rows(ws.root) == [(i, "processed", 1) for i in inputs]
    assert_whole(ws, ws.report())


def test_watch_sends_what_lands_to_the_cluster(ws, local_cluster):
    watcher = subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.cli", "watch", "-w", str(ws.root), "--settle", "0.5"]
        + ["--executor", "dask", "--scheduler", local_cluster],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: (
                (ws.root / ".crossmedia" / "watch.json").exists()
                and "idle" in (ws.root / ".crossmedia" / "watch.json").read_text()
            ),
            watcher,
        )
        ws.drop("images/gray.jpg")
        report = ws.root / "out" / "report.json"
        wait_for(lambda: report.exists() and "gray.jpg" in report.read_text(), watcher)
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=120)
    finally:
        watcher.kill()
    assert watcher.returncode == 130, err[-2000:]
    item = ws.item("inbox/web/gray.jpg")
    assert item["status"] == "processed" and item["worker"], item
    with distributed.Client(local_cluster, set_as_default=False) as client:
        pids = set(client.run(os.getpid).values())
    assert int(item["worker"].rsplit(":", 1)[1]) in pids
