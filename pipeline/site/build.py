"""Build out/site/ in the publish step (issue #6): the preview site, then the pages, then sweep.

`build_site(ws, report, inputs_changed)` is called by `pipeline.commands.publish` after every run. It
builds when an input was processed or removed, or when `site_changed(ws)`: a page file,
template, the config, the store (a failure recorded), a banner showcase or the builder itself
changed, or out/site/ is gone. Everything under out/site/ is made here and nothing else: files
this build did not write are removed at the end, so a deleted page or input leaves nothing
behind. What was built is kept in `.crossmedia/site.json` (the fingerprint; each page's result).

Every page file is an item of each run's report (input `pages/<name>.toml`, profile and media
"page"): processed when its HTML changed since the last report, skipped when not, failed while
it names a missing asset or does not validate, so a broken page keeps the run's exit code at 1
until it is fixed. `build(ws)` builds unconditionally (tests, tools).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateError
from markupsafe import Markup

from pipeline.batch.store import Row, Store, now, read_generation
from pipeline.config.workspace import Workspace
from pipeline.review.decisions import generation as review_generation
from pipeline.review.decisions import review_of
from pipeline.site.facts import outputs_of
from pipeline.site.media import Media, Shown, displayable, out_rel
from pipeline.site.page_files import output_name, page_files
from pipeline.site.pages import PageBuilder, PageResult
from pipeline.site.preview import Chrome, Img, Link, PreviewSite, asset_page_path
from pipeline.site.render import Writer, environment, href
from pipeline.site.review import Versions
from pipeline.templates import BUILTIN_TEMPLATES

log = logging.getLogger("crossmedia")

VERSION = "1"  # bump when the builder's output changes for the same inputs
STATE = "site.json"
SITE_CSS, PAGE_CSS, SITE_JS = "site/static/site.css", "site/static/page.css", "site/static/site.js"


@dataclass(frozen=True)
class Style:
    """House style for the CSS templates; validated by [site] in crossmedia.toml, so it is
    marked safe here (autoescaping would break quotes in font names)."""

    accent: Markup
    text: Markup
    background: Markup
    surface: Markup
    heading_font: Markup
    body_font: Markup


# State ---------------------------------------------------------------------------------------
def _rows(ws: Workspace) -> tuple[dict[str, Row], str]:
    """Every row, and the store's generation they are (read first: never newer than the rows)."""
    store = Store(ws.state / "state.db")
    try:
        generation = store.generation()
        return store.items(), generation
    finally:
        store.close()


def fingerprint(ws: Workspace, generation: str | None = None) -> str:
    """Changes when anything the site is built from changes. The store counts for its generation,
    not row by row: a run that changed nothing does no work per input here (#12)."""
    h = hashlib.sha256(VERSION.encode())
    h.update((read_generation(ws.state / "state.db") if generation is None else generation).encode())
    h.update(review_generation(ws.state / "state.db").encode())  # a review decision changes pages (#14)
    here = Path(__file__).resolve().parent  # the builder itself: an upgrade rebuilds the site
    files = [ws.root / "crossmedia.toml", *page_files(ws), *sorted(here.glob("*.py"))]
    for folder in (ws.root / "site_templates", BUILTIN_TEMPLATES):
        if folder.is_dir():
            files += sorted(p for p in folder.rglob("*") if p.is_file())
    files += sorted((ws.out / "banners").glob("*/index.html"))  # the index links the showcases
    for p in files:
        try:
            st = p.stat()
        except OSError:
            continue
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def site_changed(ws: Workspace) -> bool:
    """Does out/site/ need building although no input was processed in this run?"""
    state = ws.load_state(STATE)
    if not (ws.out / "site" / "index.html").is_file() or state.get("fingerprint") != fingerprint(ws):
        return True
    return any(
        not (ws.root / o).is_file() for entry in state.get("pages", {}).values() for o in entry.get("outputs", [])
    )


def report_pages(ws: Workspace, report) -> None:
    """Every page file is an item of the run's report (see the module docstring). A page built
    since the last report is "processed" once: this report takes the mark away."""
    state = ws.load_state(STATE)
    fresh = False
    for _, entry in sorted(state.get("pages", {}).items()):
        status = entry["status"]
        if status == "processed" and not entry.pop("fresh", False):
            status = "skipped"
        fresh = fresh or status == "processed"
        report.items.append(
            {
                "input": entry["file"],
                "profile": "page",
                "media": "page",
                "status": status,
                "outputs": list(entry.get("outputs", [])),
                "warnings": list(entry.get("warnings", [])),
                "error": entry.get("error"),
            }
        )
        report.counts[status] += 1
    if fresh:
        ws.save_state(STATE, state)


# Build ---------------------------------------------------------------------------------------
def build_site(ws: Workspace, report, inputs_changed: bool, reviews: dict | None = None) -> set[Path] | None:
    """The publish step's hook: build if anything changed, add notes and page items to the
    run's report (a `pipeline.batch.engine.RunReport`). Returns the files this build wrote (for the
    check), or None when nothing needed building."""
    written = None
    if inputs_changed or site_changed(ws):
        written = set()
        report.notes.extend(build(ws, report.started, written, report_link=True, reviews=reviews))
    report_pages(ws, report)
    return written


def build(
    ws: Workspace,
    started: str | None = None,
    written: set[Path] | None = None,
    report_link: bool = False,
    reviews: dict | None = None,
) -> list[str]:
    """Build out/site/ from the store now; return notes for the report. `written` collects
    the files whose bytes changed. `report_link`: the publish step writes report.html next.
    `reviews`: the review states the publish step read (read here when None)."""
    started = started or now()
    rows, generation = _rows(ws)
    built_from = fingerprint(ws, generation)
    notes: list[str] = []
    env = environment(ws)
    media = Media(ws)
    writer = Writer(ws)
    site = ws.config.site
    style = Style(
        *(Markup(getattr(site, k)) for k in ("accent", "text", "background", "surface", "heading_font", "body_font"))
    )
    for rel, name in ((SITE_CSS, "site.css"), (PAGE_CSS, "page.css"), (SITE_JS, "site.js")):
        writer.write(rel, env.get_template(name).render(style=style))
    logo = _logo(ws, rows, notes)
    name = ws.config.name or ws.root.name

    def chrome_for(page: str) -> Chrome:
        # Only the index says when it was built: an asset page changes when its asset does.
        return Chrome(
            site_name=name,
            css=href(page, SITE_CSS),
            js=href(page, SITE_JS),
            home=href(page, "site/index.html"),
            logo=Img(href(page, logo.path), logo.width, logo.height, name) if logo else None,
            built=started if page == "site/index.html" else "",
        )

    # Pages first: the index lists them.
    old = ws.load_state(STATE).get("pages", {})
    builder = PageBuilder(ws, rows, media, env, PAGE_CSS, logo)
    results: list[PageResult] = []
    page_links: list[Link] = []
    entries: dict[str, dict] = {}
    for path in page_files(ws):
        result, html = builder.build(path)
        results.append(result)
        entry = {"file": result.file, "outputs": result.outputs, "warnings": result.warnings, "error": result.error}
        if html is None:
            entry.update(status="failed", outputs=[])
            page_links.append(Link(result.file, "", f"failed: {result.error}"))
        else:
            changed = writer.write(output_name(path), html)
            prev = old.get(result.file, {})
            fresh = (
                changed
                or prev.get("fresh")
                or prev.get("status") != "processed"
                or prev.get("outputs") != result.outputs
            )
            entry.update(status="processed", fresh=bool(fresh))
            warned = f", {len(result.warnings)} warning(s): " + "; ".join(result.warnings) if result.warnings else ""
            page_links.append(Link(result.title, href("site/index.html", output_name(path)), f"{result.file}{warned}"))
        entries[result.file] = entry

    versions = Versions(ws)
    preview = PreviewSite(ws, rows, media, chrome_for, review_of(ws) if reviews is None else reviews, versions)
    try:
        asset_tpl = env.get_template("asset.html")
        for row in preview.rows:
            writer.write(asset_page_path(row), asset_tpl.render(page=preview.asset(row)))
        writer.write(
            "site/index.html",
            env.get_template("index.html").render(page=preview.index(page_links, _banners(ws), report_link)),
        )
    except TemplateError as e:  # a workspace template of the preview site that does not render
        notes.append(f"preview site not built: template {getattr(e, 'name', '') or ''} failed: {e}")
        writer.written |= {p for p in (ws.out / "site").rglob("*.html")} if (ws.out / "site").is_dir() else set()
    versions.save()
    _sweep(ws, writer.written | media.used | versions.used)
    if written is not None:
        written |= writer.changed
    ws.save_state(STATE, {"fingerprint": built_from, "built": started, "pages": entries, "media_made": media.made})
    log.info("site built: %d assets, %d pages, %d pictures made", len(rows), len(results), media.made)
    return notes


def _logo(ws: Workspace, rows: dict[str, Row], notes: list[str]) -> Shown | None:
    want = ws.config.site.logo
    if not want:
        return None
    row = rows.get(want)
    if row is None or row.status != "processed":
        notes.append(f'[site] logo = "{want}" is not a processed input; the pages show the name instead')
        return None
    outs = [r for r in outputs_of(row) if displayable(row, r) and r.get("width")]
    svg = next((r for r in outs if r.get("format") == "svg"), None)
    pick = (
        svg
        or min((r for r in outs if r["width"] >= 320), key=lambda r: r["width"], default=None)
        or (max(outs, key=lambda r: r["width"]) if outs else None)
    )
    if pick is None:
        notes.append(f'[site] logo = "{want}" has no rendition a browser can show')
        return None
    return Shown(out_rel(ws, pick["path"]), int(pick["width"]), int(pick["height"]))


def _banners(ws: Workspace) -> list[Link]:
    folder = ws.out / "banners"
    if not folder.is_dir():
        return []
    return [
        Link(p.parent.name, href("site/index.html", p.relative_to(ws.out).as_posix()))
        for p in sorted(folder.glob("*/index.html"))
    ]


def _sweep(ws: Workspace, keep: set[Path]) -> None:
    """Remove what an earlier build made and this one did not (deleted pages and inputs)."""
    root = ws.out / "site"
    if not root.is_dir():
        return
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for f in filenames:
            p = Path(dirpath) / f
            if p not in keep:
                p.unlink(missing_ok=True)
        if Path(dirpath) != root and not os.listdir(dirpath):
            os.rmdir(dirpath)
