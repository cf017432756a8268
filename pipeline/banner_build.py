"""Build the workspace's banners in the publish step: every size, validated, then shipped whole.

For each `banners/<name>.toml` whose file or assets changed (issue #7):

1. validate the file and find its assets in the store (refused before anything is built);
2. per size: lay out, render images (2x where the budget allows, quality stepped down to fit),
   check the files the way ad servers do, fit the texts in Chromium, then load the final page
   and check requests, console, size, overflow, animation timing and the click; the last frame
   becomes the backup image;
3. zip each size into out/.tmp, read the zip back and check it again;
4. only when every size passed, rename the zips, backups, ad folders and the showcase into
   out/banners/. A refused banner ships nothing, and its earlier outputs are removed.

What was built from what is kept in `.crossmedia/banners.json`, so an unchanged banner is not
rebuilt; every run's report lists each banner file as an item (see `report_banners`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import shutil
import traceback
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from pipeline.atomic import write_bytes_atomic
from pipeline.banner import BACKUP_MAX_BYTES, KB, Banner, BannerRefused, Violation, load_banner
from pipeline.banner_assets import Asset, Images, resolve_assets
from pipeline.banner_check import check_files, check_weight, check_zip
from pipeline.banner_html import (
    FIT_SLACK,
    AdPage,
    Layout,
    Picture,
    Showcase,
    ShowcaseSize,
    animation_css,
    click_script,
    contain,
    head_script,
    layout,
    manifest,
    page_css,
    render_ad,
    render_showcase,
)
from pipeline.browser import Browser
from pipeline.errors import MissingTool
from pipeline.names import one_line
from pipeline.store import Store, now
from pipeline.workspace import Workspace

log = logging.getLogger("crossmedia")

BUILDER_VERSION = "1"  # bump when the output changes for the same banner file and assets
STATE = "banners.json"
# (image scale, JPEG quality) tried in order until the zip fits its budget: retina first.
LEVELS = [(2, 82), (2, 72), (2, 62), (1, 82), (1, 72), (1, 60), (1, 50), (1, 40)]
MAX_INITIAL_REQUESTS = 10  # IAB: host-initiated file requests during the initial load
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed, so the same banner gives the same zip bytes


def banner_files(ws: Workspace) -> list[Path]:
    folder = ws.root / "banners"
    return sorted(p for p in folder.glob("*.toml") if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []


# State ----------------------------------------------------------------------------------------
def _load_state(ws: Workspace) -> dict:
    try:
        return json.loads((ws.state / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_state(ws: Workspace, state: dict) -> None:
    ws.state.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(ws.state / STATE, ws.state, json.dumps(state, indent=1, sort_keys=True).encode())


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def banners_changed(ws: Workspace) -> bool:
    """Does a banner need building although no input changed? (a banner file added, edited or
    removed, an output deleted, or Chromium was missing last time)."""
    state = _load_state(ws)
    files = banner_files(ws)
    if {p.stem for p in files} != set(state):
        return True
    for path in files:
        entry = state[path.stem]
        st = path.stat()
        if entry.get("retry") or ((st.st_size, st.st_mtime_ns) != (entry.get("size"), entry.get("mtime_ns"))
                                  and _sha(path.read_bytes()) != entry.get("sha256")):
            return True
        if entry.get("status") == "processed" and not all((ws.root / o).is_file() for o in entry.get("outputs", [])):
            return True
    return False


# Banners built by the publish step of the run in progress, per workspace; report_banners, called
# by the engine right after that step, takes them (a timestamp cannot tell two quick runs apart).
_built_now: dict[Path, set[str]] = {}


def report_banners(ws: Workspace, report) -> None:
    """Every banner file is an item of the run's report (input banners/<name>.toml, profile and
    media "banner"): processed when built in this run, skipped when unchanged, failed while
    refused, so that a refused banner keeps the run's exit code at 1 until it is fixed."""
    built = _built_now.pop(ws.root, set())
    for name, entry in sorted(_load_state(ws).items()):
        status = entry["status"]
        if status == "processed" and name not in built:
            status = "skipped"
        item = {"input": entry["file"], "profile": "banner", "media": "banner", "status": status,
                "outputs": list(entry.get("outputs", [])), "warnings": list(entry.get("warnings", [])),
                "error": entry.get("error")}
        if status == "processed":
            item["facts"] = entry.get("facts", {})
        report.items.append(item)
        report.counts[status] += 1


# Build ----------------------------------------------------------------------------------------
class _LazyBrowser:
    """Chromium is started for the first banner that needs it, once per publish step."""

    def __init__(self):
        self.browser: Browser | None = None
        self.missing: MissingTool | None = None

    def get(self) -> Browser:
        if self.missing:
            raise self.missing
        if self.browser is None:
            try:
                self.browser = Browser().__enter__()
            except MissingTool as e:
                self.missing = e
                raise
        return self.browser

    def close(self) -> None:
        if self.browser is not None:
            self.browser.__exit__(None, None, None)


def build_banners(ws: Workspace, report: dict) -> list[str]:
    """Build what changed; record results in .crossmedia/banners.json; notes for the report."""
    notes: list[str] = []
    state = _load_state(ws)
    files = banner_files(ws)
    for gone in sorted(set(state) - {p.stem for p in files}):
        _remove(ws, state.pop(gone).get("outputs", []))
        notes.append(f"banner {gone} removed with its file: its zips and showcase are deleted")
    if not files:
        _save_state(ws, state)
        return notes
    store = Store(ws.state / "state.db")
    try:
        rows = store.items()
    finally:
        store.close()
    browser = _LazyBrowser()
    built = _built_now.setdefault(ws.root, set())
    try:
        for path in files:
            if _one(ws, path, rows, state, browser, report.get("started", now())):
                built.add(path.stem)
    finally:
        browser.close()
        _save_state(ws, state)
    return notes


def _one(ws: Workspace, path: Path, rows, state: dict, browser: _LazyBrowser, run: str) -> bool:
    """Build one banner file if it changed; True when it was built (and shipped)."""
    rel = ws.rel(path)
    try:
        raw = path.read_bytes()
        st = path.stat()
    except OSError as e:
        _remove(ws, state.get(path.stem, {}).get("outputs", []))
        state[path.stem] = {"file": rel, "status": "failed", "outputs": [], "warnings": [], "retry": True,
                            "error": f"BANNER_FILE_INVALID in {rel}: cannot read the file ({e.strerror})."}
        return False
    entry = state.get(path.stem, {})
    recipe = _recipe(raw, {})
    base = {"file": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha(raw), "run": run}
    try:
        banner = load_banner(path, rel)
        assets, problems = resolve_assets(ws.root, banner, rows)
        recipe = _recipe(raw, assets)
        if problems:
            raise BannerRefused(problems)
        if (entry.get("recipe") == recipe and not entry.get("retry")
                and (entry.get("status") == "failed" or all((ws.root / o).is_file() for o in entry.get("outputs", [])))):
            state[path.stem] = {**entry, **{k: base[k] for k in ("file", "size", "mtime_ns", "sha256")}}
            return False
        outputs, facts, warnings = _build(ws, banner, assets, browser, entry.get("outputs", []))
        state[path.stem] = {**base, "recipe": recipe, "status": "processed", "outputs": outputs, "facts": facts,
                            "warnings": warnings, "error": None}
        log.info("banner %s: built %s", rel, ", ".join(banner.sizes))
        return True
    except BannerRefused as e:
        _remove(ws, entry.get("outputs", []))
        error = e.message(rel)
        state[path.stem] = {**base, "recipe": recipe, "status": "failed", "outputs": [], "facts": {}, "warnings": [],
                            "error": error, "retry": e.retry}
        log.error("failed %s: %s", rel, error)
        return False
    except Exception as e:  # a bug of ours: this banner fails, the run and the other banners go on
        log.error("internal error on %s:\n%s", rel, traceback.format_exc())
        _remove(ws, entry.get("outputs", []))
        state[path.stem] = {**base, "recipe": recipe, "status": "failed", "outputs": [], "facts": {}, "warnings": [],
                            "error": f"internal error ({type(e).__name__}: {one_line(e, 160)}); traceback in .crossmedia/crossmedia.log",
                            "retry": True}
    return False


def _recipe(raw: bytes, assets: dict[str, Asset]) -> str:
    parts = [BUILDER_VERSION, _sha(raw), *sorted(f"{role}={a.fingerprint}" for role, a in assets.items())]
    return _sha("\n".join(parts).encode())[:16]


@dataclass
class Built:
    """One size, staged and validated."""

    size: str
    folder: Path  # staging/<name>/<size>/
    zip_path: Path
    backup_path: Path
    facts: dict
    warnings: list[str] = field(default_factory=list)


def _build(ws: Workspace, banner: Banner, assets: dict[str, Asset], browser: _LazyBrowser,
           old_outputs: list[str]) -> tuple[list[str], dict, list[str]]:
    staging = ws.tmp / f"banner-{uuid.uuid4().hex}"
    images = Images(assets, banner.spec.style.background)
    try:
        built, refused = [], []
        for size in banner.sizes:
            try:
                built.append(_build_size(staging, banner, images, size, browser))
            except BannerRefused as e:
                refused += e.violations
                if e.retry:
                    raise
        if refused:
            raise BannerRefused(refused)
        showcase = staging / banner.name / "index.html"
        showcase.write_text(render_showcase(_showcase(banner, built)), encoding="utf-8")
        return _place(ws, banner, staging, built, old_outputs), {b.size: b.facts for b in built}, [w for b in built for w in b.warnings]
    except MissingTool as e:
        raise BannerRefused([Violation("CHROMIUM_MISSING", str(e))], retry=True) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build_size(staging: Path, banner: Banner, images: Images, size: str, browser: _LazyBrowser) -> Built:
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
    scale = {"headline": fit["text"]["scale"], "subline": fit["text"]["scale"], "cta": fit.get("cta", {}).get("scale", 1)}
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
    if min(scale["headline"], scale["cta"]) < 0.85:  # a little shrinking is the fitting working; more is worth a look
        warnings.append(f"{size}: text shrunk to fit (headline {fonts['headline']:g} px instead of {lay.fonts['headline']:.4g} px)")
    if scale_used == 1 and any(not a.svg for a in assets.values()):
        warnings.append(f"{size}: 1x images only; retina (2x) images would exceed the {banner.budget_kb(size)} KB budget")
    facts = {"zip_bytes": zip_path.stat().st_size, "budget_bytes": banner.budget_kb(size) * KB, "image_scale": scale_used,
             "jpeg_quality": quality, "files": sorted(files), "fonts_px": fonts, "layout": lay.kind, **backup_facts}
    return Built(size, folder, zip_path, backup_path, facts, warnings)


def _overflow(banner: Banner, size: str, box_id: str, got: dict) -> Violation:
    what = {"text": "the headline and sub-line", "cta": "the call-to-action"}.get(box_id, box_id)
    (bw, bh), (cw, ch) = got["box"], got["content"]
    need = f"{cw}x{ch} px" if cw > bw * (1 - FIT_SLACK) else f"{ch} px of height"
    return Violation("TEXT_OVERFLOW", f"{what} need {need} in a {bw}x{bh} px box even at min_font_px = "
                     f"{banner.spec.min_font_px:g}.", "shorten the text, or lower min_font_px.", size)


def _fit_budget(banner: Banner, images: Images, lay: Layout, fonts: dict, size: str, start: int) -> tuple[int, dict[str, bytes]]:
    """The first quality level (from `start`) whose zip fits the budget, and its files."""
    files: dict[str, bytes] = {}
    for level in range(start, len(LEVELS)):
        files = _files(banner, images, lay, fonts, size, *LEVELS[level])
        if len(_zip(files)) <= banner.budget_kb(size) * KB:
            return level, files
    weight = len(_zip(files))
    violation = check_weight(weight, banner, size)[0]
    raise BannerRefused([Violation(violation.rule, violation.what.rstrip(".") + f", even with 1x images at JPEG quality {LEVELS[-1][1]}.",
                                   violation.fix, size)])


def _files(banner: Banner, images: Images, lay: Layout, fonts: dict, size: str, scale: int, quality: int) -> dict[str, bytes]:
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
    present = {"headline"} | {r for r in pictures} | ({"subline"} if subline else set()) | ({"cta"} if spec.cta else set())
    css = page_css(banner, w, h, lay, pictures, fonts) + "\n" + animation_css(
        banner.frames, banner.cycle, spec.loops, present, lay.kind == "tall")
    page = AdPage(
        lang=spec.language, title=spec.title or banner.name, width=w, height=h,
        label=" - ".join(t for t in (spec.headline, spec.subline, spec.cta) if t),
        css=_markup(css), head_script=head_script(banner), extra_html=_markup(spec.extra_html), click_script=click_script(banner),
        background=pictures["background"][0] if "background" in pictures else None, scrim="background" in pictures,
        product=pictures["product"][0] if "product" in pictures else None, logo=pictures["logo"][0] if "logo" in pictures else None,
        headline=spec.headline, headline_px=fonts["headline"], subline=subline, subline_px=fonts["subline"],
        cta=spec.cta, cta_px=fonts["cta"])
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
            out.append(Violation("EXTERNAL_FILE_REFERENCED", f"loading the page requested {url}.",
                                 "remove whatever loads it; the ad must be self-contained.", size))
    if load.before_dcl > MAX_INITIAL_REQUESTS:
        out.append(Violation("INITIAL_REQUESTS_TOO_MANY", f"{load.before_dcl} files are requested before DOMContentLoaded; "
                             f"the IAB allows {MAX_INITIAL_REQUESTS}.", "load fewer files up front.", size))
    for error in load.errors:  # named relative to the ad, not the staging folder
        error = error.replace(folder.resolve().as_uri() + "/", "")
        out.append(Violation("JAVASCRIPT_ERROR", f"the console reports: {error[:200]}.", "fix the script.", size))
    info = b.inspect()
    if [round(v) for v in info["ad"]] != [w, h] or info["scroll"][0] > w or info["scroll"][1] > h:
        out.append(Violation("AD_SIZE_MISMATCH", f"the ad measures {info['ad'][0]:g}x{info['ad'][1]:g} px and the page "
                             f"scrolls to {info['scroll'][0]}x{info['scroll'][1]} px at a {w}x{h} viewport.",
                             "keep everything inside the ad's box.", size))
    for box in info["overflow"]:
        out.append(Violation("TEXT_OVERFLOW", f"#{box['id']} needs {box['content'][0]}x{box['content'][1]} px in its "
                             f"{box['box'][0]}x{box['box'][1]} px box.", "shorten the text.", size))
    if any(a["iterations"] < 0 or a["end"] < 0 for a in info["anims"]):
        forever = next(a for a in info["anims"] if a["iterations"] < 0 or a["end"] < 0)
        out.append(Violation("ANIMATION_INFINITE", f"an animation of {forever['target'] or 'the page'} never ends.",
                             "give every animation an iteration count.", size))
    ends = [a["end"] for a in info["anims"] if a["end"] >= 0]
    if ends and max(ends) > banner.spec.max_duration * 1000 + 1:
        out.append(Violation("ANIMATION_TOO_LONG", f"the animations end after {max(ends) / 1000:g} s, over max_duration = "
                             f"{banner.spec.max_duration:g} s.", "shorten them.", size))
    opened = b.click()
    if not opened:
        out.append(Violation("CLICK_TAG_MISSING", "clicking the ad opens nothing.", "wire the click tag.", size))
    elif opened[0] != banner.spec.click_url:
        out.append(Violation("CLICK_TAG_INVALID", f"clicking the ad opens {opened[0]}, not {banner.spec.click_url}.",
                             "open the click tag.", size))
    kept = b.storage()
    if kept["storage"] or kept["cookie"]:
        out.append(Violation("LOCAL_STORAGE_USED", "the page stored data in the browser (storage or cookies).",
                             "remove it.", size))
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
    return None, Violation("BACKUP_TOO_LARGE", f"the last frame weighs {smallest / KB:.1f} KB even as JPEG quality 30; "
                           f"backup images may weigh {BACKUP_MAX_BYTES // KB} KB.", "make the end frame simpler (less photo).", size)


def _place(ws: Workspace, banner: Banner, staging: Path, built: list[Built], old_outputs: list[str]) -> list[str]:
    """Rename everything into out/banners/ (same file system: atomic per file); drop stale outputs."""
    out = ws.out / "banners"
    out.mkdir(parents=True, exist_ok=True)
    final_dir = out / banner.name
    if final_dir.exists():
        aside = ws.tmp / f"old-{uuid.uuid4().hex}"
        os.replace(final_dir, aside)
        shutil.rmtree(aside, ignore_errors=True)
    os.replace(staging / banner.name, final_dir)
    outputs = [ws.rel(p) for p in sorted(final_dir.rglob("*")) if p.is_file()]
    for b in built:
        for path in (b.zip_path, b.backup_path):
            os.replace(path, out / path.name)
            outputs.append(ws.rel(out / path.name))
    _remove(ws, [o for o in old_outputs if o not in set(outputs)])
    return outputs


def _remove(ws: Workspace, outputs: list[str]) -> None:
    for rel in outputs:
        path = ws.root / rel
        if path.is_relative_to(ws.out / "banners"):
            path.unlink(missing_ok=True)
    for folder in sorted({(ws.root / o).parent for o in outputs}, key=lambda p: -len(p.parts)):
        if folder.is_relative_to(ws.out / "banners") and folder != ws.out / "banners" and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _showcase(banner: Banner, built: list[Built]) -> Showcase:
    rows = []
    for b in built:
        w, h = (int(v) for v in b.size.split("x"))
        zb, budget = b.facts["zip_bytes"], b.facts["budget_bytes"]
        rows.append(ShowcaseSize(
            size=b.size, width=w, height=h, src=f"{b.size}/index.html", zip_href=f"../{b.zip_path.name}",
            zip_kb=f"{zb / KB:.1f} KB", budget_kb=f"{budget // KB} KB", backup_href=f"../{b.backup_path.name}",
            backup_kb=f"{b.facts['backup_bytes'] / KB:.1f} KB", share=f"{min(100, round(100 * zb / budget))}%",
            retina=f"{b.facts['image_scale']}x images"))
    loops = banner.spec.loops
    return Showcase(title=banner.spec.title or banner.name, name=banner.name, platform=banner.platform.name,
                    click_url=banner.spec.click_url,
                    duration=f"{banner.total:g} s" + (f" ({loops} plays of {banner.cycle:g} s)" if loops > 1 else ""),
                    sizes=rows)
