"""Plain-words warnings about delivered material that will not serve: the assistant must hear it.

Each check measures something and says the figure and the threshold, so a designer can judge.
Blur is not checked: edge-strength measures did not separate blurred from sharp photos of the
corpus reliably (a 1.5 px blur moved the score of the orientation photos from 244 to 196, less
than the spread between sharp photos), and a warning that is wrong half the time is noise.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageStat

from pipeline.config.profile import ImageOptions
from pipeline.config.schema import parse_aspect
from pipeline.job import Job
from pipeline.media.crop import crop_box

# Below this estimated JPEG quality, blocking and ringing are visible at 100 %.
LOW_JPEG_QUALITY = 50
# Standard deviation of grey levels below which an image has no visible detail at all.
FLAT_STDDEV = 1.5


def detail(im: Image.Image) -> float:
    """Standard deviation of the grey levels of a ~512 px copy: 0 for a flat colour."""
    factor = max(1, max(im.size) // 512)
    grey = (im.reduce(factor) if factor > 1 else im).convert("L")
    return ImageStat.Stat(grey).stddev[0]


def qa(job: Job, opts: ImageOptions) -> Job:
    facts = job.facts
    name = Path(job.rel).name
    if opts.colour == "srgb":
        mode = facts.get("source_mode")
        if mode == "CMYK":
            job = job.warn(
                f"source is CMYK ({facts.get('source_icc') or 'no profile'}), meant for print: "
                f"converted to sRGB; check the colours, or ask for an RGB file"
            )
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
                job = job.warn(
                    f"prints at {ppi:.0f} ppi at {opts.print_width_mm:g} mm wide; print needs "
                    f"{opts.min_ppi} ppi ({need} px wide): ask for a larger original"
                )
    if opts.require_alt and not job.sidecar.alt and not job.sidecar.decorative:
        job = job.warn(f'no alt text: add alt = "..." to {name}.toml (or decorative = true)')
    quality = facts.get("jpeg_quality")
    if quality is not None and quality < LOW_JPEG_QUALITY:
        job = job.warn(
            f"heavily compressed JPEG (estimated quality {quality}, below {LOW_JPEG_QUALITY}): "
            f"artefacts likely; ask for the original"
        )
    if job.pixels is not None and not facts.get("vector"):
        spread = detail(job.pixels)
        if spread < FLAT_STDDEV:
            job = job.warn(
                f"image is one flat colour with no detail (grey-level spread {spread:.1f}): "
                f"probably a placeholder or a failed export"
            )
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
            return job.warn(
                f"source is too small: {crop_w} px wide{where}, the largest rendition is {largest} px; "
                f"not upscaled, ask for a larger original"
            )
    return job
