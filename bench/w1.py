"""W1: web renditions of camera photos, crossmedia side by side with expert Pillow and tuned sharp.

    python bench/w1.py [--photos 24] [--repeat 3] [--no-sharp]

Each photo (6000x4000 JPEG from ../shared/bench/gen_photos.py) becomes widths 1920/1280/640/320
as WebP q80 and JPEG q82, EXIF-oriented, metadata stripped, two photos at a time. The three
contenders run in turn, `--repeat` times, in one invocation (ratios, not absolute times: the
machine is noisy). Wall time is the median; CPU is user+system of the whole tree (read from
/proc every 100 ms, so the last 100 ms of a short-lived process may be missed).

Peak memory comes from one more run of each, not from the timed ones: it is the largest sum of
PSS over the whole process tree, sampled every 20 ms, and reading a process's PSS walks its page
tables under its memory lock. That stalls what it measures, and a tool made of five processes
(crossmedia's engine, fork server and workers) is stalled more than one made of one (sharp):
timed with that sampler on, crossmedia took 0.7-1.9 s longer over 12 photos, sharp 0.35-0.6 s.
The last line is the summary:

    W1 crossmedia/pillow=<ratio> crossmedia/sharp=<ratio or n/a>
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = Path(os.environ.get("CROSSMEDIA_BENCH_PEERS", ROOT.parent / "shared" / "bench"))
CACHE = HERE / "results" / "w1"

# The W1 job as a crossmedia profile. Baseline JPEG and no metadata, because that is what the
# peer scripts write (their Pillow/sharp defaults); the built-in web profile writes progressive.
PROFILE = """\
description = "W1 benchmark: widths 1920/1280/640/320 as WebP q80 and JPEG q82, oriented, stripped."
[image]
widths = [1920, 1280, 640, 320]
formats = ["webp", "jpeg"]
quality = { webp = 80, jpeg = 82 }
progressive = false
metadata = []
"""


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_sample(pid: int, cpu: dict[int, float], memory: bool = True) -> int:
    """Memory of pid and all its descendants, in bytes: the sum of their PSS (proportional set
    size), so pages that forked workers share with their parent count once, not per process
    (0 without `memory`). Also records each process's CPU seconds so far in `cpu` (workers of a
    fork server are not children the caller can wait for, so getrusage would miss them)."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, float] = {}
    hz = os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        ticks[int(entry.name)] = (int(fields[11]) + int(fields[12])) / hz
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        if memory:
            total += _pss(p)
        cpu[p] = max(cpu.get(p, 0.0), ticks.get(p, 0.0))
        stack.extend(children.get(p, []))
    return total


def measure(
    cmd: list[str], env: dict | None = None, cwd: Path | None = None, memory: bool = True
) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak tree memory bytes) of a command; raises if it fails.
    `memory=False`: CPU only, read every 100 ms, and a peak of 0; for runs that are timed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    cpu: dict[int, float] = {}
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_sample(proc.pid, cpu, memory))
            done.wait(0.02 if memory else 0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    t.join()
    if proc.returncode not in (0,):
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return wall, sum(cpu.values()), peak


def photos(n: int) -> Path:
    src = CACHE / f"photos-{n}"
    if len(list(src.glob("*.jpg"))) != n:
        shutil.rmtree(src, ignore_errors=True)
        print(f"generating {n} photos (6000x4000) with {PEERS / 'gen_photos.py'} ...", file=sys.stderr)
        subprocess.run([sys.executable, str(PEERS / "gen_photos.py"), str(src), str(n)], check=True)
    return src


def sharp_dir() -> Path | None:
    """node_modules with sharp (npm install into bench/results/node once), or None."""
    if not shutil.which("node") or not shutil.which("npm"):
        return None
    home = CACHE.parent / "node"
    if not (home / "node_modules" / "sharp").is_dir():
        home.mkdir(parents=True, exist_ok=True)
        print("installing sharp from npm (once) ...", file=sys.stderr)
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(home), "sharp"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"sharp could not be installed: {done.stderr[-500:]}", file=sys.stderr)
            return None
    return home / "node_modules" / "sharp"


def count_outputs(folder: Path) -> int:
    """Renditions proper. crossmedia also writes, in the same run and in the timed work, the
    pictures its preview site shows (a 1200 px source preview and the 1200x630 share picture
    of each photo, stages/previews.py); the peers make no such thing, so they are not counted."""
    people = (".preview.", ".share.", ".before-", ".proof-")
    return sum(
        1
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".webp", ".jpg") and not any(m in p.name for m in people)
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-sharp", action="store_true")
    args = ap.parse_args()

    src = photos(args.photos)
    sharp = None if args.no_sharp else sharp_dir()
    crossmedia = [sys.executable, "-m", "pipeline.commands.cli"]
    expected = args.photos * 8
    times: dict[str, list[float]] = {"pillow": [], "crossmedia": [], "sharp": []}
    cpus: dict[str, list[float]] = {"pillow": [], "crossmedia": [], "sharp": []}
    peaks: dict[str, int] = {"pillow": 0, "crossmedia": 0, "sharp": 0}
    for rep in range(args.repeat + 1):  # the last round samples memory and is not timed
        timed = rep < args.repeat
        with tempfile.TemporaryDirectory(prefix="w1-") as tmp:
            tmp = Path(tmp)
            runs = []
            runs.append(
                (
                    "pillow",
                    [sys.executable, str(PEERS / "w1_pillow.py"), str(src), str(tmp / "pillow")],
                    None,
                    tmp / "pillow",
                )
            )
            ws = tmp / "ws"
            subprocess.run([*crossmedia, "init", str(ws)], check=True, capture_output=True)
            (ws / "profiles" / "w1.toml").write_text(PROFILE)
            (ws / "crossmedia.toml").write_text('name = "w1"\n[folders]\n"inbox/w1" = "w1"\n')
            (ws / "inbox" / "w1").mkdir(parents=True)
            for p in src.glob("*.jpg"):
                os.link(p, ws / "inbox" / "w1" / p.name)  # same bytes, no copy; never written to
            runs.append(("crossmedia", [*crossmedia, "run", "-w", str(ws), "--jobs", "2"], None, ws / "out" / "w1"))
            if sharp:
                env = {**os.environ, "SHARP": str(sharp)}
                runs.append(
                    (
                        "sharp",
                        ["node", str(PEERS / "w1_sharp_expert.js"), str(src), str(tmp / "sharp")],
                        env,
                        tmp / "sharp",
                    )
                )
            for name, cmd, env, out in runs:
                wall, cpu, peak = measure(cmd, env=env, cwd=ROOT, memory=not timed)
                made = count_outputs(out)
                if made != expected:
                    raise SystemExit(f"{name} wrote {made} renditions, expected {expected}")
                if timed:
                    times[name].append(wall)
                    cpus[name].append(cpu)
                    print(
                        f"run {rep + 1}/{args.repeat} {name:10s} {wall:6.2f} s wall  {cpu:6.2f} s cpu", file=sys.stderr
                    )
                else:
                    peaks[name] = peak
                    print(
                        f"memory run {name:10s} peak {peak / 2**20:6.0f} MiB  ({wall:6.2f} s wall, not timed)",
                        file=sys.stderr,
                    )
    med = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"photos: {args.photos} x 6000x4000 -> {expected} renditions per contender, median of {args.repeat}")
    for k, v in med.items():
        print(
            f"  {k:10s} wall {v:6.2f} s  cpu {statistics.median(cpus[k]):6.2f} s  "
            f"peak memory (PSS) {peaks[k] / 2**20:6.0f} MiB"
        )
    vs_sharp = f"{med['crossmedia'] / med['sharp']:.2f}" if "sharp" in med else "n/a"
    print(f"W1 crossmedia/pillow={med['crossmedia'] / med['pillow']:.2f} crossmedia/sharp={vs_sharp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
