"""What the preview site and pages show of each asset, read from the store (issue #6).

The worker made the pictures for people while the source was decoded (`stages.previews`: the
source preview, the "before" of each comparison, soft proofs of print renditions, the share
picture) and recorded them as renditions with a `role`; here they are only looked up. The one
picture made here is a card-sized thumbnail of a large rendition, kept in out/site/media/ under a
key of what it was made from; the builder removes files no page uses any more.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pipeline.atomic import write_image
from pipeline.batch.store import Row
from pipeline.config.workspace import Workspace
from pipeline.media.previews import PREVIEW_WIDTH, SHARE_SIZE, WEB_FORMATS, fit, flatten, whole

log = logging.getLogger("crossmedia")

VERSION = "3"  # bump when what is drawn here changes, so cached files are redone
THUMB_WIDTH = 480  # index cards are at most ~300 CSS px wide: sharp on 1.5x screens
__all__ = ["PREVIEW_WIDTH", "THUMB_WIDTH", "Media", "Shown", "displayable", "out_rel", "renditions"]


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


class Media:
    """Finds the pictures the workers made for an asset; makes thumbnails, and remembers which
    files of out/site/media/ this build used."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.dir = ws.out / "site" / "media"
        self.used: set[Path] = set()
        self.made = 0

    def _role(self, row: Row, role: str, aspect: str | None = None) -> Shown | None:
        for r in renditions(row):
            if (
                r.get("role") == role
                and (aspect is None or r.get("aspect") == aspect)
                and r.get("width")
                and (self.ws.root / r["path"]).is_file()
            ):
                return Shown(out_rel(self.ws, r["path"]), int(r["width"]), int(r["height"]))
        return None

    def source_preview(self, row: Row) -> Shown | None:
        """The source as the pipeline read it: upright, in sRGB, at most PREVIEW_WIDTH wide."""
        return self._role(row, "preview")

    def before(self, row: Row, rendition: dict) -> Shown | None:
        """The source cut like `rendition` and sized like it: the "before" of a comparison."""
        aspect = str(rendition.get("aspect") or "original")
        found = self._role(row, "before", aspect)
        if found is None and whole(rendition.get("crop")):
            return self.source_preview(row)  # the same pixels (or the browser scales the source down)
        return found

    def softproof(self, row: Row, rendition: dict) -> Shown | None:
        """A print rendition (CMYK TIFF/JPEG) converted to sRGB for the screen."""
        return self._role(row, "proof", str(rendition.get("aspect") or "original"))

    def share(self, row: Row) -> tuple[Shown | None, str | None]:
        """The 1200x630 picture cut around the focal point; and a warning when the source had to
        be enlarged for it."""
        width = int(row.facts.get("display_width") or 0)
        crop_w = min(width, round((row.facts.get("display_height") or width) * SHARE_SIZE[0] / SHARE_SIZE[1]))
        warning = (
            (f"share image enlarged: {row.input} gives only {crop_w} px of width at 1200x630; use a larger original")
            if crop_w and crop_w < SHARE_SIZE[0] and not row.facts.get("vector")
            else None
        )
        return self._role(row, "share"), warning

    def thumbnail(self, out_path: str) -> Shown | None:
        """A card-sized copy (THUMB_WIDTH) of a picture under out/, when none is small enough."""
        file = self.ws.out / out_path
        try:
            st = file.stat()
            with Image.open(file) as im:
                alpha = "A" in im.getbands() or im.mode == "P"
                path = (
                    self.dir
                    / f"{media_key('thumb', out_path, st.st_size, st.st_mtime_ns)}.{'webp' if alpha else 'jpg'}"
                )
                if path.is_file():
                    self.used.add(path)
                    return Shown(path.relative_to(self.ws.out).as_posix(), *_size_of(path))
                im.draft("RGB", (THUMB_WIDTH, THUMB_WIDTH))
                small = fit(im.convert("RGBA" if alpha else "RGB"), THUMB_WIDTH)
        except OSError:
            return None
        if alpha:
            write_image(path, self.ws.tmp, small, format="WEBP", quality=82, method=2)
        else:
            flat = flatten(small)
            write_image(path, self.ws.tmp, flat, format="JPEG", quality=82, subsampling=0)
        self.used.add(path)
        self.made += 1
        return Shown(path.relative_to(self.ws.out).as_posix(), small.width, small.height)


def _size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.width, im.height
