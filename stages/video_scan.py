"""One look at the kept part of a video before encoding: black and frozen frames, interlacing,
the soundtrack's loudness (#4).

The kept part is the sidecar's `trim`, clamped to the video. One decode at low resolution runs
`blackframe` (amount=0, so that every frame reports its share of pixels darker than luma 32,
and is printed: `metadata=print` skips frames without metadata; 98 % or more is black), `freezedetect` and, when
the container does not say whether it is interlaced, `idet`; the frame metadata is printed to
ffmpeg's log and read back. The poster's "auto" time is the first frame that is not black.
"""

from __future__ import annotations

import re

from pipeline.config.profile import VideoOptions
from pipeline.errors import InputError
from pipeline.job import Job
from pipeline.media import loudness
from pipeline.media.video_input import argv, kept, source_input, to_sdr

BLACK_PERCENT = 98  # a frame is black when this share of its pixels is under luma 32
_FRAME = re.compile(r"\] frame:(\d+)\s+pts:\S+\s+pts_time:(\S+)")
_KEY = re.compile(r"\] (lavfi\.[\w.]+)=(\S+)")


def parse_frames(log: str) -> list[tuple[float, dict[str, str]]]:
    """ffmpeg's `metadata=mode=print` log lines -> [(pts_time, {key: value})] per frame."""
    frames: list[tuple[float, dict[str, str]]] = []
    for line in log.splitlines():
        if "Parsed_metadata" not in line:
            continue
        if m := _FRAME.search(line):
            frames.append((float(m.group(2)), {}))
        elif (m := _KEY.search(line)) and frames:
            frames[-1][1][m.group(1)] = m.group(2)
    return frames


def summarise_frames(frames: list[tuple[float, dict[str, str]]], length: float) -> dict:
    """Black and frozen stretches at the start and end, first non-black frame, idet verdict."""
    black = [float(meta.get("lavfi.blackframe.pblack", 0)) >= BLACK_PERCENT for _, meta in frames]
    times = [t for t, _ in frames]
    step = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else length
    lead = next((i for i, b in enumerate(black) if not b), len(black))
    tail = next((i for i, b in enumerate(reversed(black)) if not b), len(black))
    first_picture = times[lead] if lead < len(times) else None
    black_start = length if first_picture is None else first_picture
    black_end = 0.0 if tail == 0 else (length if tail == len(black) else max(0.0, length - times[-tail]))
    frozen_start = frozen_end = 0.0
    freeze_from = None
    for _, meta in frames:
        if "lavfi.freezedetect.freeze_start" in meta:
            freeze_from = float(meta["lavfi.freezedetect.freeze_start"])
        if "lavfi.freezedetect.freeze_end" in meta and freeze_from is not None:
            if freeze_from <= step:
                frozen_start = float(meta["lavfi.freezedetect.freeze_end"]) - freeze_from
            freeze_from = None
    if freeze_from is not None:  # still frozen when the video ends
        if freeze_from <= step:
            frozen_start = length
        frozen_end = length - freeze_from
    out = {
        "black_start": round(black_start, 3),
        "black_end": round(black_end, 3),
        "frozen_start": round(frozen_start, 3),
        "frozen_end": round(frozen_end, 3),
        "first_picture": None if first_picture is None else round(first_picture, 3),
        "frames_scanned": len(frames),
    }
    last = frames[-1][1] if frames else {}
    if "lavfi.idet.multiple.tff" in last:
        counts = {k: float(last.get(f"lavfi.idet.multiple.{k}", 0)) for k in ("tff", "bff", "progressive")}
        fields = counts["tff"] + counts["bff"]
        # idet is fooled by fast motion; call it interlaced only on a clear majority.
        out["idet"] = {k: int(v) for k, v in counts.items()}
        out["idet_interlaced"] = fields > 3 * counts["progressive"] and fields > 0.5 * len(frames)
    return out


def video_scan(job: Job, opts: VideoOptions) -> Job:
    start, end = kept(job)
    length = end - start
    timeout = job.limits.timeout
    v = source_input(job).video.trim(start=start, end=end).setpts("PTS-STARTPTS")
    if not job.facts.get("interlaced") and job.facts.get("field_order") in ("unknown", ""):
        v = v.filter("idet")
    v = to_sdr(v.filter("scale", -2, "min(144,ih)"), job)
    v = (
        v.filter("blackframe", amount=0, threshold=32)
        .filter("freezedetect", n="-60dB", d=1)
        .filter("metadata", mode="print")
    )
    args = argv(v.output("-", f="null"))
    log = loudness.run_for_figures(
        args, timeout=timeout, what="video scan", duration=length, progress=job.progress
    )  # metadata=print logs at info level
    frames = parse_frames(log)
    if not frames:
        raise InputError("no video frames could be decoded in the kept part")
    # A copy or upload cut short still has its header (faststart MP4s have it first) but not all
    # of its picture: ffmpeg decodes what is there and stops. Refuse it rather than publish half.
    expected = max(0.0, min(end, float(job.facts.get("video_duration") or end)) - start)
    step = 1 / float(job.facts.get("fps") or 25)
    decoded = frames[-1][0] + step
    if decoded < expected - max(0.5, 0.05 * expected) or "partial file" in log:
        raise InputError(
            f"the file is cut short: only {decoded:.1f} of its {expected:.1f} s of picture can be "
            "decoded (an interrupted copy or upload?); deliver it again"
        )
    scan = summarise_frames(frames, length)
    job = job.note(trim={"start": round(start, 3), "end": round(end, 3)}, kept_duration=round(length, 3), scan=scan)
    asked = job.sidecar.trim.seconds[1] if job.sidecar.trim is not None else None
    if asked is not None and asked > end + 0.05:
        job = job.warn(f"sidecar trim ends at {asked:g} s, after the end of the video ({end:g} s): kept to the end")
    if scan.get("idet_interlaced"):
        job = job.note(interlaced=True, field_order="detected (idet)")
    if job.facts.get("has_audio") and float(job.facts.get("audio_duration") or end) <= start + 0.02:
        return job.note(has_audio=False, audio_unreadable="ends before the kept part").warn(
            f"the soundtrack cannot be used: it ends at {job.facts['audio_duration']:g} s, before the kept part "
            f"starts ({start:g} s); the outputs are silent"
        )
    if job.facts.get("has_audio"):
        try:
            before = loudness.measure(job.source, timeout=timeout, start=start or None, duration=length)
        except InputError as e:  # an audio track that ends before the kept part, or cannot be decoded
            return job.note(has_audio=False, audio_unreadable=str(e)).warn(
                f"the soundtrack cannot be used ({e}); the outputs are silent"
            )
        job = job.note(loudness={"before": before})
    return job
