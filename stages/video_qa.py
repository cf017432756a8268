"""Warnings about a video that a person can act on, in plain words (#4).

Everything here reads facts the probe, scan and encode stages noted; nothing is decoded again.
"""

from __future__ import annotations

from pipeline.config.profile import VideoOptions
from pipeline.job import Job

BLACK_SECONDS = 0.5  # black at the start or end worth a trim
FROZEN_SECONDS = 1.0
# Bits per pixel per frame under which H.264-era sources show blocking (1080p30 at ~1.2 Mbit/s).
LOW_BPP = 0.02
FIELD_ORDERS = {
    "tt": "top field first",
    "bb": "bottom field first",
    "tb": "top field first, bottom shown first",
    "bt": "bottom field first, top shown first",
}
MISSED_LU = 1.0  # soundtrack loudness further than this from the target


def _fix_trim(job: Job) -> str:
    return f"trim it with a sidecar ({job.rel}.toml: trim = {{start = ..., end = ...}})"


def video_qa(job: Job, opts: VideoOptions) -> Job:
    f = job.facts
    scan = f.get("scan", {})
    w, h = int(f["display_width"]), int(f["display_height"])
    if f.get("interlaced"):
        order = FIELD_ORDERS.get(str(f.get("field_order")), str(f.get("field_order")))
        job = job.warn(
            f"the source is interlaced ({order}): deinterlaced for the web; "
            "ask for a progressive master if combing or softness shows"
        )
    if opts.min_height and min(w, h) < opts.min_height:
        job = job.warn(
            f"very low resolution: {w}x{h} as shown, under the {opts.min_height} px this profile "
            "wants on the shorter side; ask for a larger master"
        )
    kbps = int(f.get("video_bit_rate_kbps") or 0) or int(f.get("bit_rate_kbps") or 0)
    fps = float(f.get("fps") or 0)
    if kbps and fps and kbps * 1000 / (w * h * fps) < LOW_BPP:
        job = job.warn(
            f"very low bit rate: {kbps} kbit/s for {w}x{h} at {fps:g} fps; expect blocking and "
            "banding in the outputs; ask for a higher-quality master"
        )
    length = float(f.get("kept_duration") or 0)
    if scan.get("first_picture") is None:
        pass  # every frame black: the poster stage already says so
    else:
        if scan.get("black_start", 0) >= BLACK_SECONDS:
            job = job.warn(f"starts with {scan['black_start']:.1f} s of black; {_fix_trim(job)}")
        if scan.get("black_end", 0) >= BLACK_SECONDS:
            job = job.warn(f"ends with {scan['black_end']:.1f} s of black; {_fix_trim(job)}")
    if scan.get("frozen_start", 0) >= FROZEN_SECONDS and scan.get("frozen_start", 0) < length:
        job = job.warn(f"the picture stands still for the first {scan['frozen_start']:.1f} s; {_fix_trim(job)}")
    elif scan.get("frozen_start", 0) >= length > 0:
        job = job.warn("the picture never moves: a still image delivered as video?")
    if FROZEN_SECONDS <= scan.get("frozen_end", 0) < length:
        job = job.warn(f"the picture stands still for the last {scan['frozen_end']:.1f} s; {_fix_trim(job)}")
    if opts.expect_audio and not f.get("has_audio") and not f.get("audio_unreadable"):
        job = job.warn(
            "the video has no soundtrack, and this profile expects one; outputs are silent "
            "(set expect_audio = false in [video] for silent loops)"
        )
    loud = f.get("loudness", {})
    if f.get("has_audio") and loud.get("note", "").startswith("silent"):
        job = job.warn("the soundtrack is silent; deliver the mix, or set expect_audio = false for silent video")
    before, after = loud.get("before", {}), loud.get("after")
    if f.get("has_audio") and not loud.get("note") and before.get("lufs", 0) < -45:
        job = job.warn(
            f"the soundtrack is nearly silent ({before['lufs']:.1f} LUFS): levelling it lifts the "
            "noise floor too; check that the right audio track was delivered"
        )
    if after and abs(after["lufs"] - opts.lufs) > MISSED_LU:
        job = job.warn(
            f"the soundtrack reaches {after['lufs']:.1f} LUFS, not the {opts.lufs:g} LUFS target: its peaks "
            f"leave no more room under {opts.true_peak:g} dBTP without heavy limiting"
        )
    if f.get("hdr"):
        job = job.warn(
            f"HDR source ({f['hdr']}, {f.get('color_primaries') or 'unknown'} primaries): tone-mapped to SDR "
            "BT.709 for the web; check highlights and skin tones, or ask for an SDR grade"
        )
    if f.get("alpha"):
        job = job.warn("the source has transparency (alpha), which MP4/H.264 cannot carry: it is shown on black")
    if f.get("variable_fps"):
        job = job.warn(
            f"variable frame rate (averages {fps:g} fps): fine on the web, but editors may drift; "
            "the outputs keep the source's frame timing"
        )
    return job
