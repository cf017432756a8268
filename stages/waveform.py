"""A PNG waveform of the levelled audio, for the preview site's player (#4).

Drawn from the first audio output (what listeners get, after trim and levelling), with ffmpeg's
showwavespic; one picture per input, since every format carries the same levelled samples. The
output's `role = "waveform"` fact is how the site knows it (docs/site.md, "What the preview site reads").
"""

from __future__ import annotations

from pathlib import Path

from pipeline.atomic import write_atomic
from pipeline.config.profile import AudioOptions
from pipeline.job import Job
from pipeline.media import ffmpeg_run
from pipeline.media.formats import AUDIO_EXTENSIONS
from pipeline.names import safe_stem


def waveform_args(audio: Path, out: Path, opts: AudioOptions) -> list[str]:
    w, h = opts.waveform_size
    graph = (
        f"[0:a:0]aformat=channel_layouts=mono,"
        f"showwavespic=s={w}x{h}:colors={opts.waveform_colour}:scale=sqrt:filter=peak[v]"
    )
    return [
        *ffmpeg_run.input_args(audio),
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-frames:v",
        "1",
        "-c:v",
        "png",
        "-f",
        "image2",
        "-update",
        "1",
        "-y",
        str(out),
    ]


def waveform(job: Job, opts: AudioOptions) -> Job:
    if not opts.waveform:
        return job
    audio = next((o for o in job.outputs if o.path.suffix.lstrip(".") in AUDIO_EXTENSIONS.values()), None)
    if audio is None:
        return job
    final = job.out_dir / f"{safe_stem(Path(job.rel).name)}-waveform.png"
    size = write_atomic(
        final,
        job.tmp_dir,
        lambda tmp: ffmpeg_run.run(waveform_args(audio.path, tmp, opts), timeout=job.limits.timeout, what="waveform"),
    )
    w, h = opts.waveform_size
    return job.with_output(final, format="png", role="waveform", width=w, height=h, bytes=size)
