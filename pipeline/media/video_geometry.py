"""Where each video rendition is cut from, and how big it comes out (#4).

The crop is the image chain's (`pipeline.media.crop.crop_box`), computed on the picture as a player shows
it (upright, pixels made square), then mapped back onto the decoded frames, which ffmpeg has
already turned upright but whose pixels may still be non-square. Sizes fit the profile's caps,
are even (4:2:0 chroma and H.264 need it) and never exceed the crop: video is never upscaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config.profile import VideoOptions
from pipeline.config.schema import parse_aspect
from pipeline.job import Job
from pipeline.media.crop import crop_box
from pipeline.names import safe_stem


@dataclass(frozen=True)
class Rendition:
    aspect: str  # "original", "16:9"...
    crop: tuple[int, int, int, int]  # x, y, w, h on the decoded (upright) frames
    rect: list[float]  # crop as [x0, y0, x1, y1], 0..1 of the upright picture (site, reports)
    focus: tuple[float, float]
    width: int  # output size
    height: int
    shown: tuple[int, int]  # size of the crop as shown (square pixels)
    label: str  # "" or "-16x9", for file names

    def name(self, stem: str, suffix: str) -> str:
        return f"{stem}{self.label}-{self.width}{suffix}"


def _floor_even(value: float) -> int:
    return max(2, int(value + 1e-9) // 2 * 2)


def _round_even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def fit(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """Even output size for a crop shown as width x height: its shape (within a pixel where even
    numbers allow), within the caps (0 = none), never larger than the crop itself."""
    limit_w = _floor_even(min(width, max_width or width))
    limit_h = _floor_even(min(height, max_height or height))
    scale = min(limit_w / width, limit_h / height)
    w0, h0 = _floor_even(width * scale), _floor_even(height * scale)
    shape = width / height
    candidates = set()
    for w in (w0, w0 - 2):  # from the width, and from the height, one even step each way
        candidates.add((w, min(limit_h, _round_even(w / shape))))
    for h in (h0, h0 - 2):
        candidates.add((min(limit_w, _round_even(h * shape)), h))
    candidates = {(w, h) for w, h in candidates if w >= 2 and h >= 2}

    def error(size: tuple[int, int]) -> float:  # how far from the shape, in pixels of height
        return abs(size[0] / size[1] - shape) * size[1]

    best = min(error(c) for c in candidates)
    return max((c for c in candidates if error(c) <= max(best, 1.0)), key=lambda c: (c[0] * c[1], -error(c)))


def caps(width: int, height: int, opts: VideoOptions) -> tuple[int, int]:
    """The profile's size caps for a picture of this shape. They are written for landscape; a
    portrait picture gets them turned, as "1080p" means 1080x1920 for a phone held upright."""
    w, h = opts.max_width, opts.max_height
    if w and h and (height > width) != (h > w):
        return h, w
    return w, h


def allowed(width: int, height: int, opts: VideoOptions) -> tuple[int, int]:
    """The largest size of this shape the caps allow (what a big enough source would give)."""
    cap_w, cap_h = caps(width, height, opts)
    big = 1 << 16
    return fit(width * big, height * big, cap_w, cap_h) if cap_w or cap_h else (width, height)


def renditions_for(job: Job, opts: VideoOptions) -> list[Rendition]:
    f = job.facts
    shown_w, shown_h = int(f["display_width"]), int(f["display_height"])
    turned = f["rotation"] in (90, 270)
    frame_w, frame_h = (f["height"], f["width"]) if turned else (f["width"], f["height"])
    sx, sy = frame_w / shown_w, frame_h / shown_h
    focus = (float(job.sidecar.focus[0]), float(job.sidecar.focus[1])) if job.sidecar.focus else (0.5, 0.5)
    out = []
    for text in dict.fromkeys(opts.aspects):  # an aspect listed twice is made once (#12)
        aspect = parse_aspect(text)
        x0, y0, x1, y1 = crop_box(shown_w, shown_h, aspect, focus)
        cw, ch = x1 - x0, y1 - y0
        cap_w, cap_h = caps(cw, ch, opts)
        w, h = fit(cw, ch, cap_w, cap_h)
        crop = (round(x0 * sx), round(y0 * sy), min(frame_w, round(cw * sx)), min(frame_h, round(ch * sy)))
        rect = [round(v, 4) for v in (x0 / shown_w, y0 / shown_h, x1 / shown_w, y1 / shown_h)]
        label = "" if aspect is None else "-" + text.replace(":", "x")
        out.append(Rendition(text, crop, rect, focus, w, h, (cw, ch), label))
    return out


def stem_of(job: Job) -> str:
    return safe_stem(Path(job.rel).name)
