"""W4: watch-mode latency, from a file's close after writing to its row being in the store.

    python bench/w4.py [--drops 50] [--settle 2] [--against ../base]

Starts the real `crossmedia watch` (this tree's `.venv/bin/crossmedia`) on a fresh workspace with
the built-in `web` profile (AVIF, WebP, JPEG at every width), then drops 2-megapixel JPEGs (made
with Pillow) one at a time: open, write, close. For each drop, the latency is the time from the
close to the moment its row is in the store (the row is written after every rendition has been
renamed into place), settle time included: the target is that a file closed on a local disk is
stored within 1 s (issue #12). With `--against DIR`, the checkout in DIR runs its own watcher on
its own workspace beside it, and drops alternate between the two (one at a time, so they never
compete for the cores); its figures are printed too, and minus the settle time for a watcher that
waits for it. Prints p50/p95 and a summary line:

    W4 p50=<s> p95=<s> [old_p50=<s> old_p95=<s>] (close to stored, settle included; target p95 < 1 s)
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
            return (
                c.execute("SELECT 1 FROM items WHERE input = ? AND status = 'processed'", (rel,)).fetchone() is not None
            )
    except sqlite3.Error:
        return False


class Contender:
    """One tree's watcher on its own workspace."""

    def __init__(self, label: str, tree: Path, tmp: Path, settle: float):
        self.label, self.tree = label, tree
        self.ws = tmp / label
        crossmedia = str(tree / ".venv/bin/crossmedia")
        # Run from the tree itself: the fork server's `python -c` puts the working folder first on
        # its path, and another checkout's pipeline/ there would shadow this one's.
        subprocess.run([crossmedia, "init", str(self.ws)], check=True, capture_output=True, cwd=tree)
        self.log_path = tmp / f"watch-{label}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [crossmedia, "watch", "-w", str(self.ws), "--settle", str(settle)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=tree,
        )
        self.latencies: list[float] = []

    def wait_idle(self) -> None:
        state = self.ws / ".crossmedia/watch.json"
        deadline = time.monotonic() + 60
        while not (state.exists() and '"idle"' in state.read_text()):
            if time.monotonic() > deadline:
                raise SystemExit(f"the {self.label} watcher did not start:\n{self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)

    def drop(self, i: int, data: bytes) -> float:
        rel = f"inbox/web/drop-{i:03d}.jpg"
        db = self.ws / ".crossmedia/state.db"
        with (self.ws / rel).open("wb") as f:
            f.write(data)
        closed = time.monotonic()
        while not recorded(db, rel):
            if time.monotonic() - closed > 60:
                raise SystemExit(
                    f"{self.label}: {rel} was not processed within 60 s:\n{self.log_path.read_text()[-2000:]}"
                )
            time.sleep(0.005)
        self.latencies.append(time.monotonic() - closed)
        return self.latencies[-1]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def percentiles(values: list[float]) -> tuple[float, float, float, float]:
    """(min, p50, p95, max)."""
    v = sorted(values)
    return v[0], statistics.median(v), v[min(len(v) - 1, round(0.95 * (len(v) - 1)))], v[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--drops", type=int, default=50)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--against", type=Path, help="another checkout (with its own .venv) to run side by side")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="w4-"))
    contenders: list[Contender] = []
    try:
        trees = {"new": ROOT, **({"old": args.against.resolve()} if args.against else {})}
        contenders = [Contender(label, tree, tmp, args.settle) for label, tree in trees.items()]
        for c in contenders:
            c.wait_idle()
        payloads = [jpeg_2mp(i) for i in range(args.drops)]
        for i, data in enumerate(payloads):
            for c in contenders if i % 2 == 0 else contenders[::-1]:  # neither always goes first
                latency = c.drop(i, data)
                print(f"{c.label} drop {i + 1:2d}/{args.drops}: {latency:.3f} s from close to stored", file=sys.stderr)
        summary = []
        print(
            f"{args.drops} drops of a 2 MP JPEG through the web profile (12 renditions each), "
            f"settle {args.settle:g} s; latency from the close to the row in the store, settle included"
        )
        for c in contenders:
            lo, p50, p95, hi = percentiles(c.latencies)
            print(f"  {c.label} ({c.tree}): min {lo:.3f} s  p50 {p50:.3f} s  p95 {p95:.3f} s  max {hi:.3f} s")
            if c.label == "old":
                less = [v - args.settle for v in c.latencies]
                _, lp50, lp95, _ = percentiles(less)
                print(f"      minus the settle time: p50 {lp50:.3f} s  p95 {lp95:.3f} s")
            summary.append(
                f"{'' if c.label == 'new' else c.label + '_'}p50={p50:.3f} "
                f"{'' if c.label == 'new' else c.label + '_'}p95={p95:.3f}"
            )
        print(f"W4 {' '.join(summary)} (close to stored, settle included; target p95 < 1 s)")
        return 0
    finally:
        for c in contenders:
            if c.proc.poll() is None:
                c.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
