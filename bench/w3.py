"""W3: a workspace of 10,000 already-processed small inputs: how long does a run that has nothing
to do take, and how much memory? (issue #8: under 2 s and under 200 MB)

    python bench/w3.py [--inputs 10000] [--repeat 3] [--profile-noop]

Makes tiny JPEGs (48x32, each different, cached in bench/results/w3/), links them into a fresh
workspace whose one profile writes one width in one format (so that the first run is bearable),
runs `crossmedia run` once to process them all (timed too), then the no-op run `--repeat` times.
Wall time is the median; memory is the peak of the summed PSS of the whole process tree, sampled
every 20 ms (bench/w1.py's `measure`). `--profile-noop` writes a cProfile of one no-op run to
bench/results/w3/noop.prof and prints its top entries. The last line is the summary:

    W3 first_run=<s> noop_run=<s> noop_peak=<MiB> (target noop < 2 s, < 200 MB)
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from w1 import measure  # noqa: E402

CACHE = HERE / "results" / "w3"
PROFILE = '[image]\nwidths = [32]\nformats = ["webp"]\nmetadata = []\n'


def inputs(n: int) -> Path:
    """n different 48x32 JPEGs (a few hundred bytes each), made once."""
    import numpy as np
    from PIL import Image

    src = CACHE / f"inputs-{n}"
    if len(list(src.glob("*.jpg"))) == n:
        return src
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    rng = np.random.default_rng(3)
    print(f"generating {n} tiny JPEGs in {src} ...", file=sys.stderr)
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=70)
        sub = src / f"{i // 1000:02d}"  # a delivery in folders of 1,000, as agencies send them
        sub.mkdir(exist_ok=True)
        (sub / f"img-{i:05d}.jpg").write_bytes(buf.getvalue())
    return src


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile-noop", action="store_true")
    args = ap.parse_args()
    src = inputs(args.inputs)
    crossmedia = [sys.executable, "-m", "pipeline.commands.cli"]
    tmp = Path(tempfile.mkdtemp(prefix="w3-"))
    try:
        ws = tmp / "ws"
        subprocess.run([*crossmedia, "init", str(ws)], check=True, capture_output=True, cwd=ROOT)
        (ws / "profiles" / "w3.toml").write_text(PROFILE)
        (ws / "crossmedia.toml").write_text('name = "w3"\n[folders]\n"inbox/w3" = "w3"\n')
        inbox = ws / "inbox" / "w3"
        for p in sorted(src.rglob("*.jpg")):
            dest = inbox / p.parent.name / p.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(p, dest)  # same bytes, no copy; never written to
        run = [*crossmedia, "run", "-w", str(ws), "--jobs", "2"]
        first, _, first_peak = measure(run, cwd=ROOT)
        print(f"first run: {args.inputs} inputs processed in {first:.1f} s, peak {first_peak / 2**20:.0f} MiB",
              file=sys.stderr)
        walls, peaks = [], []
        for i in range(args.repeat):
            wall, cpu, peak = measure(run, cwd=ROOT)
            walls.append(wall)
            peaks.append(peak)
            print(f"no-op run {i + 1}/{args.repeat}: {wall:.2f} s wall, {cpu:.2f} s cpu, peak {peak / 2**20:.0f} MiB",
                  file=sys.stderr)
        report = (ws / "out" / "report.json").read_text()
        if '"processed": 0' not in report:
            raise SystemExit("the no-op run processed something: the workspace was not up to date")
        if args.profile_noop:
            prof = CACHE / "noop.prof"
            subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "pipeline.commands.cli", "run", "-w", str(ws)],
                           check=True, capture_output=True, cwd=ROOT)
            import pstats

            pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(25)
        noop, peak = statistics.median(walls), max(peaks)
        print(f"{args.inputs} inputs already processed (one 32 px WebP each); first run {first:.1f} s; "
              f"no-op run median of {args.repeat} {noop:.2f} s, peak memory (PSS) {peak / 2**20:.0f} MiB")
        print(f"W3 first_run={first:.1f} noop_run={noop:.2f} noop_peak={peak / 2**20:.0f} (target noop < 2 s, < 200 MB)")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
