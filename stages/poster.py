"""Poster frames and animated previews for every video rendition, from one seek (#4).

The poster time is the profile's `poster` (a time in the kept part) or "auto": the first frame
the scan found not black. ffmpeg seeks to it exactly (`-ss` before the input is frame-accurate
when decoding), and one run writes a poster per aspect and format at the size of that aspect's
video, plus the optional short animated WebP previews. Posters carry `role = "poster"`, so the
preview site shows them on the player and as the thumbnail. A profile that makes crops only also
gets the whole frame at that time (`<stem>.frame.jpg`, `role = "frame"`, a picture for people
like the image previews, never delivered): the preview site draws the crops on it (#14).
"""

from __future__ import annotations

import uuid

import ffmpeg

from pipeline.atomic import write_many
from pipeline.config.profile import VideoOptions
from pipeline.config.sidecar import parse_time
from pipeline.job import Job
from pipeline.media import ffmpeg_run
from pipeline.media.previews import PREVIEW_WIDTH
from pipeline.media.video_geometry import Rendition, fit, renditions_for, stem_of
from pipeline.media.video_input import argv, kept, source_input, to_sdr

EXTENSIONS = {"jpeg": "jpg", "webp": "webp"}


def poster_time(job: Job, opts: VideoOptions) -> tuple[float, str]:
    """(seconds into the kept part, how it was chosen)."""
    length = float(job.facts["kept_duration"])
    last = max(0.0, length - 0.05)  # a frame that surely exists
    if opts.poster != "auto":
        wanted = parse_time(opts.poster)
        return min(wanted, last), "profile" if wanted <= last else "profile (after the end: last frame)"
    first = job.facts.get("scan", {}).get("first_picture")
    if first is None:
        return 0.0, "auto: every frame is black"
    return min(float(first), last), "auto: first frame that is not black"


def poster(job: Job, opts: VideoOptions) -> Job:
    start, _ = kept(job)
    at, how = poster_time(job, opts)
    plan = renditions_for(job, opts)
    formats = list(dict.fromkeys(opts.poster_formats))  # a format listed twice is written once (#12)
    stem = stem_of(job)
    src = to_sdr(source_input(job, ss=f"{start + at:.6f}").video, job)
    whole = any(r.rect == [0.0, 0.0, 1.0, 1.0] for r in plan)
    branches = len(plan) * (len(formats) + (1 if opts.preview else 0)) + (0 if whole else 1)
    split = src.split() if branches > 1 else None
    outputs, planned, branch = [], [], 0
    for r in plan:
        x, y, w, h = r.crop
        for fmt in formats:
            stream = split[branch] if split is not None else src
            branch += 1
            picture = (
                stream.filter("crop", w, h, x, y)
                .filter("scale", r.width, r.height, flags="lanczos")
                .filter("setsar", 1)
            )
            tmp = job.tmp_dir / f"{uuid.uuid4().hex}.{EXTENSIONS[fmt]}"
            codec = (
                {"c:v": "mjpeg", "q:v": 3, "pix_fmt": "yuvj420p"}
                if fmt == "jpeg"
                else {"c:v": "libwebp", "quality": 82}
            )
            outputs.append(
                ffmpeg.output(picture, str(tmp), **{"frames:v": 1, "update": 1, "map_metadata": -1}, **codec)
            )
            planned.append(
                (job.out_dir / r.name(stem, f"-poster.{EXTENSIONS[fmt]}"), tmp, fmt, r, r.width, r.height, "poster")
            )
        if opts.preview:
            stream = split[branch] if split is not None else src
            branch += 1
            pw = min(opts.preview_width, r.width) // 2 * 2
            ph = max(2, round(pw * r.height / r.width / 2) * 2)
            clip = (
                stream.trim(duration=opts.preview_seconds)
                .setpts("PTS-STARTPTS")
                .filter("fps", 10)
                .filter("crop", w, h, x, y)
                .filter("scale", pw, ph, flags="lanczos")
                .filter("setsar", 1)
            )
            tmp = job.tmp_dir / f"{uuid.uuid4().hex}.webp"
            outputs.append(
                ffmpeg.output(
                    clip,
                    str(tmp),
                    **{"c:v": "libwebp_anim", "loop": 0, "quality": 60, "lossless": 0, "map_metadata": -1, "an": None},
                )
            )
            planned.append((job.out_dir / r.name(stem, "-preview.webp"), tmp, "webp", r, pw, ph, "preview"))
    if not whole:
        stream = split[branch] if split is not None else src
        fw, fh = fit(int(job.facts["display_width"]), int(job.facts["display_height"]), PREVIEW_WIDTH, PREVIEW_WIDTH)
        tmp = job.tmp_dir / f"{uuid.uuid4().hex}.jpg"
        picture = stream.filter("scale", fw, fh, flags="lanczos").filter("setsar", 1)
        jpeg = {"c:v": "mjpeg", "q:v": 3, "pix_fmt": "yuvj420p"}
        outputs.append(ffmpeg.output(picture, str(tmp), **{"frames:v": 1, "update": 1, "map_metadata": -1}, **jpeg))
        frame = Rendition("original", (0, 0, fw, fh), [0.0, 0.0, 1.0, 1.0], (0.5, 0.5), fw, fh, (fw, fh), "")
        planned.append((job.out_dir / f"{stem}.frame.jpg", tmp, "jpeg", frame, fw, fh, "frame"))
    job.tmp_dir.mkdir(parents=True, exist_ok=True)
    write_many(
        [(final, tmp) for final, tmp, *_ in planned],
        lambda: ffmpeg_run.run(argv(ffmpeg.merge_outputs(*outputs)), timeout=job.limits.timeout, what="poster frame"),
    )
    for final, _, fmt, r, width, height, role in planned:
        job = job.with_output(
            final,
            format=fmt,
            width=width,
            height=height,
            aspect=r.aspect,
            bytes=final.stat().st_size,
            role=role,
            time=round(at, 3),
            crop=r.rect,
        )
    if how.startswith("auto: every"):
        job = job.warn("every frame of the video is black, so the poster is black too; check the delivery")
    return job.note(poster_time=round(at, 3), poster_from=how)
