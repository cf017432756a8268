"""MEM: peak memory of `crossmedia run` on one 100-megapixel image and on a 1 GB video through
the built-in `web` profile (AVIF, WebP, JPEG at 1920/1280/640/320; H.264 MP4 up to 1080p, muted
loop, posters, soundtrack levelled), issue #8.

    python bench/mem.py [--no-png] [--no-video]

Makes a 12000x8400 photo-like image (a smooth colour field with grain; cached in
bench/results/mem/) as a JPEG, which libjpeg can decode at reduced scale, and as a PNG, which must
be decoded whole: the worst case. Each goes alone into a fresh workspace and is processed by the
real CLI; memory is the peak of the summed PSS of the whole process tree, sampled every 20 ms
(bench/w1.py's `measure`). The video is 1080p25 H.264 at 40 Mbit/s with grain (so that it is
really 1 GB, about 215 s) and a stereo tone, made once by ffmpeg; ffmpeg streams it, so its peak
should not grow with the file. Last line:

    MEM 100MP jpeg_peak=<MiB> jpeg_wall=<s> png_peak=<MiB> png_wall=<s> video_peak=<MiB> video_wall=<s>
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from w1 import measure  # noqa: E402

CACHE = HERE / "results" / "mem"
SIZE = (12000, 8400)  # 100.8 MP


def source(fmt: str) -> Path:
    path = CACHE / f"photo-100mp.{fmt}"
    if path.exists():
        return path
    import numpy as np
    from PIL import Image

    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} ({SIZE[0]}x{SIZE[1]}) ...", file=sys.stderr)
    rng = np.random.default_rng(5)
    field = Image.fromarray((rng.random((42, 60, 3)) * 255).astype(np.uint8)).resize(SIZE, Image.Resampling.BICUBIC)
    grain = Image.effect_noise(SIZE, 12).convert("RGB")
    im = Image.blend(field, grain, 0.08)
    if fmt == "jpg":
        im.save(path, quality=90)
    else:
        im.save(path, compress_level=1)
    return path


VIDEO_SECONDS = 215  # at 40 Mbit/s: 1.07 GB


def video() -> Path:
    path = CACHE / "rush-1gb.mp4"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} (1080p25, {VIDEO_SECONDS} s at 40 Mbit/s) ...", file=sys.stderr)
    tmp = path.with_suffix(".part.mp4")
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=1920x1080:r=25:d={VIDEO_SECONDS}",
            "-f",
            "lavfi",
            "-i",
            f"sine=f=220:d={VIDEO_SECONDS}:sample_rate=48000",
            "-vf",
            "noise=alls=24:allf=t",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "40M",
            "-maxrate",
            "40M",
            "-bufsize",
            "80M",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-shortest",
            str(tmp),
        ],
        check=True,
    )
    tmp.rename(path)
    return path


def run_one(src: Path, tmp: Path) -> tuple[float, int]:
    ws = tmp / f"ws-{src.suffix[1:]}"
    subprocess.run(
        [sys.executable, "-m", "pipeline.commands.cli", "init", str(ws)], check=True, capture_output=True, cwd=ROOT
    )
    (ws / "inbox" / "web" / src.name).hardlink_to(src)
    wall, _, peak = measure(
        [sys.executable, "-m", "pipeline.commands.cli", "run", "-w", str(ws), "--jobs", "1"], cwd=ROOT
    )
    report = (ws / "out" / "report.json").read_text()
    if '"processed": 1' not in report:
        raise SystemExit(f"{src.name} was not processed: {report[:500]}")
    return wall, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-png", action="store_true")
    ap.add_argument("--no-video", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mem-"))
    try:
        parts = []
        for fmt in ["jpg"] + ([] if args.no_png else ["png"]):
            src = source(fmt)
            wall, peak = run_one(src, tmp)
            name = "jpeg" if fmt == "jpg" else fmt
            print(
                f"{src.name}: {src.stat().st_size / 1e6:.0f} MB, {SIZE[0]}x{SIZE[1]}, web profile (12 renditions): "
                f"{wall:.1f} s, peak memory (PSS) {peak / 2**20:.0f} MiB"
            )
            parts.append(f"{name}_peak={peak / 2**20:.0f} {name}_wall={wall:.1f}")
        if not args.no_video:
            src = video()
            wall, peak = run_one(src, tmp)
            print(
                f"{src.name}: {src.stat().st_size / 1e9:.2f} GB, 1920x1080, {VIDEO_SECONDS} s, web profile: "
                f"{wall:.1f} s, peak memory (PSS) {peak / 2**20:.0f} MiB"
            )
            parts.append(f"video_peak={peak / 2**20:.0f} video_wall={wall:.1f} video_gb={src.stat().st_size / 1e9:.2f}")
        print("MEM 100MP " + " ".join(parts))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
