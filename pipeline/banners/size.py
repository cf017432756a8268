"""One banner at one size: layout, files, the ad-server checks, the browser's, the backup, the zip.

Called by `pipeline.banners.build` for every size of a banner, inside a staging folder in
out/.tmp; raises BannerRefused with every violation found, so nothing of a refused size ships.
"""

from __future__ import annotations

import io
import math
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from pipeline.banners.assets import Images
from pipeline.banners.browser import Browser, LazyBrowser
from pipeline.banners.check import check_files, check_weight, check_zip
from pipeline.banners.html import (
    FIT_SLACK,
    AdPage,
    Layout,
    Picture,
    animation_css,
    click_script,
    contain,
    head_script,
    layout,
    manifest,
    page_css,
    render_ad,
)
from pipeline.banners.spec import BACKUP_MAX_BYTES, KB, Banner, BannerRefused, Violation

# (image scale, JPEG quality) tried in order until the zip fits its budget: retina first.
LEVELS = [(2, 82), (2, 72), (2, 62), (1, 82), (1, 72), (1, 60), (1, 50), (1, 40)]
MAX_INITIAL_REQUESTS = 10  # IAB: host-initiated file requests during the initial load
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed, so the same banner gives the same zip bytes
_LEFT_OUT_NAMES = {"subline": "the sub-line", "product": "the product image"}  # in the order a warning names them


@dataclass
class Built:
    """One size, staged and validated."""

    size: str
    folder: Path  # staging/<name>/<size>/
    zip_path: Path
    backup_path: Path
    facts: dict
    warnings: list[str] = field(default_factory=list)


def build_size(staging: Path, banner: Banner, images: Images, size: str, browser: LazyBrowser) -> Built:
    """Build and check one size in staging/<name>/<size>/ (+ zip and backup beside it)."""
    w, h = (int(v) for v in size.split("x"))
    assets = images.assets
    has = {role for role in ("logo", "product") if role in assets} | ({"cta"} if banner.spec.cta else set())
    aspect = {role: images.dims(role)[0] / images.dims(role)[1] for role in has & set(assets)}
    lay = layout(w, h, has, aspect.get("logo", 3.0), aspect.get("product", 1.0))
    fonts = dict(lay.fonts)
    folder = staging / banner.name / size
    level, files = _fit_budget(banner, images, lay, fonts, size, 0)
    if violations := check_files(files, banner, size):
        raise BannerRefused(violations)
    _write(folder, files)
    b = browser.get()
    b.open(folder / "index.html", w, h)
    fit = b.fit(FIT_SLACK, banner.spec.min_font_px)
    overflow = [_overflow(banner, size, box_id, got) for box_id, got in fit.items() if not got["fits"]]
    if overflow:
        raise BannerRefused(overflow)
    scale = {
        "headline": fit["text"]["scale"],
        "subline": fit["text"]["scale"],
        "cta": fit.get("cta", {}).get("scale", 1),
    }
    low = banner.spec.min_font_px
    fonts = {k: max(min(low, v), math.floor(v * scale[k] * 4) / 4) for k, v in lay.fonts.items()}
    level, files = _fit_budget(banner, images, lay, fonts, size, level)
    shutil.rmtree(folder)
    _write(folder, files)
    violations = _in_browser(b, banner, folder, size, w, h)
    shot = b.screenshot(w, h)
    backup, backup_facts = _backup(shot, w, h, size)
    if backup is None:
        violations.append(backup_facts)
    if violations:
        raise BannerRefused(violations)
    zip_path = staging / banner.zip_name(size)
    zip_path.write_bytes(_zip(files))
    if violations := check_zip(zip_path, banner, size):
        raise BannerRefused(violations)
    backup_path = staging / f"{banner.name}-{size}-backup.{backup_facts['backup_format']}"
    backup_path.write_bytes(backup)
    scale_used, quality = LEVELS[level]
    warnings = []
    left_out = dict(lay.left_out)
    if not banner.spec.subline:
        left_out.pop("subline", None)
    if left_out:  # say what the file asked for and this size does not show (#12)
        names = [_LEFT_OUT_NAMES[role] for role in _LEFT_OUT_NAMES if role in left_out]
        warnings.append(
            f"{size}: {' and '.join(names)} left out, too little room: "
            + "; ".join(left_out[role] for role in _LEFT_OUT_NAMES if role in left_out)
        )
    if min(scale["headline"], scale["cta"]) < 0.85:  # a little shrinking is the fitting working; more is worth a look
        warnings.append(
            f"{size}: text shrunk to fit (headline {fonts['headline']:g} px instead of {lay.fonts['headline']:.4g} px)"
        )
    if scale_used == 1 and any(not a.svg for a in assets.values()):
        warnings.append(
            f"{size}: 1x images only; retina (2x) images would exceed the {banner.budget_kb(size)} KB budget"
        )
    facts = {
        "zip_bytes": zip_path.stat().st_size,
        "budget_bytes": banner.budget_kb(size) * KB,
        "image_scale": scale_used,
        "jpeg_quality": quality,
        "files": sorted(files),
        "fonts_px": fonts,
        "layout": lay.kind,
        **backup_facts,
    }
    return Built(size, folder, zip_path, backup_path, facts, warnings)


def _overflow(banner: Banner, size: str, box_id: str, got: dict) -> Violation:
    what = {"text": "the headline and sub-line", "cta": "the call-to-action"}.get(box_id, box_id)
    (bw, bh), (cw, ch) = got["box"], got["content"]
    need = f"{cw}x{ch} px" if cw > bw * (1 - FIT_SLACK) else f"{ch} px of height"
    return Violation(
        "TEXT_OVERFLOW",
        f"{what} need {need} in a {bw}x{bh} px box even at min_font_px = {banner.spec.min_font_px:g}.",
        "shorten the text, or lower min_font_px.",
        size,
    )


def _fit_budget(
    banner: Banner, images: Images, lay: Layout, fonts: dict, size: str, start: int
) -> tuple[int, dict[str, bytes]]:
    """The first quality level (from `start`) whose zip fits the budget, and its files."""
    files: dict[str, bytes] = {}
    for level in range(start, len(LEVELS)):
        files = _files(banner, images, lay, fonts, size, *LEVELS[level])
        if len(_zip(files)) <= banner.budget_kb(size) * KB:
            return level, files
    weight = len(_zip(files))
    violation = check_weight(weight, banner, size)[0]
    raise BannerRefused(
        [
            Violation(
                violation.rule,
                violation.what.rstrip(".") + f", even with 1x images at JPEG quality {LEVELS[-1][1]}.",
                violation.fix,
                size,
            )
        ]
    )


def _files(
    banner: Banner, images: Images, lay: Layout, fonts: dict, size: str, scale: int, quality: int
) -> dict[str, bytes]:
    w, h = (int(v) for v in size.split("x"))
    files: dict[str, bytes] = {}
    pictures: dict[str, tuple[Picture, object]] = {}
    for role in ("background", "product", "logo"):
        if role not in images.assets or (role != "background" and role not in lay.boxes):
            continue  # e.g. no room for a product in a 320x50 strip
        box = (w, h) if role == "background" else (lay.boxes[role].w, lay.boxes[role].h)
        name, data, _, _ = images.render(role, box, scale, quality)
        css_size = box if role == "background" else contain(box, *images.dims(role))
        files[name] = data
        pictures[role] = (Picture(name, *css_size), box)
    spec = banner.spec
    subline = spec.subline if lay.subline else ""
    present = (
        {"headline"} | {r for r in pictures} | ({"subline"} if subline else set()) | ({"cta"} if spec.cta else set())
    )
    css = (
        page_css(banner, w, h, lay, pictures, fonts)
        + "\n"
        + animation_css(banner.frames, banner.cycle, spec.loops, present, lay.kind == "tall")
    )
    page = AdPage(
        lang=spec.language,
        title=spec.title or banner.name,
        width=w,
        height=h,
        label=" - ".join(t for t in (spec.headline, spec.subline, spec.cta) if t),
        css=_markup(css),
        head_script=head_script(banner),
        extra_html=_markup(spec.extra_html),
        click_script=click_script(banner),
        background=pictures["background"][0] if "background" in pictures else None,
        scrim="background" in pictures,
        product=pictures["product"][0] if "product" in pictures else None,
        logo=pictures["logo"][0] if "logo" in pictures else None,
        headline=spec.headline,
        headline_px=fonts["headline"],
        subline=subline,
        subline_px=fonts["subline"],
        cta=spec.cta,
        cta_px=fonts["cta"],
    )
    files["index.html"] = render_ad(page).encode("utf-8")
    if man := manifest(banner, size):
        files[man[0]] = man[1]
    return files


def _markup(text: str):
    from markupsafe import Markup

    # Trusted: CSS built from validated values; extra_html is the workspace owner's own HTML,
    # which the checks then judge like any other content of the ad.
    return Markup(text)


def _write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(files, key=lambda n: (n != "index.html", n)):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[name], compresslevel=9)
    return buf.getvalue()


def _in_browser(b: Browser, banner: Banner, folder: Path, size: str, w: int, h: int) -> list[Violation]:
    """Load the final page and check what only a browser shows."""
    out = []
    load = b.open(folder / "index.html", w, h)
    loader = banner.platform.loader
    for url in load.requests:
        if not url.startswith("file:") and not (loader and url.split("?")[0] == loader):
            out.append(
                Violation(
                    "EXTERNAL_FILE_REFERENCED",
                    f"loading the page requested {url}.",
                    "remove whatever loads it; the ad must be self-contained.",
                    size,
                )
            )
    if load.before_dcl > MAX_INITIAL_REQUESTS:
        out.append(
            Violation(
                "INITIAL_REQUESTS_TOO_MANY",
                f"{load.before_dcl} files are requested before DOMContentLoaded; "
                f"the IAB allows {MAX_INITIAL_REQUESTS}.",
                "load fewer files up front.",
                size,
            )
        )
    for error in load.errors:  # named relative to the ad, not the staging folder
        error = error.replace(folder.resolve().as_uri() + "/", "")
        out.append(Violation("JAVASCRIPT_ERROR", f"the console reports: {error[:200]}.", "fix the script.", size))
    info = b.inspect()
    if [round(v) for v in info["ad"]] != [w, h] or info["scroll"][0] > w or info["scroll"][1] > h:
        out.append(
            Violation(
                "AD_SIZE_MISMATCH",
                f"the ad measures {info['ad'][0]:g}x{info['ad'][1]:g} px and the page "
                f"scrolls to {info['scroll'][0]}x{info['scroll'][1]} px at a {w}x{h} viewport.",
                "keep everything inside the ad's box.",
                size,
            )
        )
    for box in info["overflow"]:
        out.append(
            Violation(
                "TEXT_OVERFLOW",
                f"#{box['id']} needs {box['content'][0]}x{box['content'][1]} px in its "
                f"{box['box'][0]}x{box['box'][1]} px box.",
                "shorten the text.",
                size,
            )
        )
    if any(a["iterations"] < 0 or a["end"] < 0 for a in info["anims"]):
        forever = next(a for a in info["anims"] if a["iterations"] < 0 or a["end"] < 0)
        out.append(
            Violation(
                "ANIMATION_INFINITE",
                f"an animation of {forever['target'] or 'the page'} never ends.",
                "give every animation an iteration count.",
                size,
            )
        )
    ends = [a["end"] for a in info["anims"] if a["end"] >= 0]
    if ends and max(ends) > banner.spec.max_duration * 1000 + 1:
        out.append(
            Violation(
                "ANIMATION_TOO_LONG",
                f"the animations end after {max(ends) / 1000:g} s, over max_duration = {banner.spec.max_duration:g} s.",
                "shorten them.",
                size,
            )
        )
    opened = b.click()
    if not opened:
        out.append(Violation("CLICK_TAG_MISSING", "clicking the ad opens nothing.", "wire the click tag.", size))
    elif opened[0] != banner.spec.click_url:
        out.append(
            Violation(
                "CLICK_TAG_INVALID",
                f"clicking the ad opens {opened[0]}, not {banner.spec.click_url}.",
                "open the click tag.",
                size,
            )
        )
    kept = b.storage()
    if kept["storage"] or kept["cookie"]:
        out.append(
            Violation(
                "LOCAL_STORAGE_USED", "the page stored data in the browser (storage or cookies).", "remove it.", size
            )
        )
    return out


def _backup(png: bytes, w: int, h: int, size: str) -> tuple[bytes | None, dict | Violation]:
    """The last frame as JPEG (quality stepped down), else PNG or GIF, within 40 KB."""
    im = Image.open(io.BytesIO(png)).convert("RGB")
    if im.size != (w, h):  # the viewport is set to WxH; anything else is a bug of ours
        raise ValueError(f"screenshot is {im.size}, expected {(w, h)}")
    smallest = None
    for quality in range(85, 29, -5):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality, optimize=True)
        if buf.tell() <= BACKUP_MAX_BYTES:
            return buf.getvalue(), {"backup_format": "jpg", "backup_quality": quality, "backup_bytes": buf.tell()}
        smallest = buf.tell()
    for fmt, colours in (("png", 256), ("gif", 64)):
        buf = io.BytesIO()
        im.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(buf, fmt.upper(), optimize=True)
        if buf.tell() <= BACKUP_MAX_BYTES:
            return buf.getvalue(), {"backup_format": fmt, "backup_quality": colours, "backup_bytes": buf.tell()}
    return None, Violation(
        "BACKUP_TOO_LARGE",
        f"the last frame weighs {smallest / KB:.1f} KB even as JPEG quality 30; "
        f"backup images may weigh {BACKUP_MAX_BYTES // KB} KB.",
        "make the end frame simpler (less photo).",
        size,
    )
