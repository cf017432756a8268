"""Cut, level and encode: every audio output from one prepared, levelled decode (#4).

1. prepare: the kept part (`trim` from audio_analyse), short fades at the cuts, the profile's
   sample rate (SoX resampler) and channel layout;
2. level: measure the prepared audio, apply the exact gain to the target; where that would push
   the true peak over the ceiling, a 4x oversampled limiter, re-measured until within 0.1 LU;
3. with several formats, write the levelled audio once (32-bit float, in the temp folder) and
   encode each format from it (each encoder sees the same samples); a single format is encoded
   straight from the source; measure every output again and note what it measured.
"""

from __future__ import annotations

import math
from pathlib import Path

from pipeline.atomic import write_atomic
from pipeline.config.profile import AudioOptions
from pipeline.job import Job
from pipeline.media import ffmpeg_run, loudness
from pipeline.media.avprobe import ffprobe
from pipeline.media.formats import AUDIO_EXTENSIONS
from pipeline.names import safe_stem

LOSSY = {"mp3", "m4a", "opus"}
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# Room under the true-peak ceiling for the overshoot lossy encoders add (measured on the corpus:
# up to ~0.4 dB for LAME V2 and AAC on limited material).
LOSSY_HEADROOM = 0.5
# Close enough to the target to stop re-measuring the limited audio.
LEVEL_TOLERANCE = 0.1
MAX_LEVEL_TRIES = 5
# An encoded output further than this from the target is encoded once more with the difference.
ENCODE_TOLERANCE = 0.2
# Tag names as the source may spell them -> the name ffmpeg writes for every container.
_TAG_ALIASES = {
    "title": ("title",),
    "artist": ("artist",),
    "album": ("album",),
    "album_artist": ("album_artist", "albumartist"),
    "copyright": ("copyright",),
    "date": ("date", "year"),
    "genre": ("genre",),
    "track": ("track", "tracknumber"),
    "comment": ("comment", "description"),
}


def out_channels(job: Job, opts: AudioOptions) -> int:
    if opts.channels == "mono":
        return 1
    if opts.channels == "stereo":
        return 2
    return 1 if job.facts.get("channels") == 1 else 2


def out_rate(job: Job, opts: AudioOptions) -> int:
    rate = opts.sample_rate or int(job.facts.get("sample_rate") or 48000)
    return min(48000, rate) if rate in MP3_RATES or rate > 48000 else 48000


def prepare_filters(job: Job, opts: AudioOptions, rate: int, channels: int) -> str:
    trim = job.facts["trim"]
    kept = trim["end"] - trim["start"]
    parts = ["asetpts=PTS-STARTPTS"]  # the fades count from 0, whatever the container's start time
    fade_in, fade_out = opts.fade_in_ms / 1000, opts.fade_out_ms / 1000
    if trim["cut_start"] and fade_in:
        parts.append(f"afade=t=in:st=0:d={min(fade_in, kept / 2):.4f}")
    if trim["cut_end"] and fade_out:
        d = min(fade_out, kept / 2)
        parts.append(f"afade=t=out:st={kept - d:.4f}:d={d:.4f}")
    layout = "mono" if channels == 1 else "stereo"
    parts += [
        f"aresample={rate}:resampler=soxr:precision=28",
        f"aformat=sample_fmts=flt:sample_rates={rate}:channel_layouts={layout}",
    ]
    return ",".join(parts)


def tags_for(job: Job, opts: AudioOptions) -> dict[str, str]:
    source = dict(job.facts.get("tags") or {})
    if "all" in opts.tags:
        out = {k: v for k, v in source.items() if k not in ("encoder", "encoded_by", "creation_time")}
    else:
        out = {}
        for name in opts.tags:
            hit = next((source[a] for a in _TAG_ALIASES.get(name, (name,)) if source.get(a)), None)
            if hit:
                out[name] = hit
    if job.sidecar.title:
        out["title"] = job.sidecar.title
    if job.sidecar.credit:
        out["copyright"] = job.sidecar.credit
    return out


def encoder_args(fmt: str, opts: AudioOptions) -> list[str]:
    if fmt == "mp3":
        rate_args = ["-b:a", f"{opts.bitrate['mp3']}k"] if "mp3" in opts.bitrate else ["-q:a", str(opts.mp3_quality)]
        return ["-c:a", "libmp3lame", *rate_args, "-id3v2_version", "3", "-write_id3v1", "0"]
    if fmt == "m4a":
        return ["-c:a", "aac", "-b:a", f"{opts.bitrate.get('m4a', 160)}k", "-movflags", "+faststart"]
    if fmt == "opus":
        return ["-c:a", "libopus", "-b:a", f"{opts.bitrate.get('opus', 96)}k", "-vbr", "on", "-application", "audio"]
    if fmt == "wav":
        return ["-c:a", "pcm_s24le", "-rf64", "auto"]
    if fmt == "flac":
        return ["-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24", "-compression_level", "8"]
    raise ValueError(f"unknown audio format {fmt!r}")


def encoder_filters(fmt: str, rate: int) -> list[str]:
    """What a format needs after levelling: Opus runs at 48 kHz only."""
    return ["aresample=48000:resampler=soxr:precision=28"] if fmt == "opus" and rate != 48000 else []


def _level(
    job: Job, opts: AudioOptions, prep: str, rate: int, target: float, ceiling: float, known: dict | None
) -> tuple[str, dict, dict]:
    """The levelling filters, what the prepared audio measured (`known` when that is already
    known), and how the levelling went."""
    trim = job.facts["trim"]
    timeout = job.limits.timeout

    def measure(filters: str) -> dict:
        return loudness.measure(
            job.source, timeout=timeout, start=trim["start"], duration=trim["end"] - trim["start"], filters=filters
        )

    measured = known or measure(prep)
    gain = loudness.gain_for(measured, lufs=target)
    level = loudness.level_filter(measured, lufs=target, true_peak=ceiling, sample_rate=rate)
    how = {"gain_db": round(gain, 2), "limited": loudness.needs_limiter(measured, gain, true_peak=ceiling)}
    if how["limited"]:
        tries: list[tuple[float, float]] = []
        extra = 0.0
        for _ in range(MAX_LEVEL_TRIES):
            got = measure(f"{prep},{level}")
            tries.append((extra, got["lufs"]))
            if abs(got["lufs"] - target) <= LEVEL_TOLERANCE:
                break
            extra = min(12.0, loudness.next_gain(tries, lufs=target))
            level = loudness.level_filter(
                measured, lufs=target, true_peak=ceiling, sample_rate=rate, extra_gain_db=extra
            )
        best = min(tries, key=lambda t: abs(t[1] - target))
        if best[0] != extra:
            level = loudness.level_filter(
                measured, lufs=target, true_peak=ceiling, sample_rate=rate, extra_gain_db=best[0]
            )
        how["gain_db"] = round(gain + best[0], 2)
        how["limiter_makeup_db"] = round(best[0], 2)
    return level, measured, how


def audio_encode(job: Job, opts: AudioOptions) -> Job:
    trim = job.facts["trim"]
    rate, channels = out_rate(job, opts), out_channels(job, opts)
    target = opts.target(channels)
    lossy = bool(set(opts.formats) & LOSSY)
    ceiling = opts.true_peak - (LOSSY_HEADROOM if lossy else 0.05)
    if opts.channels == "keep" and (job.facts.get("channels") or 0) > 2:
        job = job.warn(
            f"the source has {job.facts['channels']} channels ({job.facts.get('channel_layout') or 'surround'}): "
            f"mixed down to stereo"
        )
    prep = prepare_filters(job, opts, rate, channels)
    # Same channels, same rate, no silence cut: the analysis already measured these samples
    # (short fades at a sidecar cut move integrated loudness by well under 0.01 LU).
    same = (
        channels == job.facts.get("channels") and rate == job.facts.get("sample_rate") and "silence" not in trim["by"]
    )
    level, measured, how = _level(
        job, opts, prep, rate, target, ceiling, job.facts["loudness"]["before"] if same else None
    )
    silent = measured["lufs"] <= loudness.SILENCE_LUFS
    if silent:
        how["note"] = "silent: not levelled"
    timeout = job.limits.timeout
    stem = safe_stem(Path(job.rel).name)
    job.tmp_dir.mkdir(parents=True, exist_ok=True)
    source = ffmpeg_run.input_args(job.source, start=trim["start"], duration=trim["end"] - trim["start"])
    # Several formats are encoded from one levelled render; a single one straight from the source.
    levelled = job.tmp_dir / f"{stem}-{id(job):x}-levelled.wav" if len(opts.formats) > 1 else None
    try:
        if levelled is not None:
            ffmpeg_run.run(
                [
                    *source,
                    "-map",
                    "0:a:0",
                    "-vn",
                    "-sn",
                    "-dn",
                    "-map_metadata",
                    "-1",
                    "-af",
                    f"{prep},{level}",
                    "-c:a",
                    "pcm_f32le",
                    "-rf64",
                    "auto",
                    "-y",
                    str(levelled),
                ],
                timeout=timeout,
                what="audio levelling",
                duration=trim["end"] - trim["start"],
                progress=job.progress,
            )
        tags = [a for k, v in tags_for(job, opts).items() for a in ("-metadata", f"{k}={v}")]
        after = {}
        progress = job.progress
        for fmt in opts.formats:
            final = job.out_dir / f"{stem}.{AUDIO_EXTENSIONS[fmt]}"

            def write(tmp: Path, fmt: str = fmt, correction: float = 0.0) -> None:
                filters = [] if levelled is not None else [prep, level]
                if correction:  # before the encoder's own resampling, if any
                    filters.append(f"volume={correction:.3f}dB:precision=double")
                filters += encoder_filters(fmt, rate)
                inputs = ffmpeg_run.input_args(levelled) if levelled is not None else source
                ffmpeg_run.run(
                    [
                        *inputs,
                        "-map",
                        "0:a:0",
                        "-vn",
                        "-sn",
                        "-dn",
                        "-map_metadata",
                        "-1",
                        *(["-af", ",".join(filters)] if filters else []),
                        *encoder_args(fmt, opts),
                        *tags,
                        "-fflags",
                        "+bitexact",
                        "-y",
                        str(tmp),
                    ],
                    timeout=timeout,
                    what=f"{fmt} encoding",
                    duration=trim["end"] - trim["start"],
                    progress=progress,
                )

            size = write_atomic(final, job.tmp_dir, write)
            got = loudness.measure(final, timeout=timeout)
            miss = target - got["lufs"]
            if not silent and abs(miss) > ENCODE_TOLERANCE and got["true_peak"] + miss <= opts.true_peak - 0.1:
                # The codec moved the loudness (AAC on dense noise, a low Opus rate): once more,
                # with the difference as gain, from the same levelled samples.
                size = write_atomic(final, job.tmp_dir, lambda tmp, fmt=fmt, miss=miss: write(tmp, fmt, miss))
                got = loudness.measure(final, timeout=timeout)
            info = ffprobe(final, timeout=min(60, timeout))
            stream = next(s for s in info.get("streams", []) if s.get("codec_type") == "audio")
            got_rate = int(stream.get("sample_rate") or rate)
            # Decoded length: the container's is whole frames (an MP3 rounds up to 1152 samples).
            duration = (
                got["samples"] / got_rate if got["samples"] else float(info.get("format", {}).get("duration") or 0)
            )
            after[fmt] = {k: got[k] for k in ("lufs", "true_peak", "lra")}
            job = job.with_output(
                final,
                format=fmt,
                bytes=size,
                duration=round(duration, 3),
                lufs=got["lufs"],
                true_peak=got["true_peak"],
                sample_rate=got_rate,
                channels=int(stream.get("channels") or channels),
                bitrate=round(size * 8 / duration / 1000) if duration > 0 and math.isfinite(duration) else 0,
            )
    finally:
        if levelled is not None:
            levelled.unlink(missing_ok=True)
    facts_loudness = {
        **job.facts["loudness"],
        "prepared": {k: measured[k] for k in ("lufs", "true_peak", "lra")},
        "target": {"lufs": target, "true_peak": opts.true_peak},
        "ceiling": round(ceiling, 2),
        **how,
        "after": after,
    }
    return job.note(loudness=facts_loudness, output_channels=channels, output_sample_rate=rate)
