"""The real watcher in a subprocess against a temp workspace: files written slowly, dropped by
the hundred, saved editor-style, and a watcher stopped mid-batch."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import CORPUS, crossmedia

# Small and quick: what is tested is when files are taken, not the renditions.
QUICK = '[image]\nwidths = [64]\nformats = ["webp"]\n'


def wait_for(condition, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def processed_counts(ws) -> dict[str, int]:
    db = ws.root / ".crossmedia/state.db"
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return dict(c.execute("SELECT input, times_processed FROM items WHERE status = 'processed'"))
    except sqlite3.Error:
        return {}


class Watching:
    def __init__(self, ws, *args: str):
        self.ws = ws
        self.log = ws.root.parent / f"watch-{time.monotonic_ns()}.log"
        self.out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.commands.cli", "watch", "-w", str(ws.root), *args],
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: self.ready(), what="the watcher to start")

    def ready(self) -> bool:
        state = self.ws.root / ".crossmedia/watch.json"
        return state.exists() and json.loads(state.read_text()).get("state") == "idle"

    def text(self) -> str:
        return self.log.read_text()

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.out.close()
        return code


@pytest.fixture
def quick(ws):
    ws.profile("quick", QUICK)
    ws.write("crossmedia.toml", 'name = "w"\n[folders]\n"inbox/quick" = "quick"\n[watch]\nsettle = 1.0\n')
    (ws.root / "inbox/quick").mkdir(parents=True, exist_ok=True)
    return ws


def photo(path: Path, seed: int, size=(320, 240)) -> Path:
    Image.effect_noise(size, 40 + seed % 50).convert("RGB").save(path, format="JPEG", quality=90)
    return path


def test_a_slowly_written_file_is_taken_once_after_its_last_chunk(quick):
    w = Watching(quick)
    try:
        data = (CORPUS / "images/orient-1.jpg").read_bytes()
        target = quick.root / "inbox/quick/slow.jpg"
        chunks = [data[i : i + len(data) // 6 + 1] for i in range(0, len(data), len(data) // 6 + 1)]
        with target.open("wb") as f:
            for chunk in chunks:  # 0.6 s apart: never still for the 1 s settle time
                f.write(chunk)
                f.flush()
                time.sleep(0.6)
        last_write = time.time()
        wait_for(lambda: processed_counts(quick).get("inbox/quick/slow.jpg"), what="slow.jpg processed")
        time.sleep(2)  # would a second, spurious batch come?
        assert processed_counts(quick)["inbox/quick/slow.jpg"] == 1
        assert not list((quick.root / "quarantine").glob("*.error.txt")), "taken before it was complete"
        with sqlite3.connect(quick.root / ".crossmedia/state.db") as c:
            updated = c.execute("SELECT updated FROM items").fetchone()[0]
        assert time.mktime(time.strptime(updated[:19], "%Y-%m-%dT%H:%M:%S")) >= int(last_write) - 1
    finally:
        assert w.stop() == 130


def stored(ws, rel: str) -> tuple | None:
    """(status, sha256, times_processed) of an input's row, or None while it has none."""
    db = ws.root / ".crossmedia/state.db"
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT status, sha256, times_processed FROM items WHERE input = ?", (rel,)).fetchone()
    except sqlite3.Error:
        return None


def jpeg_bytes(seed: int, size=(640, 480)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 40 + seed % 50).convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_a_file_written_and_closed_is_taken_on_its_close_not_after_the_settle_time(quick):
    """#12: a close after writing on a local disk says the copy is complete. With a settle time
    of an hour, only the close can have made the watcher take the file."""
    w = Watching(quick, "--settle", "3600")
    try:
        data = jpeg_bytes(1)
        with (quick.root / "inbox/quick/closed.jpg").open("wb") as f:
            f.write(data)
        row = wait_for(lambda: stored(quick, "inbox/quick/closed.jpg"), what="closed.jpg stored")
        assert row == ("processed", hashlib.sha256(data).hexdigest(), 1)
    finally:
        assert w.stop() == 130


def test_a_file_still_open_for_writing_elsewhere_is_not_taken_half_written(quick):
    """Written in several writes with pauses, through two handles: the first handle's close (an
    IN_CLOSE_WRITE) comes while the second still writes. Only the last close takes the file."""
    rel = "inbox/quick/two-writers.jpg"
    target = quick.root / rel
    data = jpeg_bytes(2)
    step = len(data) // 6 + 1
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    w = Watching(quick, "--settle", "3600")
    try:
        first = target.open("wb")
        first.write(chunks[0])
        first.flush()
        time.sleep(0.5)
        second = target.open("ab")  # e.g. a copy tool's second handle, or another process
        first.write(chunks[1])
        first.close()  # a close after writing, with the file half written and still open
        for chunk in chunks[2:]:
            time.sleep(0.5)
            assert stored(quick, rel) is None, "taken while another handle was still writing"
            second.write(chunk)
            second.flush()
        time.sleep(1)
        assert stored(quick, rel) is None, "taken while another handle was still writing"
        second.close()
        row = wait_for(lambda: stored(quick, rel), what="the file stored after its last close")
        assert row == ("processed", hashlib.sha256(data).hexdigest(), 1)
        assert not list((quick.root / "quarantine").glob("*.error.txt"))
    finally:
        assert w.stop() == 130


def test_polling_keeps_the_settle_time_for_closed_files(quick):
    """Network shares (--poll) give no close events to trust: the settle time holds."""
    w = Watching(quick, "--poll", "--settle", "6")
    try:
        with (quick.root / "inbox/quick/share.jpg").open("wb") as f:
            f.write(jpeg_bytes(3))
        time.sleep(3)  # the polling observer has seen it (1 s period), the settle time is not over
        assert stored(quick, "inbox/quick/share.jpg") is None
        wait_for(lambda: stored(quick, "inbox/quick/share.jpg"), what="share.jpg stored after the settle time")
    finally:
        w.stop()


def test_two_hundred_files_dropped_at_once_are_each_processed_once(quick, tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    for i in range(200):
        photo(staging / f"p{i:03d}.jpg", i, size=(96, 64))
    w = Watching(quick)
    try:
        for f in sorted(staging.iterdir()):
            os.rename(f, quick.root / "inbox/quick" / f.name)  # same file system: appears complete
        counts = wait_for(
            lambda: (c := processed_counts(quick)) and len(c) == 200 and c, timeout=180, what="200 files processed"
        )
        assert set(counts.values()) == {1}
        # the line comes after the batch's publish step (preview site of 200 new assets, #6)
        wait_for(lambda: "batch:" in w.text(), what="the batch line")
        time.sleep(1.5)
        assert set(processed_counts(quick).values()) == {1}
    finally:
        w.stop()


def test_editor_save_and_sidecar_edit_reprocess_but_a_touch_does_not(quick):
    target = photo(quick.root / "inbox/quick/doc.jpg", 1)
    w = Watching(quick)
    try:
        wait_for(lambda: processed_counts(quick).get("inbox/quick/doc.jpg") == 1, what="first pass")
        # editor-style save: write a temp file (ignored name), rename it over the original
        tmp = quick.root / "inbox/quick/.doc.jpg.swp"
        photo(tmp, 2)
        os.replace(tmp, target)
        wait_for(lambda: processed_counts(quick).get("inbox/quick/doc.jpg") == 2, what="reprocessed after save")
        # same bytes, new mtime: looked at, not redone
        os.utime(target)
        time.sleep(3)
        assert processed_counts(quick)["inbox/quick/doc.jpg"] == 2
        # a sidecar appears: its input is redone
        (quick.root / "inbox/quick/doc.jpg.toml").write_text('alt = "Noise"\n')
        wait_for(lambda: processed_counts(quick).get("inbox/quick/doc.jpg") == 3, what="reprocessed after sidecar")
        # a deleted input loses its outputs
        outputs = list((quick.root / "out/quick/doc.jpg").iterdir())
        assert outputs
        target.unlink()
        wait_for(lambda: not (quick.root / "out/quick/doc.jpg").exists(), what="outputs removed")
    finally:
        w.stop()


def test_cron_run_exits_75_while_the_watcher_runs_and_status_shows_it(quick):
    w = Watching(quick)
    try:
        done = crossmedia("run", "-w", str(quick.root))
        assert done.returncode == 75 and "crossmedia watch" in done.stderr
        status = json.loads(crossmedia("status", "-w", str(quick.root), "--json").stdout)
        assert status["watcher"]["running"] is True and status["watcher"]["state"] == "idle"
    finally:
        w.stop()
    status = json.loads(crossmedia("status", "-w", str(quick.root), "--json").stdout)
    assert status["watcher"]["running"] is False and status["lock"] is None


def test_sigterm_mid_batch_then_restart_processes_everything_once(quick, tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    for i in range(40):
        photo(staging / f"big{i:02d}.jpg", i, size=(1600, 1200))
    quick.profile("quick", '[image]\nwidths = [1200, 600]\nformats = ["webp", "avif"]\n')
    w = Watching(quick)
    for f in sorted(staging.iterdir()):
        os.rename(f, quick.root / "inbox/quick" / f.name)
    wait_for(lambda: len(processed_counts(quick)) >= 2, timeout=120, what="the batch under way")
    assert w.stop() == 130
    first = processed_counts(quick)
    assert 0 < len(first) < 40, "stop came too late to be mid-batch"
    assert not list((quick.root / "out/.tmp").glob("*"))
    w = Watching(quick)  # catches up on start
    try:
        counts = wait_for(
            lambda: (c := processed_counts(quick)) and len(c) == 40 and c,
            timeout=300,
            what="all 40 processed after restart",
        )
        assert set(counts.values()) == {1}
        for out in (quick.root / "out/quick").rglob("*.webp"):
            with Image.open(out) as im:
                im.load()
    finally:
        w.stop()


def test_polling_mode_sees_files_too(quick):
    w = Watching(quick, "--poll")
    try:
        photo(quick.root / "inbox/quick/polled.jpg", 5)
        wait_for(lambda: processed_counts(quick).get("inbox/quick/polled.jpg") == 1, what="polled file processed")
        assert "polling" in w.text()
    finally:
        w.stop()


def test_a_second_watcher_exits_75(quick):
    w = Watching(quick)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "pipeline.commands.cli", "watch", "-w", str(quick.root)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 75
    finally:
        w.stop()
