"""Every video rendition from one decode: trim, crop, scale, encode, in one ffmpeg filter graph (#4).

One ffmpeg run per input: the source is decoded once (ffmpeg turns phone video upright on the
way in), cut to the sidecar's trim with `trim`/`atrim` (frame-accurate: every frame is decoded
and re-encoded, nothing snaps to a keyframe), deinterlaced if needed, capped in frame rate, then
split into one branch per aspect (crop around the focus, scale down only, square pixels,
yuv420p) and per format, plus the muted loops; the soundtrack is levelled once (EBU R128, exact
gain, a true-peak limiter only where needed) and split to every output that has sound.
Everything is written to out/.tmp and renamed into place only when the whole run succeeded.
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import ffmpeg

from pipeline.atomic import write_many
from pipeline.config.profile import VideoOptions
from pipeline.job import Job
from pipeline.media import ffmpeg_run, loudness
from pipeline.media.avprobe import ffprobe
from pipeline.media.video_geometry import Rendition, allowed, renditions_for, stem_of
from pipeline.media.video_input import argv, kept, source_input, to_sdr

RATE = 48000
HEADROOM = 0.5  # dB under the true-peak ceiling: AAC and Opus overshoot a little of their own
LEVEL_TOLERANCE = 0.2
VP9_SPEED = {
    "ultrafast": 8,
    "superfast": 8,
    "veryfast": 7,
    "faster": 6,
    "fast": 5,
    "medium": 4,
    "slow": 3,
    "slower": 2,
    "veryslow": 1,
}


def chain(stream, text: str):
    """Apply an ffmpeg filter chain written as text ("volume=2dB:precision=double,aresample=48000")."""
    for part in text.split(","):
        name, _, args = part.partition("=")
        pos, kw = [], {}
        for item in args.split(":") if args else []:
            k, eq, v = item.partition("=")
            if eq:
                kw[k] = v
            else:
                pos.append(item)
        stream = stream.filter(name, *pos, **kw)
    return stream


def level(job: Job, opts: VideoOptions, start: float, length: float) -> tuple[str | None, dict]:
    """Filters that take the kept soundtrack to the profile's loudness, and how it went."""
    before = job.facts["loudness"]["before"]
    if before["lufs"] <= loudness.SILENCE_LUFS:
        return None, {"note": "silent: not levelled"}
    ceiling = opts.true_peak - HEADROOM
    gain = loudness.gain_for(before, lufs=opts.lufs)
    text = loudness.level_filter(before, lufs=opts.lufs, true_peak=ceiling, sample_rate=RATE)
    how = {"gain_db": round(gain, 2), "limited": loudness.needs_limiter(before, gain, true_peak=ceiling)}
    if how["limited"]:  # the limiter takes some loudness away: measure, make up, at most three times
        tries: list[tuple[float, float]] = []
        extra = 0.0
        for _ in range(3):
            got = loudness.measure(
                job.source, timeout=job.limits.timeout, start=start or None, duration=length, filters=text
            )
            tries.append((extra, got["lufs"]))
            if abs(got["lufs"] - opts.lufs) <= LEVEL_TOLERANCE:
                break
            extra = min(12.0, loudness.next_gain(tries, lufs=opts.lufs))
            text = loudness.level_filter(
                before, lufs=opts.lufs, true_peak=ceiling, sample_rate=RATE, extra_gain_db=extra
            )
        best = min(tries, key=lambda t: abs(t[1] - opts.lufs))
        text = loudness.level_filter(before, lufs=opts.lufs, true_peak=ceiling, sample_rate=RATE, extra_gain_db=best[0])
        how["gain_db"] = round(gain + best[0], 2)
    return text, how


def _video_args(fmt: str, opts: VideoOptions, fps: float) -> dict:
    gop = max(1, round((fps or 25) * 2))  # a keyframe every two seconds: quick seeking in players
    cap = {"maxrate": f"{opts.max_bitrate}k", "bufsize": f"{opts.max_bitrate * 2}k"} if opts.max_bitrate else {}
    if fmt == "mp4":
        return {
            "c:v": "libx264",
            "preset": opts.preset,
            "crf": opts.crf.get("mp4", 23),
            "profile:v": "high",
            "pix_fmt": "yuv420p",
            "g": gop,
            "movflags": "+faststart",
            **cap,
        }
    vp9 = {
        "c:v": "libvpx-vp9",
        "crf": opts.crf.get("webm", 33),
        "b:v": f"{opts.max_bitrate}k" if opts.max_bitrate else "0",
        "deadline": "good" if VP9_SPEED[opts.preset] < 5 else "realtime",
        "cpu-used": VP9_SPEED[opts.preset],
        "row-mt": 1,
        "pix_fmt": "yuv420p",
        "g": gop,
    }
    return vp9 | ({"maxrate": cap["maxrate"], "bufsize": cap["bufsize"]} if cap else {})


def _audio_args(fmt: str, opts: VideoOptions, channels: int) -> dict:
    codec = "aac" if fmt == "mp4" else "libopus"
    return {"c:a": codec, "b:a": f"{opts.audio_bitrate}k", "ar": RATE, "ac": channels}


def _tags(job: Job) -> dict:
    tags = {}
    if job.sidecar.title:
        tags["metadata"] = f"title={job.sidecar.title}"
    if job.sidecar.credit:
        tags["metadata:g"] = f"copyright={job.sidecar.credit}"
    return tags


def _loop_from(main: Path, tmp: Path, length: float | None, fps: float, opts: VideoOptions, timeout: float) -> None:
    """The muted loop: the first `length` seconds of the encoded MP4's picture, copied.

    Frames, not -t: the keyframe forced at `length` is the first frame at or after it, and in
    decode order the packets before it are exactly the pictures before it (x264's GOPs are
    closed), where -t lets B-frame reordering add a frame or two. If the copy's timing does not
    come out as that many frames (irregular timestamps), the loop is encoded from the MP4.
    `length` None: the whole picture.
    """
    if length is None:
        ffmpeg_run.run(
            [
                *ffmpeg_run.input_args(main),
                "-map",
                "0:v:0",
                "-c",
                "copy",
                "-map_metadata",
                "-1",
                "-movflags",
                "+faststart",
                str(tmp),
            ],
            timeout=timeout,
            what="muted loop",
        )
        return
    frames = max(1, math.ceil(length * fps - 1e-6))
    ffmpeg_run.run(
        [
            *ffmpeg_run.input_args(main),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-frames:v",
            str(frames),
            "-map_metadata",
            "-1",
            "-movflags",
            "+faststart",
            str(tmp),
        ],
        timeout=timeout,
        what="muted loop",
    )
    stream = next(s for s in ffprobe(tmp, timeout=min(60, timeout))["streams"] if s.get("codec_type") == "video")
    if abs(float(stream.get("duration") or 0) - frames / fps) <= 0.5 / fps:
        return
    tmp.unlink(missing_ok=True)
    clip = (
        ffmpeg.input(
            ffmpeg_run.local_input(main), protocol_whitelist=ffmpeg_run.PROTOCOLS, format_whitelist=ffmpeg_run.DEMUXERS
        )
        .video.trim(end=length)
        .setpts("PTS-STARTPTS")
    )
    ffmpeg_run.run(
        argv(ffmpeg.output(clip, str(tmp), map_metadata=-1, **_video_args("mp4", opts, fps))),
        timeout=timeout,
        what="muted loop",
    )


def video_encode(job: Job, opts: VideoOptions) -> Job:
    start, end = kept(job)
    length = end - start
    fps = float(job.facts.get("fps") or 0)
    out_fps = opts.max_fps if opts.max_fps and fps > opts.max_fps + 0.01 else fps
    plan = renditions_for(job, opts)
    formats = list(dict.fromkeys(opts.formats))  # a format listed twice is written once (#12)
    stem = stem_of(job)

    src = source_input(job)
    v = src.video.trim(start=start, end=end).setpts("PTS-STARTPTS")
    if job.facts.get("interlaced"):
        v = v.filter("bwdif", mode="send_frame", parity="auto")
    v = to_sdr(v, job)
    if out_fps != fps:
        v = v.filter("fps", fps=round(out_fps, 3))
    loops = opts.loop
    loop_length = min(length, opts.loop_seconds)
    # The muted loop is the start of the MP4's picture: copied from it (a keyframe is forced at
    # the loop's end, so the copy ends cleanly) instead of being encoded a second time. The copy
    # counts frames, which needs a constant frame rate; variable-rate sources encode their loop.
    copy_loops = loops and "mp4" in formats and not (job.facts.get("variable_fps") and out_fps == fps)
    branches = len(plan) * (len(formats) + (1 if loops and not copy_loops else 0))
    vs = v.split() if branches > 1 else None

    soundtrack, how = None, {}
    channels = 1 if int(job.facts.get("channels") or 2) == 1 else 2
    if job.facts.get("has_audio"):
        text, how = level(job, opts, start, length)
        a = src.audio.filter("atrim", start=start, end=end).filter("asetpts", "PTS-STARTPTS")
        if text:
            a = chain(a, text)
        a = a.filter("aresample", RATE).filter("aformat", channel_layouts="mono" if channels == 1 else "stereo")
        n_audio = len(plan) * len(formats)
        soundtrack = a.asplit() if n_audio > 1 else None
        single_audio = a

    outputs, planned, copies = [], [], []
    branch = sound = 0
    for r in plan:

        def picture(r: Rendition = r):
            nonlocal branch
            stream = vs[branch] if vs is not None else v
            branch += 1
            x, y, w, h = r.crop
            return (
                stream.filter("crop", w, h, x, y)
                .filter("scale", r.width, r.height, flags="lanczos")
                .filter("setsar", 1)
                .filter("format", "yuv420p")
            )

        for fmt in formats:
            final = job.out_dir / r.name(stem, f".{fmt}")
            tmp = job.tmp_dir / f"{uuid.uuid4().hex}.{fmt}"
            streams = [picture()]
            kwargs = _video_args(fmt, opts, out_fps)
            if fmt == "mp4" and copy_loops and loop_length < length:
                kwargs["force_key_frames"] = f"{loop_length:.3f}"
            if job.facts.get("has_audio"):
                streams.append(soundtrack[sound] if soundtrack is not None else single_audio)
                sound += 1
                kwargs |= _audio_args(fmt, opts, channels)
            outputs.append(ffmpeg.output(*streams, str(tmp), map_metadata=-1, map_chapters=-1, **_tags(job), **kwargs))
            planned.append((final, tmp, fmt, r, False))
            if fmt == "mp4":
                main = tmp
        if loops:
            final = job.out_dir / r.name(stem, "-loop.mp4")
            tmp = job.tmp_dir / f"{uuid.uuid4().hex}.mp4"
            if copy_loops:
                copies.append((main, tmp))
            else:
                clip = picture().trim(end=loop_length).setpts("PTS-STARTPTS")
                outputs.append(
                    ffmpeg.output(clip, str(tmp), map_metadata=-1, map_chapters=-1, **_video_args("mp4", opts, out_fps))
                )
            planned.append((final, tmp, "mp4", r, True))

    def write() -> None:
        ffmpeg_run.run(
            argv(ffmpeg.merge_outputs(*outputs)),
            timeout=job.limits.timeout,
            what="video encoding",
            duration=length,
            progress=job.progress,
        )
        for main, tmp in copies:  # the muted loops, cut from the encoded MP4
            _loop_from(
                main, tmp, loop_length if loop_length < length else None, out_fps or 25, opts, job.limits.timeout
            )

    job.tmp_dir.mkdir(parents=True, exist_ok=True)
    write_many([(final, tmp) for final, tmp, *_ in planned], write)

    after = None
    for final, _, fmt, r, muted in planned:
        info = ffprobe(final, timeout=min(60, job.limits.timeout))
        vstream = next(s for s in info["streams"] if s.get("codec_type") == "video")
        has_sound = any(s.get("codec_type") == "audio" for s in info["streams"])
        duration = float(info.get("format", {}).get("duration") or 0)
        size = final.stat().st_size
        facts = {
            "format": fmt,
            "width": int(vstream["width"]),
            "height": int(vstream["height"]),
            "aspect": r.aspect,
            "bytes": size,
            "duration": round(duration, 3),
            "codec": vstream.get("codec_name", ""),
            "fps": round(out_fps, 3),
            "muted": not has_sound,
            "crop": r.rect,
            "focus": [round(r.focus[0], 4), round(r.focus[1], 4)],
            "focus_from": "sidecar" if job.sidecar.focus else "centre",
            "bitrate_kbps": round(size * 8 / duration / 1000) if duration > 0 else 0,
        }
        if muted:
            facts["role"] = "loop"
        if has_sound and after is None and how.get("note") is None:
            after = loudness.measure(final, timeout=job.limits.timeout)
        job = job.with_output(final, **facts)
    # One warning for all the aspects a small master cannot fill: three near-identical lines for
    # one video were noise (#17).
    small = []
    for r in plan:
        best = allowed(*r.shown, opts)
        if best[0] > r.width + 1 and best[1] > r.height + 1:
            small.append(f"{r.aspect} at {r.width}x{r.height}, not {best[0]}x{best[1]}")
    if small:
        job = job.warn(
            f"video is made at the source's size, smaller than the profile allows ({'; '.join(small)}): "
            "video is never upscaled; ask for a larger master if it looks soft"
        )
    if job.facts.get("has_audio"):
        measured = dict(job.facts["loudness"])
        measured |= {"target": {"lufs": opts.lufs, "true_peak": opts.true_peak}, **how}
        if after is not None:
            measured["after"] = after
        job = job.note(loudness=measured)
    return job.note(output_fps=round(out_fps, 3))
