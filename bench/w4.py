"""W4: watch-mode latency, from a file's last write to its outputs being in place, minus the settle.

    python bench/w4.py [--drops 50] [--settle 2]

Starts the real `crossmedia watch` on a fresh workspace with the built-in `web` profile (AVIF,
WebP, JPEG at every width), then drops 2-megapixel JPEGs (made with Pillow) one at a time. For
each drop, the latency is the time from the end of the last write to the moment its row is in
the store (the row is written after every rendition has been renamed into place), minus the
settle time the watcher waits by design. Prints p50/p95 and a summary line:

    W4 p50=<s> p95=<s> (target p95 < 1 s)
"""

from __future__ import annotations

import argparse
import io
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def jpeg_2mp(seed: int) -> bytes:
    """A 1732x1155 photo-like JPEG (2.0 MP: colour fields, shapes, grain), different per seed."""
    from pipeline.commands.demo import photo

    buf = io.BytesIO()
    photo(1732, 1155, seed=seed).save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def recorded(db: Path, rel: str) -> bool:
    try:
        with sqlite3.connect(db, timeout=1) as c:
            return c.execute("SELECT 1 FROM items WHERE input = ? AND status = 'processed'", (rel,)).fetchone() is not None
    except sqlite3.Error:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--drops", type=int, default=50)
    ap.add_argument("--settle", type=float, default=2.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="w4-"))
    ws = tmp / "ws"
    try:
        subprocess.run([sys.executable, "-m", "pipeline.commands.cli", "init", str(ws)], check=True, capture_output=True, cwd=ROOT)
        log = (tmp / "watch.log").open("w")
        watcher = subprocess.Popen([sys.executable, "-m", "pipeline.commands.cli", "watch", "-w", str(ws),
                                    "--settle", str(args.settle)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        state = ws / ".crossmedia/watch.json"
        deadline = time.monotonic() + 60
        while not (state.exists() and '"idle"' in state.read_text()):
            if time.monotonic() > deadline:
                raise SystemExit("the watcher did not start")
            time.sleep(0.05)
        db = ws / ".crossmedia/state.db"
        payloads = [jpeg_2mp(i) for i in range(args.drops)]
        latencies = []
        for i, data in enumerate(payloads):
            rel = f"inbox/web/drop-{i:03d}.jpg"
            with (ws / rel).open("wb") as f:
                f.write(data)
            last_write = time.monotonic()
            while not recorded(db, rel):
                if time.monotonic() - last_write > 60:
                    raise SystemExit(f"{rel} was not processed within 60 s; see {tmp / 'watch.log'}")
                time.sleep(0.005)
            latencies.append(time.monotonic() - last_write - args.settle)
            print(f"drop {i + 1:2d}/{args.drops}: {latencies[-1]:.3f} s after the settle time", file=sys.stderr)
        watcher.terminate()
        watcher.wait(timeout=60)
        latencies.sort()
        p50 = statistics.median(latencies)
        p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
        print(f"{args.drops} drops of a 2 MP JPEG through the web profile (12 renditions each), settle {args.settle:g} s")
        print(f"  min {latencies[0]:.3f} s  p50 {p50:.3f} s  p95 {p95:.3f} s  max {latencies[-1]:.3f} s")
        print(f"W4 p50={p50:.3f} p95={p95:.3f} (target p95 < 1 s)")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
