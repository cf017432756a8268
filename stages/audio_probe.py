"""What the audio file is, from ffprobe: codec, sample rate, channels, duration, bit rate, tags (#4)."""

from __future__ import annotations

from pipeline.config.profile import AudioOptions
from pipeline.errors import InputError
from pipeline.job import Job
from pipeline.media.avprobe import duration_from_packets, ffprobe


def _number(value, kind=float):
    try:
        return kind(float(value))
    except (TypeError, ValueError):
        return None


def audio_probe(job: Job, opts: AudioOptions) -> Job:
    info = ffprobe(job.source, timeout=min(60, job.limits.timeout))
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise InputError("no audio stream in the file")
    s, fmt = streams[0], info.get("format", {})
    tags = {k.lower(): str(v) for k, v in {**fmt.get("tags", {}), **s.get("tags", {})}.items()}
    duration = _number(s.get("duration")) or _number(fmt.get("duration"))
    from_packets = not duration
    if from_packets:  # a live-written WebM (browser voice memo) says no length: its packets do (#12)
        _, ends = duration_from_packets(job.source, info, timeout=min(60, job.limits.timeout))
        duration = ends.get(s.get("index"))
    if not duration:
        raise InputError("the file has no audio frames with a length (truncated or empty stream)")
    bits = _number(s.get("bits_per_raw_sample") or s.get("bits_per_sample"), int)
    job = job.note(
        container=str(fmt.get("format_name", "")),
        codec=str(s.get("codec_name", "")),
        sample_rate=_number(s.get("sample_rate"), int) or 0,
        channels=int(s.get("channels") or 0),
        channel_layout=str(s.get("channel_layout", "")),
        duration=round(duration, 3),
        bitrate=_number(s.get("bit_rate"), int) or _number(fmt.get("bit_rate"), int) or 0,
        tags={
            k: v for k, v in tags.items() if k not in ("encoder", "major_brand", "minor_version", "compatible_brands")
        },
    )
    if bits:
        job = job.note(bits=bits)
    if from_packets:  # nor a bit rate, which ffprobe works out from the length
        job = job.note(
            duration_from="packets", bitrate=job.facts["bitrate"] or round(job.source.stat().st_size * 8 / duration)
        )
    if len(streams) > 1:
        job = job.warn(f"the file has {len(streams)} audio streams; only the first is used")
    return job
