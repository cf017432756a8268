"""Plain-words warnings about delivered audio (#4): each says the figure and the threshold.

Checked on the source as kept (before levelling): clipping, near-silence, very quiet or very
loud masters, heavy limiting, mono recorded as stereo, low bit rate or sample rate, loudness range,
duration outside the profile's limits; and on the outputs: a target that was missed.
"""

from __future__ import annotations

from pipeline.config.profile import AudioOptions
from pipeline.job import Job

# kbit/s (mono, stereo) under which a lossy source has audible artefacts no re-encode removes.
LOW_KBPS = {
    "mp3": (64, 112),
    "mp2": (64, 128),
    "aac": (40, 80),
    "vorbis": (40, 80),
    "opus": (20, 40),
    "wmav2": (48, 96),
    "ac3": (64, 128),
    "eac3": (48, 96),
}
# Samples at full scale from which a source counts as clipped (a master peaking exactly at
# 0 dBFS touches it a few times).
CLIPPED_SAMPLES = 10
LOW_RATE = 22050
# Gain (dB) needed to reach the target beyond which noise and room come up with the voice.
QUIET_GAIN = 12.0
# Integrated loudness of a master that is squashed loud (pop masters sit near -8 LUFS).
LOUD_LUFS = -9.0
SILENT_LUFS = -60.0
# dB of peak limiting beyond which levelling audibly changes the sound.
HEAVY_LIMITING = 4.0
MISS_LU = 0.5
# Decoded lossy outputs peak up to ~1 dB over what was encoded (EBU R128 s1, AES TD1004).
LOSSY = {"mp3", "m4a", "opus", "aac", "ogg"}
LOSSY_PEAK_SLACK = 1.0
# EBU R128 integrates 400 ms blocks: anything shorter has no integrated loudness.
GATE_SECONDS = 0.4


def audio_qa(job: Job, opts: AudioOptions) -> Job:
    f = job.facts
    loud = f.get("loudness", {})
    before, target = loud.get("before", {}), loud.get("target", {})
    lufs, tp = before.get("lufs", -70.0), before.get("true_peak", -99.0)
    want = target.get("lufs", opts.lufs)
    kept = f.get("kept_duration", f.get("duration", 0))
    if kept < GATE_SECONDS:
        job = job.warn(
            f"the audio is only {kept * 1000:.0f} ms long: loudness needs {GATE_SECONDS * 1000:.0f} ms to be "
            f"measured, so it was not levelled"
        )
        return _limits(job, opts)
    if lufs <= SILENT_LUFS or f.get("rms_dbfs", 0) <= -70:
        job = job.warn(
            f"the audio is silent or nearly so ({lufs:g} LUFS, peak {f.get('peak_dbfs', -120):g} dBFS); "
            f"check it is the right file"
        )
        return _limits(job, opts)
    clipped = f.get("clipped_samples", 0)
    if tp >= 0 or clipped >= CLIPPED_SAMPLES:
        job = job.warn(
            f"the source clips: true peak {tp:+.1f} dBTP (0 is full scale), {clipped} samples at or over "
            f"full scale; levelling lowers it, but the distortion is in the recording: ask for an "
            f"unclipped master"
        )
    gain = loud.get("gain_db", 0.0)
    if want - lufs > QUIET_GAIN:
        job = job.warn(
            f"the source is very quiet ({lufs:g} LUFS, target {want:g}): it was raised {want - lufs:.0f} dB, "
            f"which raises its noise too"
        )
    elif lufs > LOUD_LUFS:
        job = job.warn(
            f"the source is very loud ({lufs:g} LUFS, target {want:g}): a squashed master, turned down "
            f"{lufs - want:.0f} dB; its dynamics do not come back"
        )
    prepared = loud.get("prepared", {})
    if loud.get("limited") and prepared:
        depth = prepared.get("true_peak", -99) + gain - loud.get("ceiling", opts.true_peak)
        if depth > HEAVY_LIMITING:
            job = job.warn(
                f"reaching {want:g} LUFS under {opts.true_peak:g} dBTP took about {depth:.0f} dB of peak "
                f"limiting; listen to it, or lower lufs for this material"
            )
    if before.get("lra", 0) > opts.lra:
        job = job.warn(
            f"loudness range {before['lra']:g} LU is wider than the profile's lra = {opts.lra:g}: quiet "
            f"passages may be lost on phones and in cars"
        )
    if f.get("channels_differ_db", 0) <= -60:
        job = job.warn(
            f"both channels carry the same signal (left minus right peaks at {f['channels_differ_db']:g} dBFS): "
            f'mono recorded as stereo; channels = "mono" would say so and save bits'
        )
    codec, kbps, ch = f.get("codec", ""), (f.get("bitrate") or 0) / 1000, min(2, f.get("channels") or 2)
    if codec in LOW_KBPS and 0 < kbps < LOW_KBPS[codec][ch - 1]:
        job = job.warn(
            f"the source is {codec} at only {kbps:.0f} kbit/s: its artefacts are baked in and no "
            f"re-encode removes them; ask for a WAV or a higher bit rate"
        )
    if 0 < (f.get("sample_rate") or 0) < LOW_RATE:
        job = job.warn(
            f"the source is sampled at {f['sample_rate']} Hz: nothing above {f['sample_rate'] // 2} Hz "
            f"(telephone quality); resampling does not add it back"
        )
    for fmt, got in loud.get("after", {}).items():
        # A lossy decoder overshoots the true peak the encoder was given (that is what the -1 dBTP
        # headroom is for): an Opus file 0.2 dB over, at target loudness, is no news (#17).
        slack = LOSSY_PEAK_SLACK if fmt in LOSSY else 0.2
        if abs(got["lufs"] - want) > MISS_LU or got["true_peak"] > opts.true_peak + slack:
            job = job.warn(
                f"{fmt} output measures {got['lufs']:g} LUFS, {got['true_peak']:+.1f} dBTP; the target "
                f"was {want:g} LUFS under {opts.true_peak:g} dBTP"
            )
    return _limits(job, opts)


def _limits(job: Job, opts: AudioOptions) -> Job:
    kept = job.facts.get("kept_duration", job.facts.get("duration", 0))
    if opts.min_duration and kept < opts.min_duration:
        job = job.warn(
            f"the audio is {kept:.1f} s long, shorter than the profile's min_duration = {opts.min_duration:g} s"
        )
    if opts.max_duration and kept > opts.max_duration:
        job = job.warn(
            f"the audio is {kept:.1f} s long, longer than the profile's max_duration = {opts.max_duration:g} s"
        )
    return job
