"""Fan out: every aspect x width x format from the one decoded, oriented, colour-converted image.

Only crop, resize and encode run per rendition. Widths are made largest first, each from the
previous one (sharp's tuned pipeline does the same), which costs a fraction of resizing every
width from the full decode and looks the same.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipeline.config.profile import ImageOptions
from pipeline.config.schema import parse_aspect
from pipeline.job import Frame, Job
from pipeline.media.crop import choose_focus, crop_box
from pipeline.media.encode import ANIMATED, EXTENSIONS, encode
from pipeline.media.previews import PREVIEW_WIDTH
from pipeline.media.resize import resize
from pipeline.names import safe_stem


def renditions(job: Job, opts: ImageOptions) -> Job:
    src = job.pixels
    if src is None:
        return job
    display_w = job.facts.get("display_width", src.width)
    display_h = job.facts.get("display_height", src.height)
    scale = src.width / display_w  # < 1 when the decode was shrunk on load
    stem = safe_stem(Path(job.rel).name)
    animated_formats = [f for f in opts.formats if f in ANIMATED] if job.frames else []
    if job.frames and not animated_formats:
        job = job.warn(f"animation kept as its first frame only: {', '.join(opts.formats)} cannot animate")
    # The pictures for people (stages.previews) are at most PREVIEW_WIDTH wide: when nothing is
    # cropped, the smallest whole-frame rendition at least that wide serves them as well as the
    # full decode and resizes in a third of the time (6 ms a photo, W1). Print keeps its own
    # sRGB copy; a crop's "before" needs the full decode's detail.
    screen = job.screen
    keep_screen = screen is None and all(parse_aspect(a) is None for a in opts.aspects)
    for aspect_text in dict.fromkeys(opts.aspects):  # an aspect listed twice is made once (#12)
        aspect = parse_aspect(aspect_text)
        focus, how = choose_focus(src, aspect, job.sidecar.focus, opts.gravity)
        box = crop_box(src.width, src.height, aspect, focus)
        cropped = src.crop(box) if box != (0, 0, src.width, src.height) else src
        frames = tuple(Frame(f.image.crop(box), f.duration) for f in job.frames)
        full_w = round(cropped.width / scale)  # crop width in source pixels
        wanted = sorted(set(opts.widths), reverse=True)
        fitting = [w for w in wanted if w <= full_w]
        # Widths the source cannot fill are dropped (qa warns); the source's own width takes
        # their place, so the sharpest rendition the material allows is still published. Each
        # width once: a 640 px source asked for 1920/1280/640 has one 640 px rendition (#12).
        widths = [min(full_w, cropped.width), *fitting] if len(fitting) < len(wanted) or not wanted else fitting
        widths = list(dict.fromkeys(widths))
        label = "" if aspect is None else "-" + aspect_text.replace(":", "x")
        rect = [round(v, 4) for v in (box[0] / src.width, box[1] / src.height, box[2] / src.width, box[3] / src.height)]
        current, current_frames = cropped, frames
        for w in widths:
            # Uncropped: the source's own proportions, not those of a shrunk decode (rounded to whole pixels).
            h = max(1, round(w * display_h / display_w) if aspect is None else round(w / aspect))
            current = resize(current, (w, h))
            if keep_screen and w >= PREVIEW_WIDTH:
                screen = current
            current_frames = tuple(Frame(resize(f.image, (w, h)), f.duration) for f in current_frames)
            dpi = w / (opts.print_width_mm / 25.4) if opts.print_width_mm else None
            for fmt in dict.fromkeys(opts.formats):
                final = job.out_dir / f"{stem}{label}-{w}.{EXTENSIONS[fmt]}"
                size = encode(
                    current,
                    fmt,
                    final,
                    job.tmp_dir,
                    opts,
                    icc=job.icc,
                    exif=job.exif,
                    frames=current_frames if fmt in animated_formats else (),
                    dpi=dpi,
                    rights=job.facts.get("rights"),
                )
                job = job.with_output(
                    final,
                    format=fmt,
                    width=w,
                    height=h,
                    bytes=size,
                    aspect=aspect_text,
                    crop=rect,
                    focus=[round(focus[0], 4), round(focus[1], 4)],
                    focus_from=how,
                    animated=bool(current_frames) and fmt in animated_formats,
                )
    return replace(job, screen=screen)
