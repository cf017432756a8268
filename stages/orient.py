"""Apply the EXIF orientation to the pixels (all 8 values), so outputs need no tag."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image

from pipeline.config.profile import ImageOptions
from pipeline.job import Frame, Job

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def orient(job: Job, opts: ImageOptions) -> Job:
    """Turn the pixels upright; outputs carry no orientation tag.

    The `orientation` fact is the EXIF tag as delivered (`exif_orientation`) unless the sidecar
    overrides it (decode applies `orientation = 1` for pixels already upright under a stale tag, #17)."""
    method = _TRANSPOSE.get(job.facts.get("orientation", 1))
    if method is None or job.pixels is None:
        return job
    frames = tuple(Frame(f.image.transpose(method), f.duration) for f in job.frames)
    pixels = frames[0].image if frames else job.pixels.transpose(method)
    return replace(job, pixels=pixels, frames=frames)
