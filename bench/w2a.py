"""W2a: levelling accuracy and wall time, crossmedia vs ffmpeg-normalize, on the corpus audio (#4).

    ./dev bench W2a [--target -16] [--repeat 1]

Every file of ../shared/corpus/audio/ is levelled to `--target` LUFS under -1 dBTP as MP3
(LAME VBR -q:a 2, the source's sample rate) twice, side by side in one invocation:

- `crossmedia run --jobs 2` on a fresh workspace whose profile has only that MP3 (no waveform);
- ffmpeg-normalize (PyPI; installed into bench/results/pydeps on first use), EBU mode, the same
  target, true peak and codec options, its files split over two processes so both use two cores.

Both outputs are then measured with ffmpeg's ebur128 (integrated loudness, true peak). Prints a
row per file (error from the target, true peak) and a summary line:

    W2a crossmedia: max |err| <x> LU, <s> s; ffmpeg-normalize: max |err| <y> LU, <t> s; time ratio <r>
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("CROSSMEDIA_CORPUS", ROOT.parent / "shared" / "corpus"))
DEPS = ROOT / "bench" / "results" / "pydeps"
FFN_VERSION = "1.43.0"


def ensure_ffmpeg_normalize() -> None:
    if (DEPS / "ffmpeg_normalize").is_dir():
        return
    DEPS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(DEPS), f"ffmpeg-normalize=={FFN_VERSION}"],
        check=True,
    )


def ebur128(path: Path) -> tuple[float, float]:
    done = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = done.stderr[done.stderr.rindex("Summary:") :]
    lufs = re.search(r"I:\s+(\S+) LUFS", summary).group(1)
    peak = re.search(r"True peak:\s+Peak:\s+(\S+) dBFS", summary).group(1)
    return float(lufs), float(peak)


def run_crossmedia(files: list[Path], work: Path, target: float) -> tuple[float, dict[str, Path]]:
    from pipeline.config.workspace import init_workspace

    ws = work / "ws"
    init_workspace(ws, "w2a")
    (ws / "profiles" / "w2a.toml").write_text(
        f'description = "W2a"\n[audio]\nformats = ["mp3"]\nlufs = {target}\ntrue_peak = -1\nsample_rate = 0\n'
        f"mp3_quality = 2\nwaveform = false\n",
        encoding="utf-8",
    )
    (ws / "crossmedia.toml").write_text('name = "w2a"\n[folders]\n"inbox/w2a" = "w2a"\n', encoding="utf-8")
    (ws / "inbox" / "w2a").mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, ws / "inbox" / "w2a" / f.name)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pipeline.commands.cli", "run", "-w", str(ws), "--jobs", "2"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    seconds = time.monotonic() - started
    outs = {f.name: next((ws / "out" / "w2a").glob(f"{f.name}*/*.mp3")) for f in files}
    return seconds, outs


def run_ffmpeg_normalize(files: list[Path], work: Path, target: float) -> tuple[float, dict[str, Path]]:
    out = work / "ffn"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(DEPS)}
    halves = [files[0::2], files[1::2]]
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ffmpeg_normalize",
                *map(str, half),
                "-nt",
                "ebu",
                "-t",
                str(target),
                "-tp",
                "-1",
                "-c:a",
                "libmp3lame",
                "-e=-q:a 2",
                "-ext",
                "mp3",
                "-of",
                str(out),
                "-f",
                "-q",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for half in halves
        if half
    ]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"ffmpeg-normalize failed: {err.decode(errors='replace')[-400:]}")
    seconds = time.monotonic() - started
    return seconds, {f.name: out / f"{f.stem}.mp3" for f in files}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=float, default=-16.0)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest time counts")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    ensure_ffmpeg_normalize()
    files = sorted(p for p in (CORPUS / "audio").iterdir() if p.is_file())
    ours_t, theirs_t = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            t_ours, ours = run_crossmedia(files, work, args.target)
            t_theirs, theirs = run_ffmpeg_normalize(files, work, args.target)
            ours_t.append(t_ours)
            theirs_t.append(t_theirs)
            rows = [(name, ebur128(ours[name]), ebur128(theirs[name])) for name in sorted(ours)]
    print(f"{'file':34} {'crossmedia LUFS':>16} {'dBTP':>6}   {'ffmpeg-normalize LUFS':>22} {'dBTP':>6}")
    for name, (lo, po), (lt, pt) in rows:
        print(
            f"{name:34} {lo:9.1f} ({lo - args.target:+5.1f}) {po:6.1f}   {lt:15.1f} ({lt - args.target:+5.1f}) "
            f"{pt:6.1f}"
        )
    err_o = max(abs(lo - args.target) for _, (lo, _), _ in rows)
    err_t = max(abs(lt - args.target) for _, _, (lt, _) in rows)
    within_o = sum(abs(lo - args.target) <= 0.5 for _, (lo, _), _ in rows)
    within_t = sum(abs(lt - args.target) <= 0.5 for _, _, (lt, _) in rows)
    t_o, t_t = min(ours_t), min(theirs_t)
    print(
        f"W2a crossmedia: max |err| {err_o:.1f} LU, {within_o}/{len(rows)} within 0.5 LU, {t_o:.1f} s; "
        f"ffmpeg-normalize: max |err| {err_t:.1f} LU, {within_t}/{len(rows)} within 0.5 LU, {t_t:.1f} s; "
        f"time ratio {t_o / t_t:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
