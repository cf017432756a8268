"""Pictures for people rather than for publication: what the preview site, pages and proofs show.

A browser cannot show every source (CMYK TIFF, HEIC, 16-bit PNG...) nor a print rendition, so
the worker, while the decoded, upright, colour-managed pixels are in memory, also writes:

- `preview`: the source as the pipeline read it, in sRGB, at most PREVIEW_WIDTH wide;
- `before`: the source cut like the rendition a comparison shows, at that rendition's size;
- `proof`: a print (CMYK) rendition converted to sRGB for the screen (a soft proof);
- `share`: the 1200x630 Open Graph picture, cut around the focal point.

They are renditions with a `role`, recorded in the store like the others: the site and pages
read them and never decode a source again. This module holds the rules the worker (the
`previews` stage) and the site share, so both agree on which rendition a comparison shows.
"""

from __future__ import annotations

import io

from PIL import Image, ImageCms

from pipeline.media.resize import resize

PREVIEW_WIDTH = 1200  # source previews and "before" images: enough for a designer's screen
# Near-lossless, so that a comparison shows the rendition's loss, not ours: the source preview
# is also the "before" of every uncropped comparison.
PREVIEW_QUALITY = 95
SHARE_SIZE = (1200, 630)  # Open Graph / Twitter summary_large_image
SHARE_ASPECT = 1200 / 630
COMPARE_MAX = 1280  # the rendition a comparison shows is the largest up to this width
FORMAT_ORDER = ["avif", "webp", "jpeg", "png", "gif", "svg"]
# What a browser shows in <img> (CMYK outputs excepted: they need a soft proof).
WEB_FORMATS = ("avif", "webp", "jpeg", "png", "gif", "svg")
# Roles of the pictures made for people; a rendition proper has no role. "frame": a video's whole
# frame, made by the poster stage when a profile has crops only (the site draws them on it).
PREVIEW_ROLES = ("preview", "before", "proof", "share", "frame")


def compared(renditions: list[dict], cmyk: bool) -> dict[str, dict]:
    """aspect -> the rendition a before/after comparison shows for it: the largest up to
    COMPARE_MAX (in the browser's favourite format); for print, the largest of all."""
    by_aspect: dict[str, list[dict]] = {}
    for r in renditions:
        if r.get("width") and not r.get("role") and r.get("format") != "svg":
            by_aspect.setdefault(str(r.get("aspect") or "original"), []).append(r)
    chosen = {}
    for aspect, group in by_aspect.items():
        shown = [r for r in group if r.get("format") in WEB_FORMATS] if not cmyk else []
        if shown:
            fit = [r for r in shown if r["width"] <= COMPARE_MAX] or shown
            top = max(r["width"] for r in fit)
            chosen[aspect] = min((r for r in fit if r["width"] == top), key=_format_rank)
        else:
            chosen[aspect] = max(group, key=lambda r: r["width"])
    return chosen


def _format_rank(r: dict) -> int:
    return FORMAT_ORDER.index(r["format"]) if r.get("format") in FORMAT_ORDER else 9


def whole(crop) -> bool:
    return crop is None or [float(v) for v in crop] == [0, 0, 1, 1]


def fit(im: Image.Image, width: int) -> Image.Image:
    if im.width <= width:
        return im
    return resize(im, (width, max(1, round(im.height * width / im.width))))


def flatten(im: Image.Image) -> Image.Image:
    """On white, for JPEG."""
    if im.mode in ("RGBA", "LA", "PA", "P"):
        im = im.convert("RGBA")
        base = Image.new("RGB", im.size, "#ffffff")
        base.paste(im, mask=im.getchannel("A"))
        return base
    return im.convert("RGB")


def to_srgb(im: Image.Image, icc: bytes | None = None) -> Image.Image:
    """CMYK (with its ICC profile) to sRGB for the screen; other modes to RGB(A) as they are."""
    icc = icc or im.info.get("icc_profile")
    if im.mode == "CMYK" and icc:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.applyTransform(im, ImageCms.buildTransform(src, ImageCms.createProfile("sRGB"), "CMYK", "RGB"))
    return im.convert("RGBA" if "A" in im.getbands() else "RGB")
