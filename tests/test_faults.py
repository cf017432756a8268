"""Faults (issue #8): SIGKILL at random moments, a full disk, a damaged store, concurrent runs.

The real CLI in subprocesses, real SQLite, real files. test_engine.py already kills one run once
and stops one with SIGTERM, test_watch.py a watcher mid-batch; here the kill harness of
bench/kill.py kills runs and watchers many times over and then checks everything at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import ROOT, crossmedia

sys.path.insert(0, str(ROOT / "bench"))
import kill  # noqa: E402  (bench/ is scripts, not a package)

QUICK = '[image]\nwidths = [256, 128]\nformats = ["webp", "jpeg"]\nmetadata = []\n'


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def quick(ws, limits: str = ""):
    ws.profile("quick", QUICK)
    ws.write("crossmedia.toml", f'name = "faults"\n[folders]\n"inbox/q" = "quick"\n{limits}')
    inbox = ws.root / "inbox/q"
    inbox.mkdir(parents=True, exist_ok=True)
    return inbox


def photos(folder: Path, n: int, size=(900, 600), seed: int = 0) -> list[Path]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        p = folder / f"p{i:03d}.jpg"
        Image.effect_noise(size, 20 + rnd.randrange(60)).convert("RGB").save(p, quality=88)
        out.append(p)
    return out


def rows(ws) -> dict[str, tuple]:
    with sqlite3.connect(ws.root / ".crossmedia/state.db") as c:
        return {r[0]: r[1:] for r in c.execute("SELECT input, status, times_processed FROM items")}


# Kill ----------------------------------------------------------------------------------------
def test_runs_and_watchers_killed_at_random_moments_lose_nothing(tmp_path, capsys):
    figures = kill.campaign(tmp_path, inputs=40, kills=6, seed=8, jobs=2)
    with capsys.disabled():
        print(f"\n{figures.summary()} in {figures.seconds:.0f} s")
    assert figures.problems == []
    assert figures.kills >= 3, "too few rounds were still working when their kill came"
    assert figures.checked_files > 40


def test_workers_end_when_the_engine_process_is_killed_alone(ws):
    """The OOM killer takes the main process only: its fork server and workers must not wait
    for work forever (they did, holding their memory, until #8)."""
    inbox = quick(ws)
    photos(inbox, 30, size=(1600, 1200))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.cli", "run", "-w", str(ws.root), "--jobs", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_rows(ws, 1)
    assert len(_group(proc.pid)) >= 3  # the engine, its fork server and workers
    os.kill(proc.pid, 9)
    proc.wait()
    deadline = time.monotonic() + 60
    while _group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _group(proc.pid)
    if left:  # do not leak them into the rest of the suite
        os.killpg(proc.pid, 9)
    assert not left, f"processes left behind: {left}"
    done = crossmedia("run", "-w", str(ws.root))
    assert done.returncode == 0, done.stderr
    assert set(rows(ws).values()) == {("processed", 1)} and len(rows(ws)) == 30


def _group(pgid: int) -> list[str]:
    """Live (not zombie) processes of a process group."""
    out = subprocess.run(["ps", "-o", "stat=,args=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip() and not line.strip().startswith("Z")]


@pytest.mark.slow
def test_kill_campaign_full_size(tmp_path, capsys):
    figures = kill.campaign(tmp_path, inputs=300, kills=50, seed=11, jobs=2)
    with capsys.disabled():
        print(f"\n{figures.summary()} in {figures.seconds:.0f} s")
    assert figures.problems == []
    assert figures.kills >= 25


# Store damage --------------------------------------------------------------------------------
def _damage(db: Path, how: str) -> None:
    side = [Path(f"{db}-wal"), Path(f"{db}-shm")]
    if how == "deleted":
        for p in [db, *side]:
            p.unlink(missing_ok=True)
    elif how == "deleted-wal-left":
        # A WAL full of committed frames, then the database file alone deleted.
        c = sqlite3.connect(db, isolation_level=None)
        c.execute("PRAGMA wal_autocheckpoint=0")
        c.execute("UPDATE items SET warnings = '[\"from the wal\"]'")
        shutil.copyfile(f"{db}-wal", db.with_name("saved-wal"))
        c.close()
        db.unlink()
        Path(f"{db}-shm").unlink(missing_ok=True)
        os.replace(db.with_name("saved-wal"), f"{db}-wal")
    elif how == "garbage":
        db.write_bytes(random.Random(1).randbytes(64 * 1024))
    elif how == "truncated":
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 2 + 100])
    elif how == "header-zeroed":
        with db.open("r+b") as f:
            f.write(b"\0" * 100)
    elif how == "garbage-wal":
        Path(f"{db}-wal").write_bytes(random.Random(2).randbytes(40_000))
        Path(f"{db}-shm").unlink(missing_ok=True)
    elif how == "empty":
        db.write_bytes(b"")
    else:
        raise ValueError(how)


@pytest.mark.parametrize(
    "how", ["deleted", "deleted-wal-left", "garbage", "truncated", "header-zeroed", "garbage-wal", "empty"]
)
def test_a_damaged_or_deleted_store_is_noticed_and_rebuilt_without_losing_originals(ws, how):
    inbox = quick(ws)
    photos(inbox, 6)
    ws.drop("broken/truncated.jpg", "inbox/q")
    before = {p.name: sha(p) for p in inbox.iterdir()}
    assert crossmedia("run", "-w", str(ws.root)).returncode == 1
    first = ws.report()
    outputs = {o for i in first["items"] for o in i["outputs"]}
    db = ws.root / ".crossmedia/state.db"
    # Make the state as big as a real one, so that truncation cuts into the item pages.
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("UPDATE items SET facts = json_set(facts, '$.pad', hex(randomblob(3000)))")
    c.close()  # checkpointed: the damage is to the database file itself
    _damage(db, how)

    done = crossmedia("run", "-w", str(ws.root))
    # The broken input is still failed: tried again (1) where the store lost it, or an old failure
    # (3, #17) where SQLite kept it (a WAL with bad checksums is ignored).
    assert done.returncode == (3 if how == "garbage-wal" else 1), done.stderr
    assert "Traceback" not in done.stderr
    report = ws.report()
    notes = " ".join(report["notes"])
    if how in ("garbage-wal",):  # SQLite ignores frames whose checksums do not match
        assert report["counts"]["processed"] == 0, report["counts"]
    else:
        word = "missing or empty" if how.startswith("deleted") or how == "empty" else "damaged"
        assert f"state database state.db was {word}" in notes, report["notes"]
        assert f"note: state database state.db was {word}" in done.stderr
        if word == "damaged":
            assert list(db.parent.glob("state.db.damaged-*")), "the damaged file is kept aside for inspection"
    assert report["counts"]["processed"] + report["counts"]["skipped"] == 6
    assert {o for i in report["items"] for o in i["outputs"]} == outputs
    assert all((ws.root / o).stat().st_size > 0 for o in outputs)
    assert {p.name: sha(p) for p in inbox.iterdir()} == before
    assert set(rows(ws)) == {f"inbox/q/{n}" for n in before}
    assert (ws.root / "quarantine").glob("*truncated.jpg*")
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    third = crossmedia("run", "-w", str(ws.root), "--json")
    assert json.loads(third.stdout)["counts"]["processed"] == 0
    assert "note: state database" not in third.stderr


def test_status_reads_a_damaged_store_without_a_traceback(ws):
    inbox = quick(ws)
    photos(inbox, 2)
    assert crossmedia("run", "-w", str(ws.root)).returncode == 0
    _damage(ws.root / ".crossmedia/state.db", "garbage")
    done = crossmedia("status", "-w", str(ws.root), "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout)["counts"]["pending"] == 2


# Concurrent runs -----------------------------------------------------------------------------
def _popen(*args: str, log: Path) -> subprocess.Popen:
    with log.open("w") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.commands.cli", *args], stdout=out, stderr=subprocess.STDOUT, text=True
        )


def _wait_rows(ws, n: int, timeout: float = 120) -> None:
    db = ws.root / ".crossmedia/state.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
                if c.execute("SELECT count(*) FROM items").fetchone()[0] >= n:
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} rows after {timeout} s")


def test_two_runs_and_a_watcher_at_once_exactly_one_works(ws, tmp_path):
    inbox = quick(ws, "[watch]\nsettle = 0.5\n")
    photos(inbox, 40, size=(2400, 1600))
    logs = [tmp_path / f"{i}.log" for i in range(3)]
    first = _popen("run", "-w", str(ws.root), "--jobs", "2", log=logs[0])
    _wait_rows(ws, 1)  # the first holds the workspace and is working
    second = _popen("run", "-w", str(ws.root), "--jobs", "2", log=logs[1])
    watcher = _popen("watch", "-w", str(ws.root), log=logs[2])
    status = json.loads(crossmedia("status", "-w", str(ws.root), "--json").stdout)
    assert status["lock"]["command"] == "run" and status["lock"]["pid"] == first.pid
    assert second.wait(timeout=60) == 75, logs[1].read_text()
    assert watcher.wait(timeout=60) == 75, logs[2].read_text()
    for log in logs[1:]:
        text = log.read_text()
        assert "workspace is busy: `crossmedia run`" in text and f"pid {first.pid}" in text, text
        assert "processed" not in text.replace("processed, ", "")
    assert first.wait(timeout=300) == 0, logs[0].read_text()
    assert set(rows(ws).values()) == {("processed", 1)} and len(rows(ws)) == 40
    # Released when done: the next one works, and finds nothing left to do.
    again = crossmedia("run", "-w", str(ws.root), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["counts"]["processed"] == 0


def test_runs_started_together_never_both_work(ws, tmp_path):
    inbox = quick(ws)
    photos(inbox, 12, size=(1600, 1200))
    logs = [tmp_path / f"{i}.log" for i in range(3)]
    procs = [_popen("run", "-w", str(ws.root), "--jobs", "1", log=log) for log in logs]
    codes = sorted(p.wait(timeout=300) for p in procs)
    # One works; the others find the workspace busy, unless the winner was already done (then
    # they find nothing to do): never two at work, never an input twice.
    assert codes[0] == 0 and all(c in (0, 75) for c in codes), [log.read_text() for log in logs]
    assert codes.count(75) >= 1
    assert set(rows(ws).values()) == {("processed", 1)}


def test_a_watcher_started_during_a_run_exits_75_and_a_run_after_a_killed_watcher_works(ws, tmp_path):
    inbox = quick(ws, "[watch]\nsettle = 0.5\n")
    photos(inbox, 3)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.cli", "watch", "-w", str(ws.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_rows(ws, 3)
    assert crossmedia("run", "-w", str(ws.root)).returncode == 75
    os.killpg(watcher.pid, 9)  # the lock dies with its holder
    watcher.wait()
    done = crossmedia("run", "-w", str(ws.root), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"] == {"processed": 0, "failed": 0, "skipped": 3}


# Disk full -----------------------------------------------------------------------------------
# A real full file system: a small tmpfs mounted over out/ in a private mount namespace
# (`unshare -m`, as root), resized with `mount -o remount` when "space returns". The driver runs
# inside the namespace and reports what it saw as JSON, since the mount vanishes with it.
DRIVER = textwrap.dedent("""
    import json, subprocess, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from kill import whole
    ws, small = Path(sys.argv[1]), sys.argv[2]
    out = ws / "out"
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={small}", "tmpfs", str(out)], check=True)

    def run():
        done = subprocess.run([sys.executable, "-m", "pipeline.commands.cli", "run", "-w", str(ws), "--jobs", "2"],
                              capture_output=True, text=True)
        files = [p for p in out.rglob("*") if p.is_file()]
        try:
            report = json.loads((out / "report.json").read_text())
        except (OSError, ValueError):
            report = None
        return {"code": done.returncode, "stderr": done.stderr[-4000:], "report": report,
                "tmp": sorted(p.name for p in (out / ".tmp").glob("*")) if (out / ".tmp").exists() else [],
                "bad": [(str(p.relative_to(ws)), whole(p)) for p in files if whole(p)],
                "files": sorted(str(p.relative_to(ws)) for p in files)}

    full = run()
    subprocess.run(["mount", "-o", "remount,size=256m", str(out)], check=True)
    print(json.dumps({"full": full, "space": run()}))
""")


def _can_mount_tmpfs() -> str | None:
    if not shutil.which("unshare"):
        return "needs unshare (util-linux)"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt && umount /mnt"],
        capture_output=True,
        text=True,
    )
    return (
        None if probe.returncode == 0 else f"needs root to mount a tmpfs in a mount namespace: {probe.stderr.strip()}"
    )


@pytest.mark.skipif(_can_mount_tmpfs() is not None, reason=str(_can_mount_tmpfs()))
def test_a_full_disk_fails_cleanly_keeps_nothing_half_written_and_recovers(ws, tmp_path):
    inbox = quick(ws)
    ws.profile("quick", '[image]\nwidths = [1600, 800, 400]\nformats = ["webp", "jpeg"]\n')
    photos(inbox, 8, size=(1600, 1200))
    before = {p.name: sha(p) for p in inbox.iterdir()}
    done = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            sys.executable,
            "-c",
            DRIVER,
            str(ws.root),
            "8m",
            str(ROOT / "bench"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    full, space = seen["full"], seen["space"]

    # Full: the run fails with one clear line per input it could not write, no traceback.
    assert full["code"] == 1, full["stderr"]
    assert "Traceback" not in full["stderr"]
    assert "no space left on the device" in full["stderr"], full["stderr"]
    assert full["bad"] == [] and full["tmp"] == []
    if full["report"] is None:  # not even the report fitted: the run says so in one line
        assert "error: no space left on the device" in full["stderr"], full["stderr"]
    else:
        failed = [i for i in full["report"]["items"] if i["status"] == "failed"]
        assert failed and all("no space left" in i["error"] and "\n" not in i["error"] for i in failed)
        listed = {o for i in full["report"]["items"] for o in i["outputs"]}
        renditions = {f for f in full["files"] if f.startswith("out/quick/")}
        assert renditions == listed, "renditions of failed inputs were left behind"
    assert not list((ws.root / "quarantine").glob("*")), "a full disk is not the input's fault"

    # Space returns: the next run does what was left, each input recorded once.
    assert space["code"] == 0, space["stderr"]
    assert space["bad"] == [] and space["tmp"] == []
    items = space["report"]["items"]
    assert {i["status"] for i in items} <= {"processed", "skipped"} and len(items) == 8
    assert set(rows(ws).values()) == {("processed", 1)}
    assert {p.name: sha(p) for p in inbox.iterdir()} == before
