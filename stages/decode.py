"""Decode an image once, at the smallest scale the profile's largest rendition allows.

Refuses decompression bombs before any pixel is decoded (every frame of an animation counts),
and turns every decoder failure into one plain sentence.
"""

from __future__ import annotations

import math
import struct
import warnings
from dataclasses import replace

from PIL import Image, ImageFile, UnidentifiedImageError

from pipeline.config.profile import ImageOptions
from pipeline.config.schema import parse_aspect
from pipeline.errors import InputError
from pipeline.job import Frame, Job
from pipeline.media.previews import PREVIEW_WIDTH, SHARE_ASPECT, SHARE_SIZE
from pipeline.media.resize import shrink_on_load
from pipeline.names import one_line

try:  # HEIC/HEIF from phones; AVIF is read by Pillow itself
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - a dependency; doctor reports it
    pillow_heif = None

# Our own limit (Limits.max_pixels) is checked before decoding; Pillow's global one would warn
# or raise at a different size.
Image.MAX_IMAGE_PIXELS = None
# A truncated file is an error, never a silently grey-padded output.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_TRANSPOSED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
ANALYSIS_PX = 512  # smallest long side a shrunk decode keeps (stages.qa measures at ~512 px)


def decode(job: Job, opts: ImageOptions) -> Job:
    """Open the source, check its size, decode (all frames if animated and kept)."""
    try:
        im = Image.open(job.source)
    except UnidentifiedImageError:
        raise InputError("not an image Pillow can read (unknown or damaged format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"cannot read image: {one_line(e)}") from None
    try:
        return _decode(job, opts, im)
    except BaseException:
        im.close()  # a refused file must not keep its handle open in a long-running worker
        raise


def _decode(job: Job, opts: ImageOptions, im: Image.Image) -> Job:
    width, height = im.size
    try:  # counting frames reads the whole file: a truncated GIF fails here (IndexError in Pillow)
        frames = getattr(im, "n_frames", 1) if im.format in ("GIF", "WEBP", "PNG", "AVIF") else 1
    except (IndexError, EOFError, OSError, SyntaxError, ValueError, struct.error) as e:
        raise InputError(_decode_error(EOFError() if isinstance(e, IndexError) else e)) from None
    _check_bomb(width, height, 1, job.limits.max_pixels)
    tagged = _orientation(im)
    # The sidecar knows better than a stale tag (#17): pixels turned upright, tag left at "rotate 90".
    orientation = tagged if job.sidecar.orientation is None else job.sidecar.orientation
    facts = {
        "format": (im.format or "").lower(),
        "mode": im.mode,
        "width": width,
        "height": height,
        "orientation": orientation,
        "exif_orientation": tagged,
        "display_width": height if orientation in _TRANSPOSED else width,
        "display_height": width if orientation in _TRANSPOSED else height,
        "frames": frames,
        "dpi": _dpi(im),
        "adobe_cmyk": bool(im.info.get("adobe")) and im.mode == "CMYK",
        "jpeg_quality": _jpeg_quality(im),
        "has_alpha": im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info),
    }
    animated = frames > 1 and opts.animated and set(opts.formats) & {"webp", "gif", "avif"}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if animated:
                _check_bomb(width, height, frames, job.limits.max_pixels)
                decoded = _frames(im)
                pixels = decoded[0].image
            else:
                pixels, decoded = _shrunk(im, job, opts, orientation), ()
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise InputError(_decode_error(e)) from None
    for w in caught:  # damaged metadata and the like: the pixels are fine, the user should know
        if not issubclass(w.category, DeprecationWarning):
            job = job.warn(f"decoder reported: {one_line(w.message, 160)}")
    facts["decoded_width"], facts["decoded_height"] = pixels.size
    return replace(
        job,
        pixels=pixels,
        frames=decoded,
        facts={**job.facts, **facts},
        icc=im.info.get("icc_profile") or None,
        exif=_exif(im),
    )


def _mp(pixels: int) -> str:
    """Megapixels for a message: whole above 10, else two digits (a small limit read "0", #17)."""
    return f"{pixels / 1e6:,.0f}" if pixels >= 1e7 else f"{pixels / 1e6:.2g}"


def _check_bomb(width: int, height: int, frames: int, limit: int) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"image declares an impossible size {width}x{height}")
    total = width * height * frames
    if total > limit:
        what = f"{frames} frames of {width}x{height}" if frames > 1 else f"{width}x{height}"
        raise InputError(
            f"decompression bomb refused: {what} is {_mp(total)} megapixels, over the limit of "
            f"{_mp(limit)} (raise [limits] max_pixels in crossmedia.toml if the file is genuine)"
        )


def _shrunk(im: Image.Image, job: Job, opts: ImageOptions, orientation: int) -> Image.Image:
    """The pixels, loaded. Shrink-on-load for JPEG: decoded at the scale the profile's largest
    rendition still gets every pixel it needs from (over all its aspects), by libvips for RGB
    and grey (pipeline.media.resize.shrink_on_load), by libjpeg's 1/2, 1/4 or 1/8 through Pillow for
    CMYK, whose Adobe inversion the colour stage undoes."""
    scale = _scale(im, job, opts, orientation)
    if scale >= 1:
        im.load()
        return im
    w, h = im.size
    need = (math.ceil(w * scale), math.ceil(h * scale))  # a uniform scale: same in either orientation
    if im.mode in ("RGB", "L") and getattr(im, "fp", None) is not None:
        pixels = shrink_on_load(im, need)
        pixels.info = dict(im.info)
        im.close()
        return pixels
    im.draft(im.mode if im.mode == "CMYK" else None, need)
    im.load()
    return im


def _scale(im: Image.Image, job: Job, opts: ImageOptions, orientation: int) -> float:
    """How much of a JPEG's size the renditions need (1: all of it; other formats: 1). Never
    less than ANALYSIS_PX on the long side: the crop's saliency and the QA measures look at
    the decoded pixels, and a 64 px icon rendition must not leave them a 64 px picture."""
    if im.format != "JPEG" or not opts.widths or job.kind != "image":
        return 1.0
    w, h = im.size
    if orientation in _TRANSPOSED:
        w, h = h, w
    scale = ANALYSIS_PX / max(w, h)
    # The renditions, and the pictures for people (stages.previews): the source preview and
    # the 1200x630 share picture.
    wanted = [(parse_aspect(text), max(opts.widths)) for text in opts.aspects]
    wanted += [(None, PREVIEW_WIDTH), (SHARE_ASPECT, SHARE_SIZE[0])]
    for aspect, width in wanted:
        crop_w = w if aspect is None or w / h <= aspect else h * aspect
        scale = max(scale, width / crop_w)
    return min(scale, 1.0)


def _frames(im: Image.Image) -> tuple[Frame, ...]:
    frames = []
    for i in range(im.n_frames):
        im.seek(i)
        frame = im.convert("RGBA")
        frames.append(Frame(frame, int(im.info.get("duration", 100) or 100)))
    return tuple(frames)


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block must not stop the image: orientation unknown = 1
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _exif(im: Image.Image) -> Image.Exif | None:
    try:
        exif = im.getexif()
    except Exception:  # damaged EXIF: treat as none, the pixels are what matters
        return None
    return exif if len(exif) else None


def _dpi(im: Image.Image) -> float | None:
    dpi = im.info.get("dpi")
    try:
        value = float(dpi[0]) if dpi else None
    except (TypeError, ValueError, IndexError):
        return None
    return value if value and value > 1 else None


def _jpeg_quality(im: Image.Image) -> int | None:
    """Estimate the JPEG quality the file was saved with from its luminance quantisation table
    (the IJG scaling formula inverted); None for other formats."""
    tables = getattr(im, "quantization", None)
    if im.format != "JPEG" or not tables or 0 not in tables:
        return None
    base = [
        16,
        11,
        10,
        16,
        24,
        40,
        51,
        61,
        12,
        12,
        14,
        19,
        26,
        58,
        60,
        55,
        14,
        13,
        16,
        24,
        40,
        57,
        69,
        56,
        14,
        17,
        22,
        29,
        51,
        87,
        80,
        62,
        18,
        22,
        37,
        56,
        68,
        109,
        103,
        77,
        24,
        35,
        55,
        64,
        81,
        104,
        113,
        92,
        49,
        64,
        78,
        87,
        103,
        121,
        120,
        101,
        72,
        92,
        95,
        98,
        112,
        100,
        103,
        99,
    ]
    table = list(tables[0])
    if len(table) != 64:
        return None
    # Pillow returns the table in zigzag order; compare sums, which the order does not change.
    scale = sum(table) * 100 / sum(base)
    quality = (200 - scale) / 2 if scale <= 100 else 5000 / scale
    return max(1, min(100, round(quality)))


def _decode_error(e: BaseException) -> str:
    text = one_line(e)
    if "truncated" in text or "broken data stream" in text or isinstance(e, EOFError):
        return "image file is truncated or damaged (ends before all pixels); ask for the file again"
    return f"image cannot be decoded: {text}"
