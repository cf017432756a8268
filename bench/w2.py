"""W2: short 1080p clips through the `web` video profile, crossmedia vs the same ffmpeg commands run bare.

    python bench/w2.py [--clips 8] [--seconds 5] [--jobs 2] [--repeat 2]

The clips (testsrc2 + a sine tone, 1920x1080, 25 fps, cached in bench/results/w2/) go through
`crossmedia run` with the built-in web profile (H.264 MP4 up to 1080p, a muted loop, posters,
the soundtrack levelled to -16 LUFS). Every ffmpeg/ffprobe command crossmedia ran is recorded by
a shim first on PATH, then the recorded commands are replayed bare: each clip's commands in
order, `--jobs` clips at a time, as the worker pool does. The difference is the pipeline's own
cost (Python start-up, the store, the report, the preview site). CPU is user+system of the
ffmpeg/ffprobe runs (and of the processes rusage sees); CPU/wall near the number of jobs means
the batch spread over the cores.
The last line is the summary:

    W2 crossmedia/bare=<ratio> overhead=<percent> cpu/wall crossmedia=<x> bare=<x>
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / "results" / "w2"

SHIM = """#!/bin/sh
# W2: record this command (NUL-separated), run the real tool, record its CPU time.
log="$W2_LOG/$(date +%s%N)-$$"
printf '%s\\0' "{name}" "$@" > "$log"
{real} "$@"
rc=$?
times > "$log.cpu"  # second line: the tool's user and system time
exit $rc
"""


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def make_clips(n: int, seconds: float) -> list[Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(n):
        path = CACHE / f"clip-{seconds:g}s-{i}.mp4"
        if not path.exists():
            subprocess.run(
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    f"testsrc2=s=1920x1080:r=25:d={seconds}",
                    "-f",
                    "lavfi",
                    "-i",
                    f"sine=f={220 + 110 * i}:sample_rate=48000:d={seconds}",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-crf",
                    "18",
                    "-pix_fmt",
                    "yuv420p",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "192k",
                    "-shortest",
                    str(path),
                ],
                check=True,
            )
        clips.append(path)
    return clips


def run_crossmedia(work: Path, clips: list[Path], jobs: int) -> tuple[float, float, Path]:
    bin_dir, log = work / "bin", work / "log"
    bin_dir.mkdir()
    log.mkdir()
    for name in ("ffmpeg", "ffprobe"):
        shim = bin_dir / name
        shim.write_text(SHIM.format(name=name, real=shutil.which(name)))
        shim.chmod(0o755)
    ws = work / "ws"
    crossmedia = [sys.executable, "-m", "pipeline.commands.cli"]
    subprocess.run([*crossmedia, "init", str(ws)], check=True, capture_output=True, cwd=ROOT)
    for clip in clips:
        shutil.copyfile(clip, ws / "inbox" / "web" / clip.name)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "W2_LOG": str(log)}
    cpu0, t0 = children_cpu(), time.perf_counter()
    done = subprocess.run(
        [*crossmedia, "run", "-w", str(ws), "-j", str(jobs)], env=env, cwd=ROOT, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"crossmedia run failed ({done.returncode}):\n{done.stderr}")
    # Pool workers outlive their fork server, so rusage misses them: their ffmpeg time comes
    # from the shims; the crossmedia processes rusage does see are added.
    return wall, recorded_cpu(log) + children_cpu() - cpu0, log


def recorded_cpu(log: Path) -> float:
    """User+system seconds of every recorded ffmpeg/ffprobe run (the shims' `times`)."""
    total = 0.0
    for entry in log.glob("*.cpu"):
        lines = entry.read_text().split("\n")
        for field in lines[1].split() if len(lines) > 1 else []:
            minutes, _, seconds = field.rstrip("s").partition("m")
            total += int(minutes) * 60 + float(seconds)
    return total


def recorded(log: Path, clips: list[Path]) -> list[list[list[str]]]:
    """The recorded commands, in the order they ran, grouped by the clip each one is about (a
    command naming only a temp file belongs to the clip whose command wrote that file)."""
    per_clip: list[list[list[str]]] = [[] for _ in clips]
    owner: dict[str, int] = {}
    for entry in sorted((p for p in log.iterdir() if p.suffix != ".cpu"), key=lambda p: int(p.name.split("-")[0])):
        args = [a.decode() for a in entry.read_bytes().split(b"\0")[:-1]]
        mine = next((i for i, clip in enumerate(clips) if any(clip.name in a for a in args)), None)
        if mine is None:
            mine = next((owner[a.removeprefix("file:")] for a in args if a.removeprefix("file:") in owner), None)
        if mine is None:
            continue  # not about a clip (none are expected)
        per_clip[mine].append(args)
        owner.update({a: mine for a in args if "/.tmp/" in a})
    return per_clip


def replay(per_clip: list[list[list[str]]], jobs: int) -> tuple[float, float]:
    tools = {name: shutil.which(name) for name in ("ffmpeg", "ffprobe")}

    def one(commands: list[list[str]]) -> None:
        written = set()
        for name, *args in commands:
            written.update(a for a in args if "/.tmp/" in a)  # renamed away by the run: written again here
            subprocess.run([tools[name], *args], check=True, capture_output=True)
        for out in written:
            Path(out.removeprefix("file:")).unlink(missing_ok=True)

    cpu0, t0 = children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, per_clip))
    return time.perf_counter() - t0, children_cpu() - cpu0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, alternating; medians are compared")
    args = parser.parse_args()
    clips = make_clips(args.clips, args.seconds)
    ours, bare = [], []
    for n in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="w2-") as tmp:
            work = Path(tmp)
            wall, cpu, log = run_crossmedia(work, clips, args.jobs)
            ours.append((wall, cpu))
            per_clip = recorded(log, clips)
            bare.append(replay(per_clip, args.jobs))
            print(f"run {n + 1}: crossmedia {wall:.2f} s, bare {bare[-1][0]:.2f} s", flush=True)
    ours_wall, ours_cpu = statistics.median(w for w, _ in ours), statistics.median(c for _, c in ours)
    bare_wall, bare_cpu = statistics.median(w for w, _ in bare), statistics.median(c for _, c in bare)
    commands = sum(len(c) for c in per_clip)
    print(
        f"{args.clips} clips of {args.seconds:g} s at 1920x1080, {args.jobs} jobs, {commands} ffmpeg/ffprobe commands"
    )
    print(f"crossmedia run   wall {ours_wall:6.2f} s   cpu {ours_cpu:6.2f} s")
    print(f"bare ffmpeg      wall {bare_wall:6.2f} s   cpu {bare_cpu:6.2f} s")
    ratio = ours_wall / bare_wall
    print(
        f"W2 crossmedia/bare={ratio:.3f} overhead={100 * (ratio - 1):+.1f}% "
        f"cpu/wall crossmedia={ours_cpu / ours_wall:.2f} bare={bare_cpu / bare_wall:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
