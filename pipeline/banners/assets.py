"""The processed assets a banner names, found in the store and resized for each ad size.

A banner names an asset by its workspace input path (`inbox/web/hero.jpg`) or, when that is
unambiguous, by its file name (`hero.jpg`). Only processed images count: the banner uses their
renditions (oriented, sRGB, metadata stripped), never the delivered original. Backgrounds are
cropped around the sidecar's focal point (else an attention crop, `pipeline.media.crop`); products and
raster logos are shown whole; an SVG logo stays the sanitised SVG the image chain kept.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import Image

from pipeline.banners.spec import Banner, Violation
from pipeline.batch.store import Row
from pipeline.media.crop import choose_focus, crop_box
from pipeline.media.resize import resize

ROLES = ("background", "product", "logo")
_RASTER = {"png": 0, "webp": 1, "avif": 2, "gif": 3, "jpeg": 4}  # preference when widths tie


@dataclass(frozen=True)
class Asset:
    role: str
    name: str  # as the banner file writes it
    input: str  # workspace-relative input path
    fingerprint: str  # sha256 + recipe of the input: part of the banner's recipe
    source: Path  # the rendition read
    svg: bool
    width: int
    height: int
    focus: tuple[float, float] | None  # the sidecar's focal point, in the rendition's coordinates
    alpha: bool


def resolve_assets(root: Path, banner: Banner, rows: dict[str, Row]) -> tuple[dict[str, Asset], list[Violation]]:
    """Every asset the banner names, or violations naming the banner key and the asset."""
    assets, problems = {}, []
    for role in ROLES:
        name = getattr(banner.spec, role)
        if not name:
            continue
        row, problem = _find(name, role, rows)
        if problem:
            problems.append(problem)
            continue
        asset = _asset(root, role, name, row)
        if isinstance(asset, Violation):
            problems.append(asset)
        else:
            assets[role] = asset
    return assets, problems


def _find(name: str, role: str, rows: dict[str, Row]) -> tuple[Row | None, Violation | None]:
    wanted = PurePosixPath(name.strip().lstrip("./")).as_posix()
    row = rows.get(wanted)
    if row is None:
        same = [r for r in rows.values() if PurePosixPath(r.input).name == wanted]
        fine = [r for r in same if r.status == "processed" and r.media == "image"]
        if len({r.sha256 for r in fine}) > 1:
            paths = ", ".join(sorted(r.input for r in fine))
            return None, Violation(
                "BANNER_FILE_INVALID",
                f"{role} = {name!r} matches different inputs ({paths}).",
                f'name one by its path, e.g. {role} = "{min(r.input for r in fine)}".',
            )
        # The same bytes in several folders (web and social): the one with uncropped renditions.
        row = max(fine or same, key=lambda r: (_uncropped(r), r.input), default=None)
    if row is None:
        return None, Violation(
            "ASSET_MISSING",
            f"{role} = {name!r} is not an input of this workspace (no processed input has that path or file name).",
            f"drop {PurePosixPath(name).name} into a watched folder (e.g. inbox/web/) and run again, or name an "
            "input by its path.",
        )
    if row.status == "failed":
        return None, Violation(
            "ASSET_MISSING", f"{role} = {name!r} failed processing: {row.error}", f"fix {row.input} (see quarantine/)."
        )
    if row.media != "image" or row.status != "processed":
        return None, Violation(
            "ASSET_MISSING",
            f"{role} = {name!r} ({row.input}) is not a processed image ({row.media}, {row.status}).",
            "name an image that a profile with an [image] section processed.",
        )
    return row, None


def _uncropped(row: Row) -> int:
    return sum(1 for r in row.facts.get("renditions", []) if r.get("aspect") == "original")


def _asset(root: Path, role: str, name: str, row: Row) -> Asset | Violation:
    renditions = [r for r in row.facts.get("renditions", []) if (root / r["path"]).is_file()]
    fingerprint = f"{row.input}:{row.sha256}:{row.recipe}"
    svg = next((r for r in renditions if r.get("format") == "svg"), None)
    if role == "logo" and svg is not None:
        return Asset(
            role, name, row.input, fingerprint, root / svg["path"], True, svg["width"], svg["height"], None, True
        )
    raster = [r for r in renditions if r.get("format") in _RASTER]
    if not raster:
        return Violation(
            "ASSET_MISSING",
            f"{role} = {name!r} ({row.input}) has no screen rendition (png, webp, avif, gif or jpeg) in out/.",
            "process it with a profile for screens (e.g. drop it into inbox/web/), not only print.",
        )
    alpha = bool(row.facts.get("has_alpha"))
    best = max(raster, key=lambda r: (r.get("aspect") == "original", r["width"], -_RASTER[r["format"]] if alpha else 0))
    focus = None
    if row.facts.get("renditions") and best.get("focus_from") == "sidecar" and best.get("focus"):
        x0, y0, x1, y1 = best.get("crop") or (0.0, 0.0, 1.0, 1.0)
        fx, fy = best["focus"]
        focus = (min(1.0, max(0.0, (fx - x0) / (x1 - x0))), min(1.0, max(0.0, (fy - y0) / (y1 - y0))))
    return Asset(
        role,
        name,
        row.input,
        fingerprint,
        root / best["path"],
        False,
        best["width"],
        best["height"],
        focus,
        alpha and best["format"] != "jpeg",
    )


@dataclass
class Images:
    """Decodes each asset once per build and renders it for any box, scale and quality."""

    assets: dict[str, Asset]
    background: str = "#000000"
    _decoded: dict[str, Image.Image] = field(default_factory=dict)
    _cache: dict[tuple, tuple[str, bytes, int, int]] = field(default_factory=dict)

    def pixels(self, role: str) -> Image.Image:
        if role not in self._decoded:
            with Image.open(self.assets[role].source) as im:
                im.load()
                im = im.convert("RGBA") if im.mode in ("RGBA", "LA", "PA", "P") else im.convert("RGB")
            if role != "background" and im.mode == "RGBA":
                # Cut-outs often come with wide transparent margins: show the object, not the canvas.
                box = im.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
                if box and box != (0, 0, *im.size):
                    im = im.crop(box)
            self._decoded[role] = im
        return self._decoded[role]

    def dims(self, role: str) -> tuple[int, int]:
        """Width and height of what is shown (transparent margins trimmed; an SVG's own size)."""
        asset = self.assets[role]
        return (asset.width, asset.height) if asset.svg else self.pixels(role).size

    def render(self, role: str, box: tuple[int, int], scale: float, quality: int) -> tuple[str, bytes, int, int]:
        """(file name, bytes, pixel width, pixel height) of the asset for a CSS box of `box` px.

        `scale` 2 makes retina pixels where the source has them; never upscaled past the source
        except to fill the 1x box."""
        key = (role, box, scale, quality)
        if key in self._cache:
            return self._cache[key]
        asset = self.assets[role]
        if asset.svg:
            data = asset.source.read_bytes()
            self._cache[key] = ("logo.svg", data, asset.width, asset.height)
            return self._cache[key]
        im = self.pixels(role)
        bw, bh = box
        if role == "background":
            aspect = bw / bh
            focus, _ = choose_focus(im, aspect, asset.focus, "attention")
            im = im.crop(crop_box(im.width, im.height, aspect, focus))
        else:
            fit = min(bw / im.width, bh / im.height)
            bw, bh = max(1, round(im.width * fit)), max(1, round(im.height * fit))
        s = max(1.0, min(scale, im.width / bw))
        size = (max(1, round(bw * s)), max(1, round(bh * s)))
        if im.size != size:
            im = resize(im, size)
        self._cache[key] = (*_encode(role, im, quality, self.background), *size)
        return self._cache[key]


def _encode(role: str, im: Image.Image, quality: int, background: str) -> tuple[str, bytes]:
    buf = io.BytesIO()
    has_alpha = im.mode == "RGBA" and im.getchannel("A").getextrema()[0] < 255
    if has_alpha and role != "background":
        if quality <= 60:  # a 256-colour palette with alpha: a fraction of the weight, for tight budgets
            im = im.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
        im.save(buf, "PNG", optimize=True)
        return f"{role}.png", buf.getvalue()
    if im.mode == "RGBA":
        flat = Image.new("RGB", im.size, background)
        flat.paste(im, mask=im.getchannel("A"))
        im = flat
    im.save(buf, "JPEG", quality=quality, optimize=True)
    return f"{role}.jpg", buf.getvalue()
