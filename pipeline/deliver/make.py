"""Make one input's files for a channel, and hold every file to the platform's limits (#16).

A file is taken from what the pipeline already made when one rendition is exactly what the
channel wants (same aspect, format and the size the source allows: a 4:5 JPEG at 1080x1350, the
1200x630 share picture); otherwise the source goes through the same stages as a run (decode,
orient, colour, crop, resize, encode; for video the one ffmpeg run with its loudness levelling)
with the channel's size. Every file, taken or made, is then measured (Pillow for pictures,
ffprobe and EBU R128 for video) and checked against each limit; a file that breaks one is never
shipped: the input fails for the channel with the rule it broke.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from PIL import Image

from pipeline.batch.store import Row
from pipeline.batch.worker import route
from pipeline.config.profile import ImageOptions, Profile, VideoOptions
from pipeline.config.sidecar import Trim, parse_sidecar, read_sidecar
from pipeline.config.workspace import Workspace
from pipeline.deliver.channels import Channel, ImageRules, VideoRules, aspect_of, parse_ratio, parse_size
from pipeline.errors import CrossmediaError
from pipeline.job import Job
from pipeline.media.avprobe import ffprobe
from pipeline.media.crop import crop_box
from pipeline.media.loudness import measure
from pipeline.media.video_geometry import fit
from stages import CHAINS, STAGES

# What a channel file is made with: the chain up to its encode. QA warnings, pictures for people
# and posters are the run's business, not a delivery's.
_SKIP = {"qa", "previews", "poster", "video_qa", "waveform"}
ASPECT_TOLERANCE = 0.01  # a shape within 1 % of the rule passes: sizes are whole, even pixels


class Refused(CrossmediaError):
    """The input cannot be delivered to the channel: the rule it breaks, one line."""


@dataclass(frozen=True)
class Made:
    path: Path  # the file, in the build folder
    kind: str  # image | video
    measured: dict  # format, width, height, bytes (+ duration, fps, codecs, lufs for video)
    origin: str  # the rendition it was taken from, or "rendered from the source"


def _mb(n: float) -> str:
    return f"{n / 1_000_000:.1f} MB"


# Measuring -----------------------------------------------------------------------------------
def measure_image(path: Path) -> dict:
    try:
        im = Image.open(path)
    except OSError as e:
        raise Refused(f"the file made cannot be read back as a picture ({e})") from None
    with im:
        return {
            "format": (im.format or "").lower(),
            "width": im.width,
            "height": im.height,
            "bytes": path.stat().st_size,
        }


def measure_video(path: Path, *, loudness: bool, timeout: float) -> dict:
    info = ffprobe(path)
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), {})
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    try:
        fps = float(Fraction(video.get("avg_frame_rate") or "0"))
    except (ValueError, ZeroDivisionError):
        fps = 0.0
    m = {
        "format": info.get("format", {}).get("format_name", ""),
        "width": int(video.get("width", 0)),
        "height": int(video.get("height", 0)),
        "bytes": path.stat().st_size,
        "duration": round(float(info.get("format", {}).get("duration") or 0), 3),
        "fps": round(fps, 3),
        "video_codec": video.get("codec_name", ""),
        "audio_codec": audio.get("codec_name", "") if audio else None,
        "sample_rate": int(audio.get("sample_rate", 0)) if audio else None,
        "channels": int(audio.get("channels", 0)) if audio else None,
    }
    if audio and loudness:
        figures = measure(path, timeout=timeout)
        m["lufs"], m["true_peak"] = round(figures["lufs"], 1), round(figures["true_peak"], 1)
    return m


# Checking ------------------------------------------------------------------------------------
def broken_image(channel: str, rules: ImageRules, m: dict) -> list[str]:
    """Every limit the picture breaks, each a sentence naming the rule and its source."""
    out = []
    w, h = m["width"], m["height"]
    if m["format"] not in rules.formats:
        out.append(f"format {m['format'].upper()}: {channel} takes {', '.join(f.upper() for f in rules.formats)}")
    if m["bytes"] > rules.max_bytes:
        out.append(f"file is {_mb(m['bytes'])}: {channel} takes at most {_mb(rules.max_bytes)}")
    if rules.min_width and w < rules.min_width:
        out.append(f"picture is {w}x{h}: {channel} takes at least {rules.min_width} px wide")
    if rules.max_width and w > rules.max_width:
        out.append(f"picture is {w}x{h}: {channel} takes at most {rules.max_width} px wide")
    if rules.min_height and h < rules.min_height:
        out.append(f"picture is {w}x{h}: {channel} takes at least {rules.min_height} px high")
    lo, hi = parse_ratio(rules.min_aspect), parse_ratio(rules.max_aspect)
    if lo is not None and w / h < lo * (1 - ASPECT_TOLERANCE):
        out.append(f"picture is {w}x{h}: {channel} takes shapes no narrower than {rules.min_aspect}")
    if hi is not None and w / h > hi * (1 + ASPECT_TOLERANCE):
        out.append(f"picture is {w}x{h}: {channel} takes shapes no wider than {rules.max_aspect}")
    return [f"{o} ({rules.source})" if rules.source else o for o in out]


def broken_video(channel: str, rules: VideoRules, m: dict) -> list[str]:
    out = []
    if not any(c in m["format"].split(",") for c in rules.containers):
        out.append(f"container {m['format']}: {channel} takes {', '.join(rules.containers).upper()}")
    if m["video_codec"] not in rules.video_codecs:
        out.append(f"video codec {m['video_codec']}: {channel} takes {', '.join(rules.video_codecs)}")
    if m["audio_codec"] is not None:
        if m["audio_codec"] not in rules.audio_codecs:
            out.append(f"audio codec {m['audio_codec']}: {channel} takes {', '.join(rules.audio_codecs)}")
        if rules.max_sample_rate and m["sample_rate"] > rules.max_sample_rate:
            out.append(f"audio at {m['sample_rate']} Hz: {channel} takes at most {rules.max_sample_rate} Hz")
        if rules.max_channels and m["channels"] > rules.max_channels:
            out.append(f"audio has {m['channels']} channels: {channel} takes at most {rules.max_channels}")
    if m["fps"] < rules.min_fps or m["fps"] > rules.max_fps:
        out.append(f"frame rate {m['fps']:g} fps: {channel} takes {rules.min_fps:g} to {rules.max_fps:g} fps")
    if rules.max_width and m["width"] > rules.max_width:
        out.append(f"picture is {m['width']}x{m['height']}: {channel} takes at most {rules.max_width} px wide")
    if m["duration"] < rules.min_seconds:
        out.append(f"video is {m['duration']:.1f} s: {channel} takes at least {rules.min_seconds:g} s")
    if m["duration"] > rules.max_seconds + 0.05:  # the last frame may end a few ms after a cut
        out.append(f"video is {m['duration']:.1f} s: {channel} takes at most {rules.max_seconds:g} s")
    if m["bytes"] > rules.max_bytes:
        out.append(f"file is {_mb(m['bytes'])}: {channel} takes at most {_mb(rules.max_bytes)}")
    if rules.lufs and "lufs" in m and not rules.lufs[0] <= m["lufs"] <= rules.lufs[1]:
        out.append(f"loudness {m['lufs']:g} LUFS: {channel} holds to {rules.lufs[0]:g} to {rules.lufs[1]:g} LUFS")
    if rules.lufs and "true_peak" in m and m["true_peak"] > rules.max_true_peak:
        out.append(f"true peak {m['true_peak']:g} dBTP: {channel} holds to at most {rules.max_true_peak:g} dBTP")
    return [f"{o} ({rules.source})" if rules.source else o for o in out]


# Making --------------------------------------------------------------------------------------
def _expected(row: Row, size: str) -> tuple[int, int] | None:
    """The size a run would make for `size` from this source: the size itself, or the whole
    crop when the source is smaller (never upscaled). None when the source's size is unknown."""
    w, h = parse_size(size)
    dw, dh = row.facts.get("display_width"), row.facts.get("display_height")
    if not dw or not dh:
        return None
    x0, y0, x1, y1 = crop_box(int(dw), int(dh), w / h, (0.5, 0.5))
    return fit(x1 - x0, y1 - y0, w, h)


def _reusable(row: Row, size: str, fmt: str, kind: str) -> dict | None:
    want = _expected(row, size)
    if want is None:
        return None
    aspect = aspect_of(size)
    for r in row.facts.get("renditions", []):
        role = r.get("role")
        if r.get("format") != fmt or role not in (None, "share") or r.get("muted"):
            continue
        if role is None and r.get("aspect") != aspect:
            continue
        if role == "share" and (r.get("width"), r.get("height")) != parse_size(size):
            continue
        if kind == "image" and abs(r["width"] - want[0]) <= 1 and abs(r["height"] - want[1]) <= 1:
            return r
        if kind == "video" and (r["width"], r["height"]) == want:
            return r
    return None


def _job(ws: Workspace, row: Row, kind: str, section: str, opts, out_dir: Path, trim: Trim | None) -> Job:
    source = ws.root / row.input
    sidecar_path = source.with_name(source.name + ".toml")
    sidecar = parse_sidecar(read_sidecar(sidecar_path if sidecar_path.is_file() else None), row.input)
    if trim is not None:
        sidecar = replace(sidecar, trim=trim)
    profile = Profile(name=f"deliver:{row.profile}", path=source, description="", sections={section: opts})
    return Job(
        source=source,
        rel=row.input,
        kind=kind,
        profile=profile,
        out_dir=out_dir,
        tmp_dir=ws.tmp,
        workspace=ws.root,
        limits=ws.config.limits,
        sidecar=sidecar,
    )


def _run_chain(job: Job, section: str, opts) -> Job:
    for name in CHAINS[job.kind][1]:
        if name not in _SKIP:
            job = STAGES[name](job, opts)
    return job


def render_image(ws: Workspace, row: Row, rules: ImageRules, size: str, out_dir: Path) -> Path:
    """The source through the image chain at the channel's size: one aspect, one width, one format."""
    if not ws.inside(ws.root / row.input):
        raise Refused("the original is gone or outside the workspace; run `crossmedia run` first")
    kind, _ = route(ws.root / row.input)
    profile = ws.profiles.get(row.profile)
    base = (profile.options("image") if profile else None) or ImageOptions()
    w, _h = parse_size(size)
    screen = ImageOptions()  # a channel is a screen: sRGB, no print checks, whatever the profile
    opts = replace(
        base,
        aspects=[aspect_of(size)],
        widths=[w],
        formats=[rules.formats[0]],
        colour=screen.colour,
        output_icc=screen.output_icc,
        print_width_mm=screen.print_width_mm,
        animated=False,
        svg="rasterise",  # a platform takes pixels: an SVG logo is drawn at the channel's size
    )
    job = _run_chain(_job(ws, row, kind, "image", opts, out_dir, None), "image", opts)
    made = [o.path for o in job.outputs if o.facts.get("role") is None and o.facts.get("format") == opts.formats[0]]
    if not made:
        raise Refused(f"the image chain made no {opts.formats[0].upper()} from the source")
    return made[0]


def render_video(ws: Workspace, row: Row, rules: VideoRules, out_dir: Path, trim: Trim | None, channel: str) -> Path:
    profile = ws.profiles.get(row.profile)
    base = (profile.options("video") if profile else None) or VideoOptions()
    w, h = parse_size(rules.size)
    lufs = base.lufs
    if rules.lufs and not rules.lufs[0] <= lufs <= rules.lufs[1]:
        lufs = (rules.lufs[0] + rules.lufs[1]) / 2
    max_fps = min(base.max_fps or rules.max_fps, rules.max_fps)
    if rules.min_fps and float(row.facts.get("fps") or 0) < rules.min_fps:
        # More frames cannot be made up honestly; say so before paying for an encode.
        raise Refused(
            f"frame rate {float(row.facts.get('fps') or 0):g} fps: {channel} takes {rules.min_fps:g} to "
            f"{rules.max_fps:g} fps ({rules.source})"
        )
    opts = replace(
        base,
        aspects=[aspect_of(rules.size)],
        max_width=w,
        max_height=h,
        formats=["mp4"],
        loop=False,
        preview=False,
        max_fps=max_fps,
        lufs=lufs,
        true_peak=min(base.true_peak, rules.max_true_peak) if rules.lufs else base.true_peak,
    )
    job = _run_chain(_job(ws, row, "video", "video", opts, out_dir, trim), "video", opts)
    made = [o.path for o in job.outputs if o.facts.get("role") is None and o.path.suffix == ".mp4"]
    if not made:
        raise Refused("the video chain made nothing from the source")
    return made[0]


def make_images(ws: Workspace, channel: Channel, row: Row, build: Path) -> list[Made]:
    rules = channel.image
    assert rules is not None
    out = []
    for size in rules.sizes:
        found = _reusable(row, size, rules.formats[0], "image")
        if found is not None and (ws.root / found["path"]).is_file():
            m = measure_image(ws.root / found["path"])
            if not broken_image(channel.name, rules, m):
                out.append(Made(ws.root / found["path"], "image", m, found["path"]))
                continue
        path = render_image(ws, row, rules, size, build / "render")
        m = measure_image(path)
        broken = broken_image(channel.name, rules, m)
        if broken:
            raise Refused(broken[0])
        out.append(Made(path, "image", m, "rendered from the source"))
    return out


def make_video(ws: Workspace, channel: Channel, row: Row, build: Path, cut_long: bool) -> list[Made]:
    rules = channel.video
    assert rules is not None
    kept = float(row.facts.get("kept_duration") or row.facts.get("duration") or 0)
    trim = None
    if kept < rules.min_seconds:
        raise Refused(f"video is {kept:.1f} s: {channel.name} takes at least {rules.min_seconds:g} s ({rules.source})")
    if kept > rules.max_seconds:
        if not cut_long:
            raise Refused(
                f"video is {kept:.1f} s: {channel.name} takes at most {rules.max_seconds:g} s ({rules.source}); "
                f"[deliver.{channel.name}] cut_long = true cuts it to its first {rules.max_seconds:g} s"
            )
        start = float((row.facts.get("trim") or {}).get("start") or 0)
        trim = Trim(start=start, end=start + rules.max_seconds)
    timeout = ws.config.limits.timeout
    found = None if trim is not None else _reusable(row, rules.size, "mp4", "video")
    if found is not None and (ws.root / found["path"]).is_file():
        path = ws.root / found["path"]
        m = measure_video(path, loudness=bool(rules.lufs), timeout=timeout)
        if not broken_video(channel.name, rules, m):
            return [Made(path, "video", m, found["path"])]
    path = render_video(ws, row, rules, build / "render", trim, channel.name)
    m = measure_video(path, loudness=bool(rules.lufs), timeout=timeout)
    broken = broken_video(channel.name, rules, m)
    if broken:
        raise Refused(broken[0])
    return [Made(path, "video", m, "rendered from the source" + (f", cut to {rules.max_seconds:g} s" if trim else ""))]


def make(ws: Workspace, channel: Channel, row: Row, build: Path, cut_long: bool) -> list[Made]:
    """The files of one input for one channel, each within every limit; Refused otherwise."""
    build.mkdir(parents=True, exist_ok=True)
    if row.media == "image" and channel.image is not None:
        return make_images(ws, channel, row, build)
    if row.media == "video" and channel.video is not None:
        return make_video(ws, channel, row, build, cut_long)
    return []


def copy_into(made: Made, final: Path) -> None:
    """Renditions are copied, never moved: out/ keeps them; rendered files are moved."""
    if made.origin.startswith("rendered"):
        shutil.move(made.path, final)
    else:
        shutil.copyfile(made.path, final)
