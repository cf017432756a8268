"""One ffmpeg pass over the audio the profile keeps: loudness before levelling, levels, silence at
the edges, whether the two channels are the same; then the part to keep (#4).

The pass decodes the sidecar's `trim` window once and splits it four ways: ebur128 (loudness,
true peak), astats (sample peak, RMS, flat factor, exact sample count), silencedetect, and the
left-minus-right difference (mono recorded as stereo). Nothing is written.
"""

from __future__ import annotations

import math
import re

from pipeline.config.profile import AudioOptions
from pipeline.errors import InputError
from pipeline.job import Job
from pipeline.media import ffmpeg_run
from pipeline.media.loudness import parse_ebur128, run_for_figures

# Silence kept before the first sound and after the last one when trim_silence cuts: a breath
# of room, so that a soft onset is not chopped.
SILENCE_PAD = 0.05
# Left minus right peaking under this (dBFS): the channels carry the same signal.
SAME_CHANNELS_DB = -60.0

_STAT = re.compile(
    r"^\[astats@(\w+) @ [^\]]*\] (Peak level dB|RMS level dB|Flat factor|Peak count|Number of samples): (\S+)", re.M
)
_SILENCE = re.compile(r"silence_(start|end): (-?[\d.]+)")


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return -math.inf
    return value


def _stats(stderr: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, what, value in _STAT.findall(stderr):
        out.setdefault(name, {})[what] = _float(value)
    return out


def _silences(stderr: str, length: float) -> list[tuple[float, float]]:
    """(start, end) of every silence silencedetect reported; an open one runs to the end."""
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for what, value in _SILENCE.findall(stderr):
        if what == "start":
            start = max(0.0, float(value))
        elif start is not None:
            spans.append((start, min(length, float(value))))
            start = None
    if start is not None:
        spans.append((start, length))
    return spans


def analysis_args(job: Job, opts: AudioOptions, start: float, duration: float | None) -> list[str]:
    stereo = job.facts.get("channels") == 2
    graph = [
        f"[0:a:0]asplit={5 if stereo else 4}[l][s][q][c]{'[d]' if stereo else ''}",
        "[l]ebur128=peak=true:metadata=1,ametadata=mode=print:key=lavfi.r128.I[lo]",
        "[s]astats@main=measure_perchannel=none:measure_overall=Peak_level+RMS_level+Flat_factor+Peak_count+Number_of_samples[so]",
        f"[q]silencedetect=n={opts.silence_threshold:g}dB:d={opts.silence_min:g}[qo]",
        # at 16 bits, every sample at or over full scale becomes the peak value: counted
        "[c]aformat=sample_fmts=s16,astats@clip=measure_perchannel=none:measure_overall=Peak_level+Peak_count[co]",
    ]
    outs = ["lo", "so", "qo", "co"]
    if stereo:
        graph.append("[d]pan=mono|c0=c0-c1,astats@diff=measure_perchannel=none:measure_overall=Peak_level[do]")
        outs.append("do")
    args = [*ffmpeg_run.input_args(job.source, start=start, duration=duration), "-filter_complex", ";".join(graph)]
    for o in outs:
        args += ["-map", f"[{o}]", "-f", "null", "-"]
    return args


def audio_analyse(job: Job, opts: AudioOptions) -> Job:
    length = float(job.facts.get("duration") or 0)
    start, end = job.sidecar.trim.seconds if job.sidecar.trim else (0.0, None)
    if start >= length:
        raise InputError(f"sidecar trim start ({start:g} s) is at or after the end of the audio ({length:g} s)")
    late = end is not None and end > length + 0.05
    if end is not None and end >= length:
        end = None  # to the end; the probe's length is an estimate for some MP3s
    stderr = run_for_figures(
        analysis_args(job, opts, start, None if end is None else end - start),
        timeout=job.limits.timeout,
        what="audio analysis",
        duration=(end if end is not None else length) - start,
        progress=job.progress,
    )
    stats = _stats(stderr)
    main, clip = stats.get("main", {}), stats.get("clip", {})
    rate = job.facts.get("sample_rate") or 0
    samples = main.get("Number of samples", 0)
    if not samples or samples < 0 or not rate:
        raise InputError("no audio could be decoded from the file (truncated or corrupt)")
    kept = samples / rate  # exact: decoded samples, not the container's estimate
    try:
        before = parse_ebur128(stderr)
    except ValueError:
        raise InputError("no audio could be decoded from the file (truncated or corrupt)") from None
    silences = _silences(stderr, kept)
    lead = next((e for s, e in silences if s <= 0.01), 0.0)
    tail = next((kept - s for s, e in reversed(silences) if e >= kept - 0.02), 0.0)
    facts = {
        "loudness": {"before": {k: before[k] for k in ("lufs", "true_peak", "lra", "threshold")}},
        "peak_dbfs": round(main.get("Peak level dB", -math.inf), 2)
        if math.isfinite(main.get("Peak level dB", -math.inf))
        else -120.0,
        "rms_dbfs": round(main.get("RMS level dB", -math.inf), 2)
        if math.isfinite(main.get("RMS level dB", -math.inf))
        else -120.0,
        "flat_factor": round(max(0.0, main.get("Flat factor", 0.0)), 2),
        "clipped_samples": int(max(0.0, clip.get("Peak count", 0.0)))
        if clip.get("Peak level dB", -math.inf) >= -0.001
        else 0,
        "silence_lead": round(lead, 3),
        "silence_tail": round(tail, 3),
        # The part read, in seconds of the source: where the silences above lie (the site draws them)
        "analysed": [round(start, 4), round(start + kept, 4)],
    }
    if "diff" in stats:
        diff = stats["diff"].get("Peak level dB", -math.inf)
        facts["channels_differ_db"] = round(diff, 1) if math.isfinite(diff) else -120.0
    # The part to keep, in seconds of the source.
    cut_start, cut_end, by = start, start + kept, ["sidecar"] if job.sidecar.trim else []
    all_silent = lead >= kept - 0.02
    if opts.trim_silence and not all_silent and (lead > 0 or tail > 0):
        cut_start = start + max(0.0, lead - SILENCE_PAD) if lead else cut_start
        cut_end = start + min(kept, kept - tail + SILENCE_PAD) if tail else cut_end
        by.append("silence")
    facts["trim"] = {
        "start": round(cut_start, 4),
        "end": round(cut_end, 4),
        "by": by,
        "cut_start": cut_start > 0.0005,
        "cut_end": cut_end < start + kept - 0.0005 or end is not None,
    }
    facts["kept_duration"] = round(cut_end - cut_start, 4)
    job = job.note(**facts)
    if late:
        job = job.warn(
            f"sidecar trim end ({job.sidecar.trim.end}) is after the end of the audio ({length:g} s); kept to the end"
        )
    return job
