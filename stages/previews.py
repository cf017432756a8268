"""Pictures for people, from the pixels in memory: the source preview, the "before" of each
comparison, soft proofs of print renditions and the share picture (pipeline.media.previews).

Runs last in the image chains, so that it knows which renditions were made and how each was
cut; the site and pages then show these files and never decode a source again.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from pipeline.atomic import write_image
from pipeline.config.profile import ImageOptions
from pipeline.job import Job
from pipeline.media.crop import choose_focus, crop_box
from pipeline.media.encode import encode, srgb_bytes
from pipeline.media.previews import (
    PREVIEW_QUALITY,
    PREVIEW_WIDTH,
    SHARE_ASPECT,
    SHARE_SIZE,
    compared,
    fit,
    flatten,
    to_srgb,
    whole,
)
from pipeline.media.resize import resize
from pipeline.names import safe_stem

# Baseline: what reads a share picture is a crawler (Open Graph, Slack, LinkedIn) that fetches
# it whole and re-encodes it, never a reader watching it load; progressive took 8 ms a photo
# against 1.4 ms, for a file 10 % smaller (W1, #12).
SHARE_OPTIONS = ImageOptions(formats=["jpeg"], quality={"jpeg": 85}, progressive=False)


def previews(job: Job, opts: ImageOptions) -> Job:
    if job.pixels is None:
        return job
    stem = safe_stem(Path(job.rel).name)
    cmyk = job.pixels.mode == "CMYK"
    # Print profiles keep an sRGB copy of the source for screens (stages.colour); without one,
    # the CMYK pixels converted back stand in.
    screen = job.screen if job.screen is not None else job.pixels
    if screen.mode == "CMYK":
        screen = to_srgb(screen, job.icc)
    small = fit(screen, PREVIEW_WIDTH)  # what the preview shows, and the share picture is cut from
    if not job.facts.get("vector"):
        job, preview_width = _preview(job, stem, small)
        job = _comparisons(job, stem, screen, cmyk, preview_width)
    return _share(job, stem, small, opts)


def _save(job: Job, im: Image.Image, path: Path, **facts) -> Job:
    """JPEG, or WebP where the picture has transparency (the file name says which)."""
    if path.suffix == ".webp":
        write_image(path, job.tmp_dir, im, format="WEBP", quality=PREVIEW_QUALITY, method=2)
    else:
        flat = flatten(im)
        write_image(path, job.tmp_dir, flat, format="JPEG", quality=PREVIEW_QUALITY, subsampling=0)
    return job.with_output(
        path,
        format=path.suffix[1:].replace("jpg", "jpeg"),
        width=im.width,
        height=im.height,
        bytes=path.stat().st_size,
        **facts,
    )


def _ext(im: Image.Image) -> str:
    return "webp" if "A" in im.getbands() or im.mode == "P" else "jpg"


def _preview(job: Job, stem: str, im: Image.Image) -> tuple[Job, int]:
    """The source as the pipeline read it. Always drawn from the pixels, never a copy of the
    file: a damaged source the decoder read past would reach the page damaged."""
    job = _save(job, im, job.out_dir / f"{stem}.preview.{_ext(im)}", role="preview")
    return job, im.width


def _cut(im: Image.Image, crop) -> Image.Image:
    x0, y0, x1, y1 = (float(v) for v in crop or (0, 0, 1, 1))
    box = (round(x0 * im.width), round(y0 * im.height), round(x1 * im.width), round(y1 * im.height))
    return im.crop(box) if box != (0, 0, im.width, im.height) else im


def _comparisons(job: Job, stem: str, screen: Image.Image, cmyk: bool, preview_width: int) -> Job:
    made = [{**o.facts, "path": o.path} for o in job.outputs]
    for aspect, r in compared(made, cmyk).items():
        label = aspect.replace(":", "x")
        width = min(int(r["width"]), PREVIEW_WIDTH)
        if cmyk:  # the screen cannot show the CMYK file: a soft proof stands in for it
            proof = to_srgb(fit(_cut(job.pixels, r.get("crop")), width), job.icc)
            job = _save(
                job,
                proof,
                job.out_dir / f"{stem}.proof-{label}.jpg",
                role="proof",
                aspect=aspect,
                of=Path(r["path"]).name,
            )
            width = proof.width
        if whole(r.get("crop")) and width >= preview_width:
            continue  # the source preview is this comparison's "before"
        height = max(1, round(width * int(r["height"]) / max(1, int(r["width"]))))
        before = resize(_cut(screen, r.get("crop")), (width, height))
        job = _save(
            job,
            before,
            job.out_dir / f"{stem}.before-{label}.{_ext(before)}",
            role="before",
            aspect=aspect,
            of=Path(r["path"]).name,
        )
    return job


def _share(job: Job, stem: str, screen: Image.Image, opts: ImageOptions) -> Job:
    """1200x630 JPEG cut around the focal point (the sidecar's, else the profile's gravity), from
    the 1200 px preview's pixels: a landscape photo needs a crop and no resize."""
    centre, how = choose_focus(screen, SHARE_ASPECT, job.sidecar.focus, opts.gravity)
    cut = resize(screen.crop(crop_box(screen.width, screen.height, SHARE_ASPECT, centre)), SHARE_SIZE)
    path = job.out_dir / f"{stem}.share.jpg"
    # It goes public (Open Graph): the profile's metadata policy holds, as for the renditions.
    size = encode(
        flatten(cut),
        "jpeg",
        path,
        job.tmp_dir,
        SHARE_OPTIONS,
        icc=srgb_bytes(),
        exif=job.exif,
        rights=job.facts.get("rights"),
    )
    return job.with_output(
        path,
        role="share",
        format="jpeg",
        width=SHARE_SIZE[0],
        height=SHARE_SIZE[1],
        bytes=size,
        focus=[round(centre[0], 4), round(centre[1], 4)],
        focus_from=how,
    )
