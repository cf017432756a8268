"""EBU R128 loudness: measure a file, and the filters that level it to a target (#4).

`measure` runs ffmpeg's `ebur128` analysis: integrated loudness (LUFS), true peak (dBTP, 4x
oversampled), loudness range (LU) and the gating threshold, the figures loudnorm's second pass
takes as `measured_*`. The audio chain and the video chain's soundtrack both
level with what this module returns.

Two ways to level:

- `loudnorm_filter` is the classic second pass (`linear=true`). loudnorm only stays linear when
  the gain fits under the true-peak ceiling *and* it was given a non-zero measured LRA no larger
  than the target LRA; otherwise it silently switches to its dynamic mode, which misses the target
  by many LU on clips of a few seconds (the way ffmpeg-normalize misses short mono voice clips).
  We pass the target LRA as at least the measured one and never a zero LRA, so only the true-peak
  ceiling can force the dynamic mode.
- `level_filter` is what the audio chain uses: an exact gain (`volume`), then, only when the gain
  would push the true peak over the ceiling, a look-ahead limiter run 4x oversampled so that it
  catches inter-sample peaks too. It lands within a few tenths of an LU on any length of clip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import InputError
from pipeline.media import ffmpeg_run

# ebur128's floor: what silence (or a clip too short to gate) measures.
SILENCE_LUFS = -70.0

_SUMMARY = re.compile(
    r"Integrated loudness:\s*I:\s*(\S+) LUFS\s*Threshold:\s*(\S+) LUFS"
    r".*?LRA:\s*(\S+) LU.*?True peak:\s*Peak:\s*(\S+) dBFS",
    re.S,
)
_INTEGRATED = re.compile(r"lavfi\.r128\.I=(\S+)")
_SAMPLES = re.compile(r"Number of samples: (\d+)")


def _number(text: str, floor: float) -> float:
    try:
        value = float(text)
    except ValueError:  # "nan", "-"
        return floor
    return value if math.isfinite(value) else floor


def parse_ebur128(stderr: str) -> dict[str, float]:
    """ebur128's summary (true peak, LRA, threshold: 0.1 precision) and the last frame's running
    integrated loudness (0.001 precision) -> our keys, floats, never inf."""
    summary = _SUMMARY.findall(stderr)
    if not summary:
        raise ValueError("ebur128 printed no summary")
    i, thresh, lra, tp = summary[-1]
    running = _INTEGRATED.findall(stderr)
    samples = _SAMPLES.findall(stderr)
    lufs = _number(running[-1] if running else i, SILENCE_LUFS)
    return {
        "lufs": max(round(lufs, 2), SILENCE_LUFS),
        "true_peak": _number(tp, -99.0),
        "lra": _number(lra, 0.0),
        "threshold": _number(thresh, SILENCE_LUFS),
        "offset": 0.0,  # what loudnorm's dynamic mode would add; linear levelling needs none
        "samples": float(samples[-1]) if samples else 0.0,  # decoded, per channel (measure only)
    }


def measure_args(input_args: list[str], filters: str = "") -> list[str]:
    """ffmpeg arguments that decode the first audio stream through `filters` and print loudness.

    ebur128 (4x oversampled true peak) is five times faster than a loudnorm analysis pass, which
    runs its whole dynamic processing at 192 kHz only to print the same figures.
    """
    chain = f"{filters}," if filters else ""
    return [
        *input_args,
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-af",
        f"{chain}ebur128=peak=true:metadata=1,ametadata=mode=print:key=lavfi.r128.I,"
        "astats=measure_perchannel=none:measure_overall=Number_of_samples",
        "-f",
        "null",
        "-",
    ]


def run_for_figures(
    args: list[str],
    *,
    timeout: float,
    what: str,
    duration: float | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> str:
    """Run ffmpeg at info level, where ebur128, astats and silencedetect print; return stderr.

    ffmpeg_run runs at error level; a later `-loglevel` wins. On failure the stderr tail would be
    those figures, not the reason: run once more at error level for the one-line error.
    """
    try:
        return ffmpeg_run.run(
            [*args, "-loglevel", "info"], timeout=timeout, what=what, duration=duration, progress=progress
        )
    except InputError as first:
        if "took longer" in str(first):
            raise
        ffmpeg_run.run(args, timeout=timeout, what=what)  # raises with ffmpeg's own words
        raise


def measure(
    path: Path, *, timeout: float, start: float | None = None, duration: float | None = None, filters: str = ""
) -> dict[str, float]:
    """Loudness of the first audio stream of `path` (optionally of `start`..`start+duration`,
    after the ffmpeg audio `filters`): lufs, true_peak (dBTP), lra (LU), threshold (LUFS), offset;
    and `samples`, how many were decoded per channel (an exact duration, gapless MP3 included).

    Silence measures lufs = -70.0. Raises InputError (one line) if ffmpeg cannot read the file.
    """
    args = measure_args(ffmpeg_run.input_args(path, start=start, duration=duration), filters)
    stderr = run_for_figures(args, timeout=timeout, what="loudness measurement")
    try:
        return parse_ebur128(stderr)
    except ValueError:
        raise InputError("loudness measurement found no audio to measure") from None


def loudnorm_filter(measured: dict, *, lufs: float, true_peak: float, lra: float) -> str:
    """The second-pass loudnorm filter for a file measured by `measure`, linear when it can be.

    loudnorm's output runs at 192 kHz when it falls back to its dynamic mode, and ffmpeg 5.1 then
    cannot pick a channel layout on its own: follow it with
    `aresample=<rate>,aformat=channel_layouts=<layout>`.
    """
    target_lra = max(lra, min(50.0, measured["lra"]))  # a higher measured LRA would force dynamic mode
    return (
        "loudnorm="
        f"I={lufs:.2f}:TP={true_peak:.2f}:LRA={target_lra:.2f}:"
        f"measured_I={max(measured['lufs'], -99.0):.2f}:measured_TP={measured['true_peak']:.2f}:"
        f"measured_LRA={max(measured['lra'], 0.01):.2f}:measured_thresh={measured['threshold']:.2f}:"
        f"offset={measured['offset']:.2f}:linear=true:print_format=none"
    )


def gain_for(measured: dict, *, lufs: float) -> float:
    """dB of gain that takes `measured` to `lufs` (0 for silence: nothing to level)."""
    if measured["lufs"] <= SILENCE_LUFS:
        return 0.0
    return lufs - measured["lufs"]


def needs_limiter(measured: dict, gain_db: float, *, true_peak: float) -> bool:
    return measured["true_peak"] + gain_db > true_peak


def level_filter(measured: dict, *, lufs: float, true_peak: float, sample_rate: int, extra_gain_db: float = 0.0) -> str:
    """Filters that take audio measured as `measured` to `lufs` with true peaks under `true_peak`.

    An exact gain; if that would exceed the ceiling, a limiter on the 4x oversampled signal
    (catching inter-sample peaks), then back to `sample_rate`. The limiter lowers the integrated
    loudness a little: measure the result and call again with `extra_gain_db` to make up for it.
    """
    gain = gain_for(measured, lufs=lufs) + extra_gain_db
    parts = [f"volume={gain:.3f}dB:precision=double"]
    if needs_limiter(measured, gain, true_peak=true_peak):
        # Lossy encoders add overshoot of their own: callers pass a ceiling with room for it.
        limit = 10 ** (true_peak / 20)
        parts += [
            f"aresample={sample_rate * 4}:resampler=soxr",
            f"alimiter=limit={min(1.0, max(0.0625, limit)):.5f}:attack=1:release=60:level=false:latency=true",
            f"aresample={sample_rate}:resampler=soxr",
        ]
    return ",".join(parts)


def next_gain(tries: list[tuple[float, float]], *, lufs: float) -> float:
    """The extra gain to try next, from (extra_gain_db, measured_lufs) pairs tried so far.

    The limiter makes loudness grow more slowly than the gain (on speech limited by several dB,
    a third of a LU per dB). Once one try is under the target and one over, interpolate between
    the closest two (regula falsi); until then, a secant step through the last two tries.
    """
    under = [t for t in tries if t[1] < lufs]
    over = [t for t in tries if t[1] > lufs]
    if under and over:
        (g0, l0), (g1, l1) = max(under, key=lambda t: t[1]), min(over, key=lambda t: t[1])
        return g0 + (lufs - l0) * (g1 - g0) / (l1 - l0)
    gain, got = tries[-1]
    if len(tries) < 2:
        return gain + (lufs - got)
    (g0, l0), (g1, l1) = tries[-2], tries[-1]
    slope = (l1 - l0) / (g1 - g0) if g1 != g0 else 1.0
    slope = min(1.0, max(0.1, slope))  # sane steps if the measurements are noisy
    return g1 + (lufs - l1) / slope
