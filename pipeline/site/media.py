"""Pictures the preview site and pages make themselves (issue #6), cached by content.

A browser cannot show every source (CMYK TIFF, HEIC, 16-bit PNG...), so the site shows the
source the way the pipeline sees it: the same decode -> orient -> colour stages the renditions
went through, to sRGB. From those pixels come the source preview, the "before" of each
before/after comparison (cropped like the rendition it is compared with) and the 1200x630 share
image of a page (cropped on the focal point with `pipeline.media.crop`, written with `pipeline.media.encode`).
Print renditions (CMYK) get a soft proof: the rendition itself converted to sRGB.

Files go to out/site/media/<key>.<ext>, the key a hash of what made them (input bytes, recipe,
what was asked), so they are made once and a changed input gets new names. The builder removes
files no page uses any more.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms

from pipeline.atomic import write_atomic
from pipeline.batch.store import Row
from pipeline.config.profile import ImageOptions
from pipeline.config.workspace import Workspace
from pipeline.errors import CrossmediaError
from pipeline.job import Job

log = logging.getLogger("crossmedia")

VERSION = "2"  # bump when what is drawn here changes, so cached files are redone
PREVIEW_WIDTH = 1200  # source previews and "before" images: enough for a designer's screen
# Near-lossless, so that a comparison shows the rendition's loss, not ours: the source preview
# is also the "before" of every uncropped comparison.
PREVIEW_QUALITY = 95
AS_IS_BYTES = 2_000_000  # larger sources are redrawn smaller even when a browser could show them
THUMB_WIDTH = 480  # index cards are at most ~300 CSS px wide: sharp on 1.5x screens
SHARE_SIZE = (1200, 630)  # Open Graph / Twitter summary_large_image
SHARE_ASPECT = "40:21"  # 1200:630 in lowest terms, for stages.decode's shrink-on-load
# What a browser shows in <img> (CMYK outputs excepted, see displayable()).
WEB_FORMATS = ("avif", "webp", "jpeg", "png", "gif", "svg")


@dataclass(frozen=True)
class Shown:
    """A picture the browser can show: out/-relative POSIX path and its pixel size."""

    path: str  # relative to out/, e.g. "site/media/3f2a.webp" or "web/hero.jpg/hero-640.webp"
    width: int
    height: int


def renditions(row: Row) -> list[dict]:
    """facts["renditions"] of a processed row (each {path, format, width, height, ...})."""
    found = row.facts.get("renditions") if isinstance(row.facts, dict) else None
    return [r for r in found if isinstance(r, dict) and r.get("path")] if isinstance(found, list) else []


def displayable(row: Row, rendition: dict) -> bool:
    """Can an <img> show this rendition as it is? Not TIFF, not CMYK (print profiles)."""
    return rendition.get("format") in WEB_FORMATS and not row.facts.get("output_icc") and not rendition.get("role")


def out_rel(ws: Workspace, workspace_rel: str) -> str:
    """'out/web/a.jpg/a-640.webp' (as stored) -> 'web/a.jpg/a-640.webp' (relative to out/)."""
    return (ws.root / workspace_rel).relative_to(ws.out).as_posix()


def media_key(*parts: object) -> str:
    return hashlib.sha1("\0".join(map(str, (VERSION, *parts))).encode()).hexdigest()[:20]


def shown_as_is(facts: dict, size: int) -> bool:
    """Can a browser show the source file itself as the pipeline sees it? (a web format, no
    colour conversion, upright, not larger than a preview): then it is copied, not redrawn."""
    return (facts.get("format") in ("jpeg", "png", "webp", "gif") and facts.get("mode") in ("RGB", "RGBA", "L", "LA", "P")
            and not facts.get("colour_converted_from") and facts.get("orientation", 1) == 1
            and 0 < int(facts.get("width") or 0) <= PREVIEW_WIDTH and 0 < size <= AS_IS_BYTES)


def source_preview_path(ws: Workspace, rel: str, sha256: str, recipe: str, alpha: bool) -> Path:
    return ws.out / "site" / "media" / f"{media_key('source', rel, sha256, recipe)}.{'webp' if alpha else 'jpg'}"


def write_source_preview(ws: Workspace, rel: str, sha256: str, recipe: str, facts: dict, size: int,
                         pixels: Image.Image) -> None:
    """Called by the worker while the decoded, upright, colour-managed pixels are in memory:
    the preview site's picture of the source costs a resize and a JPEG here, instead of a
    second decode of the source in the publish step (0.15 s a camera photo, on one core)."""
    if shown_as_is(facts, size) or facts.get("vector") or pixels.mode == "CMYK":
        return  # CMYK (print profiles): the site decodes the source itself, to show it in sRGB
    alpha = bool(facts.get("has_alpha"))
    path = source_preview_path(ws, rel, sha256, recipe, alpha)
    if path.is_file():
        return
    im = _to_srgb(_fit(pixels, PREVIEW_WIDTH))
    if alpha:
        write_atomic(path, ws.tmp, lambda tmp: im.save(tmp, format="WEBP", quality=PREVIEW_QUALITY, method=2))
    else:
        write_atomic(path, ws.tmp, lambda tmp: _flatten(im).save(tmp, format="JPEG", quality=PREVIEW_QUALITY, subsampling=0))


class Media:
    """Makes (or finds) the site's own pictures for one build; remembers which it used."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.dir = ws.out / "site" / "media"
        self.used: set[Path] = set()
        self.made = 0
        self._pixels: tuple[str, Image.Image | None] | None = None  # last row's decoded source

    # Keys and files -----------------------------------------------------------------------
    def _key(self, *parts: object) -> str:
        return media_key(*parts)

    def _cached(self, key: str, ext: str) -> tuple[Path, Shown | None]:
        path = self.dir / f"{key}.{ext}"
        if path.is_file():
            self.used.add(path)
            try:
                with Image.open(path) as im:
                    return path, Shown(self._rel(path), im.width, im.height)
            except OSError:
                path.unlink(missing_ok=True)
        return path, None

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.ws.out).as_posix()

    def _save(self, im: Image.Image, path: Path, fmt: str, **params) -> Shown:
        if fmt == "JPEG" and im.mode != "RGB":
            im = _flatten(im)
        if fmt == "JPEG":
            params.setdefault("subsampling", 0)  # 4:4:4: colour edges as sharp as the source
        write_atomic(path, self.ws.tmp, lambda tmp: im.save(tmp, format=fmt, **params))
        self.used.add(path)
        self.made += 1
        return Shown(self._rel(path), im.width, im.height)

    def _save_preview(self, im: Image.Image, path: Path, quality: int) -> Shown:
        """JPEG (fast) unless the file name asks for WebP, which keeps transparency."""
        if path.suffix == ".webp":
            return self._save(im, path, "WEBP", quality=quality, method=2)
        return self._save(im, path, "JPEG", quality=quality)

    # Source pixels ------------------------------------------------------------------------
    def pixels(self, row: Row, min_width: int = PREVIEW_WIDTH, aspects: list[str] | None = None) -> Image.Image | None:
        """The source upright and in sRGB, at least `min_width` wide where it has the pixels."""
        token = f"{row.input}\0{row.sha256}\0{min_width}\0{aspects}"
        if self._pixels and self._pixels[0] == token:
            return self._pixels[1]
        im = self._preview(row) if min_width <= PREVIEW_WIDTH and aspects is None else None
        if im is None:
            im = self._decode(row, min_width, aspects)
        self._pixels = (token, im)
        return im

    def _preview(self, row: Row) -> Image.Image | None:
        """The source preview the worker wrote (write_source_preview), when it is there."""
        path = source_preview_path(self.ws, row.input, row.sha256, row.recipe, bool(row.facts.get("has_alpha")))
        try:
            with Image.open(path) as im:
                im.load()
                return im.copy()
        except OSError:
            return None

    def _decode(self, row: Row, min_width: int, aspects: list[str] | None) -> Image.Image | None:
        if row.facts.get("vector") or row.facts.get("format") == "svg":
            # The raster renditions are the sanitised SVG drawn by rsvg: the largest stands in.
            raster = [r for r in renditions(row) if r.get("format") in ("png", "webp", "jpeg", "avif")
                      and r.get("aspect", "original") == "original"]
            if not raster:
                return None
            best = max(raster, key=lambda r: r.get("width", 0))
            try:
                with Image.open(self.ws.root / best["path"]) as im:
                    return im.convert("RGBA")
            except OSError:
                return None
        from stages.colour import colour
        from stages.decode import decode
        from stages.orient import orient

        profile = self.ws.profiles.get(row.profile)
        if profile is None:
            return None
        base = profile.options("image") or ImageOptions()
        opts = dataclasses.replace(base, widths=[min_width], formats=["jpeg"], colour="srgb", output_icc="",
                                   animated=False, aspects=aspects or base.aspects)
        job = Job(source=self.ws.root / row.input, rel=row.input, kind="image", profile=profile,
                  out_dir=self.ws.tmp, tmp_dir=self.ws.tmp, workspace=self.ws.root, limits=self.ws.config.limits)
        opened = None
        try:
            job = decode(job, opts)
            opened = job.pixels  # multi-frame files (GIF, TIFF) keep their file open: closed below
            job = orient(job, opts)
            # Shrink before the colour transform: a preview needs min_width pixels, not all of them.
            factor = min(job.pixels.width // min_width, job.pixels.height // max(1, round(min_width * 9 / 16)))
            if factor >= 2:
                job = dataclasses.replace(job, pixels=job.pixels.reduce(factor))
            job = colour(job, opts)
            return job.pixels.copy() if job.pixels is opened else job.pixels
        except (CrossmediaError, OSError, ValueError) as e:  # changed or gone since it was processed
            log.warning("preview of %s not made: %s", row.input, e)
            return None
        finally:
            if opened is not None:
                opened.close()

    # What the pages show ------------------------------------------------------------------
    def as_is(self, row: Row) -> bool:
        return shown_as_is(row.facts, row.size)

    def source_preview(self, row: Row) -> Shown | None:
        if self.as_is(row):
            ext = {"jpeg": "jpg"}.get(row.facts["format"], row.facts["format"])
            path, shown = self._cached(self._key("as-is", row.input, row.sha256), ext)
            if shown:
                return shown
            try:
                write_atomic(path, self.ws.tmp, lambda tmp: shutil.copyfile(self.ws.root / row.input, tmp))
            except OSError:
                return None
            self.used.add(path)
            self.made += 1
            return Shown(self._rel(path), int(row.facts["width"]), int(row.facts["height"]))
        alpha = bool(row.facts.get("has_alpha"))
        path, shown = self._cached(self._key("source", row.input, row.sha256, row.recipe), "webp" if alpha else "jpg")
        if shown:
            return shown
        im = self.pixels(row)
        if im is None:
            return None
        return self._save_preview(_fit(im, PREVIEW_WIDTH), path, quality=PREVIEW_QUALITY)

    def before(self, row: Row, rendition: dict, width: int) -> Shown | None:
        """The source cut like `rendition` and sized like it: the "before" of a comparison."""
        crop = rendition.get("crop") or [0, 0, 1, 1]
        whole = [float(v) for v in crop] == [0, 0, 1, 1]
        preview_width = min(PREVIEW_WIDTH, int(row.facts.get("display_width") or PREVIEW_WIDTH))
        if whole and (self.as_is(row) or width >= preview_width):
            return self.source_preview(row)  # the same pixels (or the browser scales the source down)
        alpha = bool(row.facts.get("has_alpha"))
        path, shown = self._cached(self._key("before", row.input, row.sha256, row.recipe, crop, width), "webp" if alpha else "jpg")
        if shown:
            return shown
        im = self.pixels(row)
        if im is None:
            return None
        x0, y0, x1, y1 = (float(v) for v in crop)
        box = (round(x0 * im.width), round(y0 * im.height), round(x1 * im.width), round(y1 * im.height))
        part = im.crop(box) if box != (0, 0, im.width, im.height) else im
        height = max(1, round(width * rendition.get("height", part.height) / max(1, rendition.get("width", part.width))))
        return self._save_preview(_resize(part, (width, height)), path, quality=PREVIEW_QUALITY)

    def thumbnail(self, out_path: str) -> Shown | None:
        """A card-sized copy (THUMB_WIDTH) of a picture under out/, when none is small enough."""
        file = self.ws.out / out_path
        try:
            st = file.stat()
            with Image.open(file) as im:
                alpha = "A" in im.getbands() or im.mode == "P"
                path, shown = self._cached(self._key("thumb", out_path, st.st_size, st.st_mtime_ns), "webp" if alpha else "jpg")
                if shown:
                    return shown
                im.draft("RGB", (THUMB_WIDTH, THUMB_WIDTH))
                small = _fit(im.convert("RGBA" if alpha else "RGB"), THUMB_WIDTH)
        except OSError:
            return None
        return self._save_preview(small, path, quality=82)

    def softproof(self, rendition_path: str) -> Shown | None:
        """A print rendition (CMYK TIFF/JPEG) converted to sRGB for the screen."""
        file = self.ws.root / rendition_path
        try:
            st = file.stat()
        except OSError:
            return None
        path, shown = self._cached(self._key("proof", rendition_path, st.st_size, st.st_mtime_ns), "jpg")
        if shown:
            return shown
        try:
            with Image.open(file) as im:
                im.draft("RGB" if im.mode != "CMYK" else "CMYK", (PREVIEW_WIDTH, PREVIEW_WIDTH))
                im.load()
                rgb = _to_srgb(im)
        except (OSError, ValueError, ImageCms.PyCMSError) as e:
            log.warning("soft proof of %s not made: %s", rendition_path, e)
            return None
        return self._save_preview(_fit(rgb, PREVIEW_WIDTH), path, quality=88)

    def share(self, row: Row, focus: tuple[float, float] | None) -> tuple[Shown | None, str | None]:
        """1200x630 JPEG cut around the focal point (the sidecar's, else saliency); and a
        warning when the source had to be enlarged."""
        from pipeline.media.crop import choose_focus, crop_box
        from pipeline.media.encode import encode
        from stages.colour import srgb_bytes

        path, shown = self._cached(self._key("share", row.input, row.sha256, row.recipe, focus), "jpg")
        im = None
        if shown is None:
            im = self.pixels(row, SHARE_SIZE[0], [SHARE_ASPECT])
            if im is None:
                return None, None
        width = row.facts.get("display_width") or (im.width if im else 0)
        crop_w = min(width, round((row.facts.get("display_height") or width) * SHARE_SIZE[0] / SHARE_SIZE[1]))
        warning = (f"share image enlarged: {row.input} gives only {crop_w} px of width at 1200x630; "
                   f"use a larger original") if crop_w and crop_w < SHARE_SIZE[0] and not row.facts.get("vector") else None
        if shown:
            return shown, warning
        profile = self.ws.profiles.get(row.profile)
        gravity = getattr(profile.options("image"), "gravity", "attention") if profile else "attention"
        aspect = SHARE_SIZE[0] / SHARE_SIZE[1]
        centre, _ = choose_focus(im, aspect, focus, gravity)
        cut = _resize(im.crop(crop_box(im.width, im.height, aspect, centre)), SHARE_SIZE)
        opts = ImageOptions(formats=["jpeg"], quality={"jpeg": 85}, progressive=True)
        encode(_flatten(cut), "jpeg", path, self.ws.tmp, opts, icc=srgb_bytes(), exif=None)
        self.used.add(path)
        self.made += 1
        return Shown(self._rel(path), *SHARE_SIZE), warning


def _fit(im: Image.Image, width: int) -> Image.Image:
    if im.width <= width:
        return im
    return _resize(im, (width, max(1, round(im.height * width / im.width))))


def _resize(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    # Imported here, as the other stages in this module are: importing one module of the stages
    # package loads them all (numpy, ffmpeg-python, libvips...), 23 MiB a no-op run never needs.
    from pipeline.media.resize import resize

    return resize(im, size)


def _flatten(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA", "PA", "P"):
        im = im.convert("RGBA")
        base = Image.new("RGB", im.size, "#ffffff")
        base.paste(im, mask=im.getchannel("A"))
        return base
    return im.convert("RGB")


def _to_srgb(im: Image.Image) -> Image.Image:
    icc = im.info.get("icc_profile")
    if im.mode == "CMYK" and icc:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.applyTransform(im, ImageCms.buildTransform(src, ImageCms.createProfile("sRGB"), "CMYK", "RGB"))
    return im.convert("RGBA" if "A" in im.getbands() else "RGB")
