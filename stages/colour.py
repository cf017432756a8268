"""Honour the embedded ICC profile; convert to sRGB for screens or to a CMYK output profile for print.

Pillow's plain `convert()` ignores ICC profiles, clips 16-bit grey instead of scaling it and
drops palette transparency. Here every mode is first brought to 8-bit RGB/L/CMYK with its alpha
set aside, then one littleCMS transform runs (cached per process), then the alpha goes back.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from functools import lru_cache

from PIL import Image, ImageCms

from pipeline.config.icc import find_icc
from pipeline.config.profile import ImageOptions
from pipeline.errors import InputError
from pipeline.job import Frame, Job
from pipeline.media.encode import srgb_bytes

# The sRGB copy a print profile keeps for screens (stages.previews) is at most this long: enough
# for a 1200 px "before" of a square crop of a 3:2 photo.
SCREEN_MAX = 2400

_INTENT = {
    "perceptual": ImageCms.Intent.PERCEPTUAL,
    "relative": ImageCms.Intent.RELATIVE_COLORIMETRIC,
    "saturation": ImageCms.Intent.SATURATION,
    "absolute": ImageCms.Intent.ABSOLUTE_COLORIMETRIC,
}


@lru_cache(maxsize=16)
def _profile(data: bytes) -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(io.BytesIO(data))


def describe(data: bytes | None) -> str | None:
    if not data:
        return None
    try:
        return ImageCms.getProfileDescription(_profile(data)).strip() or "unnamed profile"
    except (OSError, ImageCms.PyCMSError):
        return None


@lru_cache(maxsize=32)
def _transform(src: bytes, dst: bytes, in_mode: str, out_mode: str, intent: str) -> ImageCms.ImageCmsTransform:
    flags = ImageCms.Flags.BLACKPOINTCOMPENSATION if intent == "relative" else ImageCms.Flags.NONE
    return ImageCms.buildTransform(_profile(src), _profile(dst), in_mode, out_mode, _INTENT[intent], flags=flags)


@lru_cache(maxsize=32)
def _is_srgb(icc: bytes) -> bool:
    """True when the profile maps colours like sRGB: probe a few through it, so that any of the
    many sRGB profiles in the wild skips the transform, and a lookalike name does not."""
    try:
        t = _transform(icc, srgb_bytes(), "RGB", "RGB", "relative")
    except (OSError, ImageCms.PyCMSError):
        return False
    colours = bytes([0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 64, 32, 30, 200, 120, 200, 200, 40])
    probe = Image.frombytes("RGB", (8, 1), colours)
    out = ImageCms.applyTransform(probe, t).tobytes()
    return all(abs(a - b) <= 3 for a, b in zip(colours, out, strict=True))


def _to_8bit(im: Image.Image) -> Image.Image:
    """Bring every mode to RGB, RGBA, L, LA or CMYK, keeping transparency and the full range."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return im
    if mode == "P":
        return im.convert("RGBA" if "transparency" in im.info else "RGB")
    if mode == "PA":
        return im.convert("RGBA")
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I;16") or mode == "I":
        # Pillow's I -> L conversion clips at 255 instead of scaling the 16-bit range.
        top = 65535 if mode.startswith("I;16") or (im.getextrema()[1] or 0) > 255 else 255
        return im.convert("I").point(lambda v: v * (255 / top)).convert("L")
    if mode == "F":
        return im.point(lambda v: v * 255 if (im.getextrema()[1] or 0) <= 1.0 else v).convert("L")
    if mode == "LAB":
        lab = ImageCms.createProfile("LAB")
        return ImageCms.applyTransform(im, ImageCms.buildTransform(lab, ImageCms.createProfile("sRGB"), "LAB", "RGB"))
    return im.convert("RGB")  # YCbCr, HSV, RGBX...


def _split_alpha(im: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if im.mode in ("RGBA", "LA"):
        return im.convert(im.mode[:-1]), im.getchannel("A")
    return im, None


def _space(mode: str) -> str:
    return {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK"}.get(mode, mode)


def colour(job: Job, opts: ImageOptions) -> Job:
    """Convert pixels (and every frame) into the profile's output space; note what was done."""
    if job.pixels is None:
        return job
    facts: dict = {"source_mode": job.facts.get("mode", job.pixels.mode), "source_icc": describe(job.icc)}
    warnings: list[str] = []
    src_icc = job.icc
    base = _to_8bit(job.pixels)
    colour_mode = base.mode.removesuffix("A") if base.mode in ("RGBA", "LA") else base.mode
    if src_icc is not None:
        try:
            space = _profile(src_icc).profile.xcolor_space.strip()
        except (OSError, ImageCms.PyCMSError):
            warnings.append("embedded colour profile is damaged; colours read as sRGB/default CMYK")
            src_icc = None
        else:
            if space != _space(colour_mode):
                warnings.append(
                    f"embedded colour profile is for {space}, the pixels are {colour_mode}; profile ignored"
                )
                src_icc = None
    if src_icc is None and colour_mode == "CMYK":
        path = find_icc(opts.assume_cmyk_icc, job.workspace)
        if path is None:
            raise InputError(
                f"CMYK source has no colour profile and {opts.assume_cmyk_icc} (profile {job.profile.name}, "
                f"[image] assume_cmyk_icc) is not installed; run `crossmedia doctor` for the fix"
            )
        src_icc = path.read_bytes()
        warnings.append(
            f"CMYK source has no colour profile; read as {path.name} (ask for the file with its ICC profile)"
        )
        facts["source_icc_assumed"] = path.name

    if opts.colour == "cmyk":
        dst_path = find_icc(opts.output_icc, job.workspace)
        if dst_path is None:
            raise InputError(f"output profile {opts.output_icc} of profile {job.profile.name} is no longer on disk")
        dst_icc, out_mode = dst_path.read_bytes(), "CMYK"
        facts["output_icc"] = describe(dst_icc)
    else:
        dst_icc, out_mode = srgb_bytes(), "RGB"

    def convert(im: Image.Image, dst_icc: bytes = dst_icc, out_mode: str = out_mode) -> Image.Image:
        im = _to_8bit(im)
        if out_mode == "CMYK" and im.mode in ("RGBA", "LA"):
            background = Image.new(
                im.mode[:-1], im.size, opts.background if im.mode == "RGBA" else _grey(opts.background)
            )
            background.paste(im, mask=im.getchannel("A"))
            im = background
        body, alpha = _split_alpha(im)
        if src_icc is None and body.mode in ("RGB", "L") and out_mode == "RGB":
            converted = body  # untagged RGB/grey is taken as sRGB, as browsers do
        elif src_icc is not None and body.mode == "RGB" and out_mode == "RGB" and _is_srgb(src_icc):
            converted = body
        else:
            source = src_icc if src_icc is not None else srgb_bytes()
            if src_icc is None and body.mode == "L":
                body, source = body.convert("RGB"), srgb_bytes()
            try:
                converted = ImageCms.applyTransform(body, _transform(source, dst_icc, body.mode, out_mode, opts.intent))
            except (ImageCms.PyCMSError, OSError, ValueError) as e:
                raise InputError(f"colour conversion failed: {e}") from None
        if alpha is not None and out_mode == "RGB":
            if converted.mode == "L":
                converted = converted.convert("RGB")
            converted.putalpha(alpha)
        return converted

    frames = tuple(Frame(convert(f.image), f.duration) for f in job.frames)
    pixels = frames[0].image if frames else convert(job.pixels)
    converted_from = None
    if src_icc is not None and not (colour_mode == "RGB" and out_mode == "RGB" and _is_srgb(src_icc)):
        converted_from = describe(src_icc)
    facts["colour_converted_from"] = converted_from
    facts["icc_sha1"] = hashlib.sha1(src_icc).hexdigest()[:12] if src_icc else None
    screen = None
    if out_mode == "CMYK":  # print: an sRGB copy of the source for the preview site's pictures
        factor = max(job.pixels.width, job.pixels.height) // SCREEN_MAX
        small = job.pixels.reduce(factor) if factor >= 2 else job.pixels
        screen = convert(small, srgb_bytes(), "RGB")
    job = replace(job, pixels=pixels, frames=frames, icc=dst_icc, screen=screen, facts={**job.facts, **facts})
    for w in warnings:
        job = job.warn(w)
    return job


def _grey(hex_colour: str) -> int:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return round(0.299 * r + 0.587 * g + 0.114 * b)
