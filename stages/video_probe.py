"""What is this video: container, codecs, pixels and how they are shown, frame rate, soundtrack (#4).

ffprobe (through `pipeline.media.avprobe`, which refuses playlists) gives the stream facts. The display
size is what a player shows: the stored pixels stretched by the sample aspect ratio (SAR), then
turned by the display-matrix rotation a phone writes instead of turning the pixels. ffmpeg
applies that rotation itself when decoding (autorotate), so every later stage works on upright
frames of `display_width` x `display_height`.
"""

from __future__ import annotations

from fractions import Fraction

from pipeline.config.profile import VideoOptions
from pipeline.errors import InputError
from pipeline.job import Job
from pipeline.media.avprobe import duration_from_packets, ffprobe

INTERLACED_ORDERS = {"tt", "bb", "tb", "bt"}
HDR = {"smpte2084": "PQ", "arib-std-b67": "HLG"}  # transfer functions of HDR video (HDR10, Dolby Vision, HLG)


def rate(text: str | None) -> float:
    """'30000/1001' -> 29.97; '0/0' or nothing -> 0."""
    try:
        value = Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value)


def rotation(stream: dict) -> int:
    """Clockwise degrees a player turns the picture: 0, 90, 180 or 270.

    The display matrix's rotation is counter-clockwise (ffprobe prints -90 for a phone held
    upright); the old `rotate` tag is clockwise.
    """
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            try:
                return round(-float(side["rotation"]) / 90) * 90 % 360
            except (TypeError, ValueError):
                return 0
    try:
        return round(float(stream.get("tags", {}).get("rotate", 0)) / 90) * 90 % 360
    except (TypeError, ValueError):
        return 0


def _sar(stream: dict) -> Fraction:
    text = stream.get("sample_aspect_ratio") or "1:1"
    try:
        num, den = (int(v) for v in text.split(":"))
    except ValueError:
        return Fraction(1)
    return Fraction(num, den) if num > 0 and den > 0 else Fraction(1)


def _number(value, kind=float):
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def video_probe(job: Job, opts: VideoOptions) -> Job:
    info = ffprobe(job.source, timeout=min(60, job.limits.timeout))
    fmt = info.get("format", {})
    streams = info.get("streams", [])
    videos = [s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos:
        raise InputError("no video stream in the file")
    v = videos[0]
    width, height = _number(v.get("width"), int) or 0, _number(v.get("height"), int) or 0
    if width < 2 or height < 2:
        raise InputError(f"the video stream has no usable picture size ({width}x{height})")
    sar = _sar(v)
    turn = rotation(v)
    shown_w, shown_h = max(2, round(width * sar)), height
    if turn in (90, 270):
        shown_w, shown_h = shown_h, shown_w
    duration = _number(fmt.get("duration")) or _number(v.get("duration")) or 0.0
    ends: dict[int, float] = {}
    if duration <= 0:  # a live-written WebM (browser screen recording) says no length: its packets do (#12)
        duration, ends = duration_from_packets(job.source, info, timeout=min(60, job.limits.timeout))
    if duration <= 0:
        raise InputError(
            "the video has no duration ffprobe can read (cut short, or a still image in a video container)"
        )
    r_fps, avg_fps = rate(v.get("r_frame_rate")), rate(v.get("avg_frame_rate"))
    fps = avg_fps or r_fps
    field_order = v.get("field_order") or "unknown"
    facts = {
        "container": fmt.get("format_name", ""),
        "duration": round(duration, 3),
        "video_duration": round(_number(v.get("duration")) or ends.get(v.get("index"), duration), 3),
        "bit_rate_kbps": round((_number(fmt.get("bit_rate"), int) or 0) / 1000),
        "video_codec": v.get("codec_name", ""),
        "video_profile": v.get("profile", ""),
        "pix_fmt": v.get("pix_fmt", ""),
        "width": width,
        "height": height,
        "sar": f"{sar.numerator}:{sar.denominator}",
        "rotation": turn,
        "display_width": shown_w,
        "display_height": shown_h,
        "fps": round(fps, 3),
        # r_frame_rate is the base rate that can represent every timestamp; a mean well under it
        # means frames come at varying intervals (phones, screen recordings).
        "variable_fps": bool(r_fps and avg_fps and abs(r_fps - avg_fps) / r_fps > 0.02),
        "video_bit_rate_kbps": round((_number(v.get("bit_rate"), int) or 0) / 1000),
        "field_order": field_order,
        "interlaced": field_order in INTERLACED_ORDERS,
        "alpha": v.get("tags", {}).get("alpha_mode") == "1" or "a" in (v.get("pix_fmt") or "").replace("gray", ""),
        "color_primaries": v.get("color_primaries", ""),
        "color_transfer": v.get("color_transfer", ""),
        "hdr": HDR.get(v.get("color_transfer", ""), ""),
        "audio_streams": len(audios),
        "has_audio": bool(audios),
    }
    if audios:
        a = audios[0]
        facts |= {
            "audio_codec": a.get("codec_name", ""),
            "channels": _number(a.get("channels"), int) or 0,
            "sample_rate": _number(a.get("sample_rate"), int) or 0,
            "audio_duration": round(_number(a.get("duration")) or ends.get(a.get("index"), duration), 3),
        }
    if ends:  # nor a bit rate, which ffprobe works out from the length
        facts["duration_from"] = "packets"
        facts["bit_rate_kbps"] = facts["bit_rate_kbps"] or round(job.source.stat().st_size * 8 / duration / 1000)
    return job.note(**facts)
