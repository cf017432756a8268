"""Template pages (issue #6): `pages/<name>.toml` in the workspace -> out/site/pages/<name>.html.

A page file is TOML, like profiles and sidecars, validated whole with the same schema helpers:

    template = "landing"                      # or "article", or a template of your own
    title = "Spring at the harbour"
    description = "Sailing gear and boat trips, all April."

    [[blocks]]
    heading = "Spring at the harbour"
    text = "Paragraphs are separated by a blank line.\\n\\nPlain text: markup shows as typed."
    asset = "inbox/web/harbour.jpg"           # a processed input (or its file name when unique)
    link = { text = "See the boats", href = "https://example.com/boats" }

Images become <picture> with AVIF/WebP sources and a JPEG/PNG fallback, srcset in w
descriptors, sizes from the layout, width/height; every image but the first is lazy, the first
gets fetchpriority="high". Alt text comes from the block, else the input's sidecar; none (and
not decorative) is a warning. A page naming an asset that is not processed fails with an error
naming the page and the asset, and nothing is written for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from jinja2 import TemplateError

from pipeline.batch.store import Row
from pipeline.config.settings import Site
from pipeline.config.sidecar import Sidecar
from pipeline.config.workspace import Workspace
from pipeline.names import one_line
from pipeline.site.facts import AUDIO_TYPES, VIDEO_TYPES, aspect_of, ext, outputs_of, role
from pipeline.site.media import Media, displayable, out_rel
from pipeline.site.page_files import PageBlock, PageError, PageFile, load_page, output_name
from pipeline.site.preview import Img
from pipeline.site.render import href

PICTURE_SOURCES = ["avif", "webp"]  # <source> elements, best first
FALLBACKS = ["jpeg", "png", "gif", "webp", "avif"]  # the <img>'s own format, first found
DEFAULT_SRC_WIDTH = 1280  # the <img src> for browsers without srcset: largest up to this

# Layout -> sizes attribute. Widths match page.css (.wrap 72rem, .column 42rem, 1.25rem gutters).
SIZES = {
    "hero": "100vw",
    "wide": "(min-width: 74.5rem) 72rem, calc(100vw - 2.5rem)",
    "column": "(min-width: 44.5rem) 42rem, calc(100vw - 2.5rem)",
    "split": "(min-width: 74.5rem) 35rem, (min-width: 48rem) calc(50vw - 2.5rem), calc(100vw - 2.5rem)",
    "gallery": "(min-width: 74.5rem) 23rem, (min-width: 48rem) calc(33vw - 2rem), calc(100vw - 2.5rem)",
}


# Contexts ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PictureSource:
    type: str
    srcset: str


@dataclass(frozen=True)
class PageMedia:
    """An image (<picture>), a video or an audio player on a page."""

    kind: str  # picture | svg | video | audio
    alt: str
    caption: str
    width: int = 0
    height: int = 0
    src: str = ""
    srcset: str = ""
    sizes: str = ""
    sources: list[PictureSource] = field(default_factory=list)
    priority: bool = False  # the first image: fetchpriority=high, never lazy
    poster: str = ""


@dataclass(frozen=True)
class CallToAction:
    text: str
    href: str
    external: bool


@dataclass(frozen=True)
class PageSection:
    index: int
    layout: str
    heading: str
    paragraphs: list[str]
    media: list[PageMedia]
    link: CallToAction | None


@dataclass(frozen=True)
class MetaTag:
    attr: str  # property | name
    key: str
    content: str


@dataclass(frozen=True)
class PageContext:
    template: str
    lang: str
    title: str
    description: str
    site_name: str
    css: str
    logo: Img | None
    meta: list[MetaTag]
    byline: str
    date: str
    sections: list[PageSection]


@dataclass
class PageResult:
    file: str  # workspace-relative page file
    title: str = ""
    outputs: list[str] = field(default_factory=list)  # workspace-relative
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


# Building ------------------------------------------------------------------------------------
class PageBuilder:
    def __init__(self, ws: Workspace, rows: dict[str, Row], media: Media, env, css_path: str, logo):
        self.ws, self.rows, self.media, self.env = ws, rows, media, env
        self.css_path = css_path
        self.logo = logo  # out-relative Shown of the logo, or None
        self.site: Site = ws.config.site

    def find(self, name: str, shown: str) -> Row:
        """The processed input a page names, or PageError naming page and asset."""
        row = self.rows.get(name)
        if row is None and "/" not in name:
            hits = [r for r in self.rows.values() if PurePosixPath(r.input).name == name]
            if len(hits) > 1:
                raise PageError(
                    f"{shown}: asset {name!r} is ambiguous: "
                    + ", ".join(sorted(h.input for h in hits))
                    + "; give the path"
                )
            row = hits[0] if hits else None
        if row is None:
            raise PageError(
                f"{shown}: asset {name!r} is not a processed input; drop it into a watched folder "
                f'and run again, or correct the path (e.g. "inbox/web/{PurePosixPath(name).name}")'
            )
        if row.status == "failed":
            raise PageError(f"{shown}: asset {row.input!r} failed: {row.error}")
        if row.status != "processed":
            raise PageError(f"{shown}: asset {row.input!r} was not processed ({'; '.join(row.warnings) or row.status})")
        return row

    def sidecar(self, row: Row) -> Sidecar:
        """What the input's sidecar said, as the worker stored it (the file is not read again)."""
        said = row.facts.get("sidecar") if isinstance(row.facts, dict) else None
        if not isinstance(said, dict):
            return Sidecar()
        focus = said.get("focus")
        return Sidecar(
            alt=said.get("alt"),
            title=said.get("title"),
            credit=said.get("credit"),
            decorative=bool(said.get("decorative")),
            focus=tuple(focus) if focus else None,
        )

    def build(self, path: Path) -> tuple[PageResult, str | None]:
        """(result, html) for one page file; html is None when it failed."""
        shown = self.ws.rel(path)
        result = PageResult(shown)
        try:
            page, blocks = load_page(path, shown)
            result.title = page.title
            ctx, outputs = self.context(path, shown, page, blocks, result.warnings)
            html = self.env.get_template(f"{page.template}.html").render(page=ctx)
        except PageError as e:
            result.error = one_line(str(e))
            return result, None
        except TemplateError as e:  # a workspace template that does not parse or render
            result.error = one_line(
                f"{shown}: template {getattr(e, 'name', None) or page.template + '.html'} failed: {e}"
            )
            return result, None
        result.outputs = [f"out/{output_name(path)}", *outputs]
        return result, html

    def context(
        self, path: Path, shown: str, page: PageFile, blocks: list[PageBlock], warnings: list[str]
    ) -> tuple[PageContext, list[str]]:
        out_page = output_name(path)
        if not (self.ws.root / "site_templates" / f"{page.template}.html").is_file() and page.template not in (
            "landing",
            "article",
        ):
            raise PageError(
                f'{shown}: template {page.template!r} not found; use "landing", "article" or add '
                f"site_templates/{page.template}.html to the workspace"
            )
        sections, first_image, count = [], None, 0
        for i, block in enumerate(blocks):
            layout = self._layout(page.template, i, block)
            items = []
            for name in ([block.asset] if block.asset else []) + list(block.assets):
                row = self.find(name, shown)
                item = self._media(out_page, shown, row, block, layout, priority=count == 0, warnings=warnings)
                if item.kind in ("picture", "svg"):
                    count += 1
                    first_image = first_image or row
                items.append(item)
            link = None
            if block.link is not None and block.link.href:
                external = bool(re.match(r"^(https?:|mailto:|tel:)", block.link.href))
                link = CallToAction(block.link.text or block.link.href, block.link.href, external)
            paragraphs = [re.sub(r"\s*\n\s*", " ", p).strip() for p in re.split(r"\n\s*\n", block.text) if p.strip()]
            sections.append(PageSection(i, layout, block.heading, paragraphs, items, link))
        share_row = self.find(page.share_image, shown) if page.share_image else first_image
        meta, outputs = self._meta(out_page, page, share_row, warnings)
        logo = (
            Img(href(out_page, self.logo.path), self.logo.width, self.logo.height, self.ws.config.name or "logo")
            if self.logo
            else None
        )
        ctx = PageContext(
            template=page.template,
            lang=page.lang,
            title=page.title,
            description=page.description,
            site_name=self.ws.config.name,
            css=href(out_page, self.css_path),
            logo=logo,
            meta=meta,
            byline=page.byline,
            date=page.date,
            sections=sections,
        )
        return ctx, outputs

    @staticmethod
    def _layout(template: str, i: int, block: PageBlock) -> str:
        if block.layout != "auto":
            return block.layout
        if block.assets:
            return "gallery"
        if template == "landing":
            if i == 0:
                return "hero"
            return "split" if block.text and block.asset else "wide"
        return "wide" if i == 0 else "column"

    def _media(
        self, page: str, shown: str, row: Row, block: PageBlock, layout: str, priority: bool, warnings: list[str]
    ) -> PageMedia:
        sidecar = self.sidecar(row)
        caption = block.caption or " — ".join(t for t in (sidecar.title, sidecar.credit) if t)
        if row.media in ("audio", "video"):
            return self._player(page, shown, row, caption, sidecar, block.aspect)
        decorative = block.decorative or (block.alt is None and sidecar.decorative)
        alt = "" if decorative else (block.alt if block.alt is not None else sidecar.alt) or ""
        if not alt and not decorative:
            warnings.append(
                f'{shown}: image {row.input} has no alt text: add alt = "..." to the block or to '
                f"{PurePosixPath(row.input).name}.toml (or decorative = true)"
            )
        outs = [r for r in outputs_of(row) if displayable(row, r) and r.get("width")]
        svg = next((r for r in outs if r["format"] == "svg"), None)
        if svg is not None:
            return PageMedia(
                "svg",
                alt,
                caption,
                int(svg["width"]),
                int(svg["height"]),
                src=href(page, out_rel(self.ws, svg["path"])),
                priority=priority,
            )
        chosen = _crop(shown, row, outs, block.aspect)
        by_format: dict[str, list[dict]] = {}
        for r in sorted(chosen, key=lambda r: r["width"]):
            by_format.setdefault(r["format"], []).append(r)
        fallback = next(f for f in FALLBACKS if f in by_format)

        def srcset(group: list[dict]) -> str:
            return ", ".join(f"{href(page, out_rel(self.ws, r['path']))} {r['width']}w" for r in group)

        group = by_format[fallback]
        default = max((r for r in group if r["width"] <= DEFAULT_SRC_WIDTH), key=lambda r: r["width"], default=group[0])
        sources = [
            PictureSource(f"image/{fmt}", srcset(by_format[fmt]))
            for fmt in PICTURE_SOURCES
            if fmt in by_format and fmt != fallback
        ]
        return PageMedia(
            "picture",
            alt,
            caption,
            int(default["width"]),
            int(default["height"]),
            src=href(page, out_rel(self.ws, default["path"])),
            srcset=srcset(group),
            sizes=SIZES.get(layout, SIZES["wide"]),
            sources=sources,
            priority=priority,
        )

    def _player(self, page: str, shown: str, row: Row, caption: str, sidecar: Sidecar, asked: str | None) -> PageMedia:
        """A video block plays one crop (the block's `aspect`, else the original, else the
        first made), in every format made of it, with that crop's poster; audio, every format."""
        outs = outputs_of(row)
        types = VIDEO_TYPES if row.media == "video" else AUDIO_TYPES
        playable = [r for r in outs if not role(r, row.media) and ext(r["path"]) in types]
        if not playable:
            raise PageError(f"{shown}: asset {row.input!r} has no {row.media} output a browser can play")
        poster = None
        if row.media == "video":
            playable = _crop(shown, row, playable, asked)
            posters = [r for r in outs if role(r, row.media) == "poster"]
            poster = next(
                (r for r in posters if aspect_of(r) == aspect_of(playable[0])), posters[0] if posters else None
            )
        width = next(
            (int(r["width"]) for r in playable if r.get("width")), int(poster.get("width") or 0) if poster else 0
        )
        height = next(
            (int(r["height"]) for r in playable if r.get("height")), int(poster.get("height") or 0) if poster else 0
        )
        sources = [PictureSource(types[ext(r["path"])], href(page, out_rel(self.ws, r["path"]))) for r in playable]
        return PageMedia(
            row.media,
            sidecar.alt or sidecar.title or PurePosixPath(row.input).name,
            caption,
            width or 640,
            height or 360,
            sources=sources,
            poster=href(page, out_rel(self.ws, poster["path"])) if poster else "",
        )

    def _meta(
        self, page: str, ctx: PageFile, share_row: Row | None, warnings: list[str]
    ) -> tuple[list[MetaTag], list[str]]:
        base = self.site.base_url
        kind = "article" if ctx.template == "article" else "website"
        tags = [MetaTag("property", "og:type", kind), MetaTag("property", "og:title", ctx.title)]
        if ctx.description:
            tags.append(MetaTag("property", "og:description", ctx.description))
        if self.ws.config.name:
            tags.append(MetaTag("property", "og:site_name", self.ws.config.name))
        if base:
            tags.append(MetaTag("property", "og:url", base + page))
        outputs: list[str] = []
        card = "summary"
        if share_row is not None and share_row.media == "image":
            sidecar = self.sidecar(share_row)
            shown, warning = self.media.share(share_row)
            if warning:
                warnings.append(warning)
            if shown is not None:
                url = base + shown.path if base else href(page, shown.path)
                alt = sidecar.alt or ctx.title
                tags += [
                    MetaTag("property", "og:image", url),
                    MetaTag("property", "og:image:width", str(shown.width)),
                    MetaTag("property", "og:image:height", str(shown.height)),
                    MetaTag("property", "og:image:alt", alt),
                    MetaTag("name", "twitter:image", url),
                    MetaTag("name", "twitter:image:alt", alt),
                ]
                outputs.append(f"out/{shown.path}")
                card = "summary_large_image"
        tags += [MetaTag("name", "twitter:card", card), MetaTag("name", "twitter:title", ctx.title)]
        if ctx.description:
            tags.append(MetaTag("name", "twitter:description", ctx.description))
        return tags, outputs


def _crop(shown: str, row: Row, outs: list[dict], asked: str | None) -> list[dict]:
    """The renditions of the crop a block shows: the one it asks for, else the original, else
    the first made; PageError naming page, asset and the crops there are."""
    made = sorted({aspect_of(r) for r in outs})
    aspect = asked or ("original" if "original" in made else (made[0] if made else ""))
    chosen = [r for r in outs if aspect_of(r) == aspect]
    if not chosen:
        why = (
            f"has no {aspect} crop (made: {', '.join(made)})"
            if made
            else "has no renditions a browser can show (print profiles make CMYK files); use the input from a web "
            "profile"
        )
        raise PageError(f"{shown}: asset {row.input!r} {why}")
    return chosen
