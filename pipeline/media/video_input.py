"""A video source as the video stages read it: an ffmpeg-python input with the runner's guard
rails, the part the sidecar keeps, HDR tone-mapped to SDR."""

from __future__ import annotations

import ffmpeg

from pipeline.errors import InputError
from pipeline.job import Job
from pipeline.media import ffmpeg_run


def source_input(job: Job, **options) -> ffmpeg.nodes.FilterableStream:
    """The job's source as an ffmpeg-python input, with the runner's guard rails."""
    return ffmpeg.input(
        ffmpeg_run.local_input(job.source),
        protocol_whitelist=ffmpeg_run.PROTOCOLS,
        format_whitelist=ffmpeg_run.DEMUXERS,
        **options,
    )


def argv(node) -> list[str]:
    """ffmpeg-python's command line without the executable (the runner adds its own)."""
    return node.compile()[1:]


def to_sdr(stream, job: Job):
    """HDR (PQ or HLG) pictures tone-mapped to SDR BT.709, as web players and social feeds show
    SDR: linear light, BT.709 primaries, Hable's curve, back to BT.709 (zimg). SDR passes as is."""
    if not job.facts.get("hdr"):
        return stream
    return (
        stream.filter("zscale", t="linear", npl=100)
        .filter("format", "gbrpf32le")
        .filter("zscale", p="bt709")
        .filter("tonemap", tonemap="hable", desat=0)
        .filter("zscale", t="bt709", m="bt709", r="tv")
        .filter("format", "yuv420p")
    )


def kept(job: Job) -> tuple[float, float]:
    """(start, end) in seconds of the part to keep: the sidecar's trim within the video."""
    duration = float(job.facts["duration"])
    if job.sidecar.trim is None:
        return 0.0, duration
    start, end = job.sidecar.trim.seconds
    if start >= duration:
        raise InputError(
            f"sidecar trim starts at {start:g} s but the video is only {duration:g} s long; "
            f"fix trim.start in {job.rel}.toml"
        )
    return start, duration if end is None else min(end, duration)
