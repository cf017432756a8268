"""Plain-words warnings about delivered material that will not serve: the assistant must hear it.

Each check measures something and says the figure and the threshold, so a designer can judge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from pipeline.job import Job
from pipeline.profile import ImageOptions
from pipeline.schema import parse_aspect
from stages.crop import crop_box

# Below this estimated JPEG quality, blocking and ringing are visible at 100 %.
LOW_JPEG_QUALITY = 50
# 99.5th percentile of |Laplacian| on a 512 px grey copy; in-focus photos measure 40-200,
# a 4 px Gaussian blur of the same photos 6-12 (tests/test_qa.py measures both on the corpus).
SOFT_EDGES = 14


def sharpness(im: Image.Image) -> float:
    grey = im.convert("L")
    scale = 512 / max(grey.size)
    if scale < 1:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.Resampling.BOX)
    lap = np.asarray(grey.filter(ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)),
                     dtype=np.int16) - 128
    return float(np.percentile(np.abs(lap), 99.5))


def qa(job: Job, opts: ImageOptions) -> Job:
    facts = job.facts
    name = Path(job.rel).name
    if opts.colour == "srgb":
        mode = facts.get("source_mode")
        if mode == "CMYK":
            job = job.warn(f"source is CMYK ({facts.get('source_icc') or 'no profile'}), meant for print: "
                           f"converted to sRGB; check the colours, or ask for an RGB file")
        elif facts.get("colour_converted_from"):
            job = job.warn(f"source is in {facts['colour_converted_from']}, not sRGB: converted to sRGB")
    if opts.widths and not facts.get("vector") and facts.get("display_width"):
        job = _too_small(job, opts)
    if opts.print_width_mm and facts.get("display_width"):
        px = facts["display_width"] if not facts.get("vector") else None
        if px:
            ppi = px / (opts.print_width_mm / 25.4)
            job = job.note(print_ppi=round(ppi))
            if ppi < opts.min_ppi:
                need = round(opts.print_width_mm / 25.4 * opts.min_ppi)
                job = job.warn(f"prints at {ppi:.0f} ppi at {opts.print_width_mm:g} mm wide; print needs "
                               f"{opts.min_ppi} ppi ({need} px wide): ask for a larger original")
    if opts.require_alt and not job.sidecar.alt and not job.sidecar.decorative:
        job = job.warn(f"no alt text: add alt = \"...\" to {name}.toml (or decorative = true)")
    quality = facts.get("jpeg_quality")
    if quality is not None and quality < LOW_JPEG_QUALITY:
        job = job.warn(f"heavily compressed JPEG (estimated quality {quality}, below {LOW_JPEG_QUALITY}): "
                       f"artefacts likely; ask for the original")
    if job.pixels is not None and not facts.get("vector") and min(job.pixels.size) >= 64:
        score = sharpness(job.pixels)
        job = job.note(sharpness=round(score, 1))
        if score < SOFT_EDGES:
            job = job.warn(f"image looks out of focus or blurred (edge strength {score:.0f}, sharp photos "
                           f"measure {SOFT_EDGES} or more)")
    return job


def _too_small(job: Job, opts: ImageOptions) -> Job:
    """The source cannot fill the largest rendition of some aspect: it was not upscaled."""
    w, h = job.facts["display_width"], job.facts["display_height"]
    largest = max(opts.widths)
    for text in opts.aspects:
        box = crop_box(w, h, parse_aspect(text))
        crop_w = box[2] - box[0]
        if crop_w < largest:
            where = f" after the {text} crop" if text != "original" else ""
            return job.warn(f"source is too small: {crop_w} px wide{where}, the largest rendition is {largest} px; "
                            f"not upscaled, ask for a larger original")
    return job
