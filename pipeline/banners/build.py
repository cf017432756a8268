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
rebuilt; every run's report lists each banner file as an item (see `_report`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import traceback
import uuid
from pathlib import Path

from pipeline.banners.assets import Asset, Images, resolve_assets
from pipeline.banners.browser import LazyBrowser
from pipeline.banners.html import (
    Showcase,
    ShowcaseSize,
    render_showcase,
)
from pipeline.banners.size import Built, build_size
from pipeline.banners.spec import (
    KB,
    STATE,
    Banner,
    BannerRefused,
    Violation,
    banner_files,
    load_banner,
)
from pipeline.batch.store import Store
from pipeline.config.workspace import Workspace
from pipeline.errors import MissingTool
from pipeline.names import one_line

log = logging.getLogger("crossmedia")

BUILDER_VERSION = "1"  # bump when the output changes for the same banner file and assets


# State ----------------------------------------------------------------------------------------
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _report(ws: Workspace, state: dict, built: set[str], report) -> None:
    """Every banner file is an item of the run's report (input banners/<name>.toml, profile and
    media "banner"): processed when built in this run, skipped when unchanged, failed while
    refused, so that a refused banner keeps the run's exit code at 1 until it is fixed."""
    for name, entry in sorted(state.items()):
        status = entry["status"]
        if status == "processed" and name not in built:
            status = "skipped"
        item = {
            "input": entry["file"],
            "profile": "banner",
            "media": "banner",
            "status": status,
            "outputs": list(entry.get("outputs", [])),
            "warnings": list(entry.get("warnings", [])),
            "error": entry.get("error"),
        }
        if status == "processed":
            item["facts"] = entry.get("facts", {})
        report.items.append(item)
        report.counts[status] += 1


# Build ----------------------------------------------------------------------------------------
def build_banners(ws: Workspace, report) -> None:
    """Build what changed (a banner file, its assets, a missing output, a refusal to retry);
    record results in .crossmedia/banners.json; add every banner to the run's report."""
    state = ws.load_state(STATE)
    files = banner_files(ws)
    for gone in sorted(set(state) - {p.stem for p in files}):
        _remove(ws, state.pop(gone).get("outputs", []))
        report.notes.append(f"banner {gone} removed with its file: its zips and showcase are deleted")
    if not files:
        if state or (ws.state / STATE).exists():
            ws.save_state(STATE, state)
        return
    store = Store(ws.state / "state.db")
    try:
        rows = store.items()
    finally:
        store.close()
    browser = LazyBrowser()
    built: set[str] = set()
    try:
        for path in files:
            if _one(ws, path, rows, state, browser, report.started):
                built.add(path.stem)
    finally:
        browser.close()
        ws.save_state(STATE, state)
    _report(ws, state, built, report)


def _one(ws: Workspace, path: Path, rows, state: dict, browser: LazyBrowser, run: str) -> bool:
    """Build one banner file if it changed; True when it was built (and shipped)."""
    rel = ws.rel(path)
    try:
        raw = path.read_bytes()
        st = path.stat()
    except OSError as e:
        _remove(ws, state.get(path.stem, {}).get("outputs", []))
        state[path.stem] = {
            "file": rel,
            "status": "failed",
            "outputs": [],
            "warnings": [],
            "retry": True,
            "error": f"BANNER_FILE_INVALID in {rel}: cannot read the file ({e.strerror}).",
        }
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
        if (
            entry.get("recipe") == recipe
            and not entry.get("retry")
            and (entry.get("status") == "failed" or all((ws.root / o).is_file() for o in entry.get("outputs", [])))
        ):
            state[path.stem] = {**entry, **{k: base[k] for k in ("file", "size", "mtime_ns", "sha256")}}
            return False
        outputs, facts, warnings = _build(ws, banner, assets, browser, entry.get("outputs", []))
        state[path.stem] = {
            **base,
            "recipe": recipe,
            "status": "processed",
            "outputs": outputs,
            "facts": facts,
            "warnings": warnings,
            "error": None,
        }
        log.info("banner %s: built %s", rel, ", ".join(banner.sizes))
        return True
    except BannerRefused as e:
        _remove(ws, entry.get("outputs", []))
        error = e.message(rel)
        state[path.stem] = {
            **base,
            "recipe": recipe,
            "status": "failed",
            "outputs": [],
            "facts": {},
            "warnings": [],
            "error": error,
            "retry": e.retry,
        }
        log.error("failed %s: %s", rel, error)
        return False
    except Exception as e:  # a bug of ours: this banner fails, the run and the other banners go on
        log.error("internal error on %s:\n%s", rel, traceback.format_exc())
        _remove(ws, entry.get("outputs", []))
        state[path.stem] = {
            **base,
            "recipe": recipe,
            "status": "failed",
            "outputs": [],
            "facts": {},
            "warnings": [],
            "error": f"internal error ({type(e).__name__}: {one_line(e, 160)}); traceback in "
            ".crossmedia/crossmedia.log",
            "retry": True,
        }
    return False


def _recipe(raw: bytes, assets: dict[str, Asset]) -> str:
    parts = [BUILDER_VERSION, _sha(raw), *sorted(f"{role}={a.fingerprint}" for role, a in assets.items())]
    return _sha("\n".join(parts).encode())[:16]


def _build(
    ws: Workspace, banner: Banner, assets: dict[str, Asset], browser: LazyBrowser, old_outputs: list[str]
) -> tuple[list[str], dict, list[str]]:
    staging = ws.tmp / f"banner-{uuid.uuid4().hex}"
    images = Images(assets, banner.spec.style.background)
    try:
        built, refused = [], []
        for size in banner.sizes:
            try:
                built.append(build_size(staging, banner, images, size, browser))
            except BannerRefused as e:
                refused += e.violations
                if e.retry:
                    raise
        if refused:
            raise BannerRefused(refused)
        showcase = staging / banner.name / "index.html"
        showcase.write_text(render_showcase(_showcase(banner, built)), encoding="utf-8")
        return (
            _place(ws, banner, staging, built, old_outputs),
            {b.size: b.facts for b in built},
            [w for b in built for w in b.warnings],
        )
    except MissingTool as e:
        raise BannerRefused([Violation("CHROMIUM_MISSING", str(e))], retry=True) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
        if (
            folder.is_relative_to(ws.out / "banners")
            and folder != ws.out / "banners"
            and folder.is_dir()
            and not any(folder.iterdir())
        ):
            folder.rmdir()


def _showcase(banner: Banner, built: list[Built]) -> Showcase:
    rows = []
    for b in built:
        w, h = (int(v) for v in b.size.split("x"))
        zb, budget = b.facts["zip_bytes"], b.facts["budget_bytes"]
        rows.append(
            ShowcaseSize(
                size=b.size,
                width=w,
                height=h,
                src=f"{b.size}/index.html",
                zip_href=f"../{b.zip_path.name}",
                zip_kb=f"{zb / KB:.1f} KB",
                budget_kb=f"{budget // KB} KB",
                backup_href=f"../{b.backup_path.name}",
                backup_kb=f"{b.facts['backup_bytes'] / KB:.1f} KB",
                share=f"{min(100, round(100 * zb / budget))}%",
                retina=f"{b.facts['image_scale']}x images",
            )
        )
    loops = banner.spec.loops
    return Showcase(
        title=banner.spec.title or banner.name,
        name=banner.name,
        platform=banner.platform.name,
        click_url=banner.spec.click_url,
        duration=f"{banner.total:g} s" + (f" ({loops} plays of {banner.cycle:g} s)" if loops > 1 else ""),
        sizes=rows,
    )
