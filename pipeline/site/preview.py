"""The designers' preview site, out/site/ (issue #6): an index of every asset and a page per asset.

Built from the store after a run. Each page gets a context dataclass made here; the templates
(`index.html`, `asset.html` in site_templates/) only loop and print. Pictures the site makes
itself (source previews, "before" images, soft proofs) come from `pipeline.site.media`.

    out/site/index.html            every input: thumbnail, profile, media, status, warnings
    out/site/asset/<name>.html     one input: the picture with its crops or the player first, warnings,
                                   a summary with units, sidecar text, the zip, review, comparisons,
                                   renditions; every raw fact under "Details" (#14)
    out/site/zip/<name>-<key>.zip  the input's renditions in one download (pipeline.site.bundle)
    out/site/media/<key>.webp      source previews, "before" images, soft proofs (cached)
    out/site/static/               site.css, site.js

Audio and video (facts written by their stages): outputs whose `facts["renditions"]` entry has
`role = "waveform"` or `role = "poster"` are shown with the player and as the thumbnail; other
outputs with an audio/video extension become the player's sources (docs/site.md, "What the
preview site reads").
"""

from __future__ import annotations

import hashlib
import math
import posixpath
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath

from markupsafe import Markup

from pipeline.batch.quarantine import quarantine_name
from pipeline.batch.store import Row
from pipeline.config.workspace import Workspace
from pipeline.media.previews import FORMAT_ORDER, PREVIEW_ROLES, compared
from pipeline.names import safe_name
from pipeline.review.decisions import PENDING, STATES, Review
from pipeline.site.bundle import Bundle, Bundles
from pipeline.site.facts import (
    AUDIO_TYPES,
    IMAGE_EXTS,
    VIDEO_TYPES,
    Fact,
    aspect_of,
    audio_spans,
    clock,
    details,
    ext,
    outputs_of,
    role,
    summary,
)
from pipeline.site.media import THUMB_WIDTH, Media, Shown, displayable, out_rel
from pipeline.site.render import href, nice_bytes
from pipeline.site.review import STATE_LABEL, ReviewView, Versions, attention, review_view


# Contexts ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Img:
    src: str
    width: int
    height: int
    alt: str = ""


@dataclass(frozen=True)
class Chrome:
    """What every preview page shares: title, links to the stylesheet, script and index."""

    site_name: str
    css: str
    js: str
    home: str
    logo: Img | None
    built: str


@dataclass(frozen=True)
class Card:
    """One input in the index."""

    name: str
    input: str
    profile: str
    media: str
    status: str
    href: str
    thumb: Img | None
    warnings: int
    error: str | None
    search: str  # lower-case text the search box matches
    review: str = "pending"  # pending | approved | changes | rejected (issue #14)
    review_label: str = "pending review"
    first_warning: str = ""
    attention: int = 3  # sort key: needs attention first


@dataclass(frozen=True)
class Count:
    label: str
    value: int
    kind: str  # css class: total, processed, warnings, failed, skipped


@dataclass(frozen=True)
class Link:
    label: str
    href: str
    note: str = ""


@dataclass(frozen=True)
class IndexPage:
    chrome: Chrome
    title: str
    counts: list[Count]
    profiles: list[str]
    media: list[str]
    cards: list[Card]
    failed: list[Card]
    pages: list[Link]
    banners: list[Link]
    review_states: list[str] = ()  # for the review filter
    report_link: bool = False  # the publish step writes report.html beside the index (#15)


@dataclass(frozen=True)
class RenditionRow:
    name: str
    href: str
    format: str
    size: str
    aspect: str
    bytes: str
    saving: str
    smaller: bool
    role: str


@dataclass(frozen=True)
class CropBox:
    label: str
    box: Markup  # style="left:..%;top:..%;width:..%;height:..%" made here
    focus: Markup | None  # style="left:..%;top:..%"
    focus_from: str
    colour: int  # 0..3, a css class


@dataclass(frozen=True)
class Comparison:
    label: str
    before: Img
    after: Img
    after_name: str
    after_href: str


@dataclass(frozen=True)
class Source:
    src: str
    type: str


@dataclass(frozen=True)
class Player:
    kind: str  # audio | video
    sources: list[Source]
    poster: Img | None
    waveform: Img | None
    width: int
    height: int
    label: str = ""  # which crop, for a video: "9:16, 608x1080"
    loop: bool = False  # the muted loop for autoplay and banners


@dataclass(frozen=True)
class Frame:
    """A video's crops drawn on the whole frame at the poster's time (#14): the poster of the
    "original" aspect, or the `frame` picture the poster stage makes when a profile has crops only."""

    poster: Img
    crops: list[CropBox]


@dataclass(frozen=True)
class Span:
    """A stretch of the audio's timeline: left and width in % of the source's duration."""

    kind: str  # kept | cut | silence (a css class)
    style: Markup
    label: str  # "cut 0:05.2 to 0:05.5"


@dataclass(frozen=True)
class Timeline:
    """The waveform (of the kept part, as the outputs sound) placed on the source's duration,
    with what the trim cut and where the silences are."""

    waveform: Img | None
    shape: Markup  # style="aspect-ratio:W/H" of the waveform picture
    kept: Markup  # where the waveform goes
    spans: list[Span]
    duration: str
    legend: list[tuple[str, str]]  # (kind, what it means) of the kinds shown


@dataclass(frozen=True)
class Download:
    href: str
    name: str
    label: str  # "Download all (6 files, 1.2 MB)"


@dataclass(frozen=True)
class AssetPage:
    chrome: Chrome
    card: Card
    title: str
    warnings: list[str]
    facts: list[Fact]  # every raw fact, folded under "Details"
    source: Img | None
    source_note: str
    crops: list[CropBox]
    comparisons: list[Comparison]
    players: list[Player]
    renditions: list[RenditionRow]
    quarantine: str | None  # where the error and a copy are (text: quarantine/ is outside out/)
    review: ReviewView | None = None
    sidecar: list[Fact] = ()  # alt, title, credit from the input's sidecar (#14)
    summary: list[Fact] = ()  # a few lines in plain words, with units (#14)
    frame: Frame | None = None  # video: the crops on the poster
    timeline: Timeline | None = None  # audio: the waveform with trim and silences
    download: Download | None = None  # the zip of the renditions


# Paths ---------------------------------------------------------------------------------------
def asset_slug(row: Row) -> str:
    """An input's name on the site, for its page and its zip: flat, safe, unique per (profile, input)."""
    digest = hashlib.sha1(f"{row.profile}\0{row.input}".encode()).hexdigest()[:8]
    return f"{safe_name(PurePosixPath(row.input).name, 60)}-{digest}"


def asset_page_path(row: Row) -> str:
    """out-relative path of an input's page."""
    return f"site/asset/{asset_slug(row)}.html"


# Building ------------------------------------------------------------------------------------
class PreviewSite:
    def __init__(
        self,
        ws: Workspace,
        rows: dict[str, Row],
        media: Media,
        chrome_for,
        reviews: dict[str, Review] | None = None,
        versions: Versions | None = None,
    ):
        self.ws = ws
        self.reviews = reviews or {}
        self.versions = versions
        self.rows = sorted(rows.values(), key=lambda r: (r.profile, r.input))
        self.media = media
        self.chrome_for = chrome_for  # page path -> Chrome
        self.bundles = Bundles(ws, media.used)  # the sweep keeps what media.used holds

    def _img(self, page: str, shown: Shown | None, alt: str = "") -> Img | None:
        return Img(href(page, shown.path), shown.width, shown.height, alt) if shown else None

    def thumb(self, page: str, row: Row) -> Img | None:
        outs = outputs_of(row)
        alt = f"{PurePosixPath(row.input).name}"
        if row.media in ("audio", "video"):
            for want in ("poster", "waveform"):
                hit = next((r for r in outs if role(r, row.media) == want), None)
                if hit:
                    return Img(
                        href(page, out_rel(self.ws, hit["path"])),
                        int(hit.get("width") or 320),
                        int(hit.get("height") or 180),
                        alt,
                    )
            return None
        if row.status != "processed" or row.media != "image":
            return None
        shown = [r for r in outs if displayable(row, r) and r.get("width")]
        svg = next((r for r in shown if r.get("format") == "svg"), None)
        if svg:
            return Img(href(page, out_rel(self.ws, svg["path"])), int(svg["width"]), int(svg["height"]), alt)
        # The uncropped rendition, else the crop closest to the card's 4:3.
        original = [r for r in shown if r.get("aspect", "original") == "original"] or sorted(
            shown, key=lambda r: abs(r["width"] / max(1, r["height"]) - 4 / 3)
        )[:1]
        if original:
            original = [r for r in shown if r.get("aspect") == original[0].get("aspect")]
            order = sorted(
                original,
                key=lambda r: (
                    r["width"] < 300,
                    r["width"],
                    FORMAT_ORDER.index(r["format"]) if r["format"] in FORMAT_ORDER else 9,
                ),
            )
            best = order[0]
            if best["width"] <= 2 * THUMB_WIDTH:
                return Img(href(page, out_rel(self.ws, best["path"])), int(best["width"]), int(best["height"]), alt)
            return self._img(page, self.media.thumbnail(out_rel(self.ws, best["path"])), alt)
        preview = self.media.source_preview(row)  # print: CMYK renditions; the source stands in
        return self._img(page, self.media.thumbnail(preview.path) if preview else None, alt)

    def card(self, page: str, row: Row, with_thumb: bool = True) -> Card:
        name = PurePosixPath(row.input).name
        state = self.reviews.get(row.input, PENDING).state
        thumb = self.thumb(page, row) if with_thumb else None
        if thumb is not None and self.versions is not None:  # kept, to show beside a later version
            self.versions.keep(row, _out_path(page, thumb.src), thumb.width, thumb.height)
        return Card(
            name=name,
            input=row.input,
            profile=row.profile,
            media=row.media,
            status=row.status,
            href=href(page, asset_page_path(row)),
            thumb=thumb,
            warnings=len(row.warnings),
            error=row.error,
            search=f"{row.input} {row.profile} {row.media}".lower(),
            review=state,
            review_label=STATE_LABEL[state],
            first_warning=row.warnings[0] if row.warnings else "",
            attention=attention(row.status, len(row.warnings), state),
        )

    def index(self, pages: list[Link], banners: list[Link], report_link: bool = False) -> IndexPage:
        page = "site/index.html"
        # Needs attention first: failed, changes requested or rejected, warnings, pending, approved (#14)
        cards = sorted((self.card(page, r) for r in self.rows), key=lambda c: (c.attention, c.profile, c.input))
        status = Counter(r.status for r in self.rows)
        counts = [
            Count("assets", len(cards), "total"),
            Count("processed", status["processed"], "processed"),
            Count("with warnings", sum(1 for c in cards if c.warnings), "warnings"),
            Count("failed", status["failed"], "failed"),
            Count("skipped", status["skipped"], "skipped"),
        ]
        return IndexPage(
            chrome=self.chrome_for(page),
            title=self.ws.config.name or self.ws.root.name,
            counts=counts,
            profiles=sorted({r.profile for r in self.rows}),
            media=sorted({r.media for r in self.rows}),
            cards=cards,
            failed=[c for c in cards if c.status == "failed"],
            pages=pages,
            banners=banners,
            review_states=list(STATES),
            report_link=report_link,
        )

    def asset(self, row: Row) -> AssetPage:
        page = asset_page_path(row)
        card = self.card(page, row, with_thumb=False)  # the page shows the source itself
        outs = outputs_of(row)
        source, note, crops, comparisons = None, "", [], []
        if row.media == "image" and row.status == "processed":
            vector = bool(row.facts.get("vector"))
            svg = next((r for r in outs if r.get("format") == "svg"), None)
            if vector and svg:
                source = Img(
                    href(page, out_rel(self.ws, svg["path"])),
                    int(svg.get("width") or 0),
                    int(svg.get("height") or 0),
                    "the sanitised SVG source",
                )
                note = "Vector source: shown as the sanitised SVG; raster renditions are drawn from it."
            else:
                source = self._img(page, self.media.source_preview(row), "the source, upright and in sRGB")
                note = "The source as the pipeline read it: upright, converted to sRGB, scaled to fit."
            crops = self._crops(outs)
            if not vector:
                comparisons = self._comparisons(page, row, outs)
        delivered = [r for r in outs if r.get("role") not in PREVIEW_ROLES]
        video = row.media == "video" and row.status == "processed"
        return AssetPage(
            chrome=self.chrome_for(page),
            card=card,
            title=card.name,
            warnings=list(row.warnings),
            facts=details(row),
            source=source,
            source_note=note,
            crops=crops,
            comparisons=comparisons,
            players=self._players(page, row, outs),
            renditions=[self._rendition(page, row, r) for r in delivered],
            quarantine=_quarantine(row),
            review=self._review(page, row),
            sidecar=_sidecar(row),
            summary=summary(row),
            frame=self._frame(page, row, outs) if video else None,
            timeline=self._timeline(page, row, outs) if row.media == "audio" and row.status == "processed" else None,
            download=self._download(page, row, delivered) if row.status == "processed" else None,
        )

    def _download(self, page: str, row: Row, delivered: list[dict]) -> Download | None:
        bundle: Bundle | None = self.bundles.zip(row, asset_slug(row), [r["path"] for r in delivered])
        if bundle is None:
            return None
        files = f"{bundle.files} file{'s' if bundle.files != 1 else ''}"
        return Download(href(page, bundle.path), bundle.name, f"Download all ({files}, {nice_bytes(bundle.bytes)})")

    def _frame(self, page: str, row: Row, outs: list[dict]) -> Frame | None:
        """The video's crops on its poster: see `Frame`."""
        crops = self._crops([r for r in outs if not role(r, "video")])
        pictures = ("poster", "frame")
        posters = [r for r in outs if role(r, "video") in pictures and r.get("width") and ext(r["path"]) in IMAGE_EXTS]
        if not crops or not posters:
            return None
        posters.sort(key=lambda r: FORMAT_ORDER.index(r["format"]) if r.get("format") in FORMAT_ORDER else 9)
        whole = next((r for r in posters if aspect_of(r) == "original"), None)
        if whole is None:
            return None  # made before the poster stage wrote a whole frame for crop-only profiles
        return Frame(self._poster(page, whole, "the poster frame, whole"), crops)

    def _poster(self, page: str, r: dict, alt: str) -> Img:
        return Img(href(page, out_rel(self.ws, r["path"])), int(r["width"]), int(r["height"]), alt)

    def _timeline(self, page: str, row: Row, outs: list[dict]) -> Timeline | None:
        f = row.facts
        duration = float(f.get("duration") or 0)
        if duration <= 0:
            return None
        spans = audio_spans(f)
        wave = next((r for r in outs if role(r, "audio") == "waveform"), None)
        waveform = self._poster(page, wave, "waveform of the kept part") if wave and wave.get("width") else None

        def style(a: float, b: float) -> Markup:
            return Markup(f"left:{a / duration * 100:.2f}%;width:{max(0.0, b - a) / duration * 100:.2f}%")

        shown = []
        for key in ("cut_start", "cut_end", "silence_lead", "silence_tail"):
            if key in spans:
                a, b = spans[key]
                kind = key.split("_")[0]
                shown.append(Span(kind, style(a, b), f"{kind} {clock(a)} to {clock(b)}"))
        legend = [(k, words) for k, words in LEGEND if k == "kept" or any(s.kind == k for s in shown)]
        shape = Markup(f"aspect-ratio:{waveform.width}/{waveform.height}" if waveform else "aspect-ratio:6/1")
        return Timeline(waveform, shape, style(*spans["kept"]), shown, clock(duration), legend)

    def _review(self, page: str, row: Row) -> ReviewView:
        previous = self.versions.previous(row) if self.versions is not None else None
        if previous is not None:
            path, w, h, version = previous
            previous = (href(page, path), w, h, version[:12])
        duration = row.facts.get("kept_duration") or row.facts.get("duration")
        return review_view(
            self.ws, row, self.reviews.get(row.input), page, previous, float(duration) if duration else None
        )

    def _rendition(self, page: str, row: Row, r: dict) -> RenditionRow:
        size = f"{r['width']} × {r['height']}" if r.get("width") and r.get("height") else "-"
        n = r.get("bytes")
        if n is None:
            try:
                n = (self.ws.root / r["path"]).stat().st_size
            except OSError:
                n = None
        saving, smaller = "-", True
        if n and row.size:
            ratio = 1 - n / row.size
            smaller = ratio >= 0
            # floor, so that 99.6 % reads "99 %": never "100 % smaller" for a file that exists
            saving = f"{math.floor(abs(ratio) * 100)} % {'smaller' if smaller else 'larger'}"
        return RenditionRow(
            name=PurePosixPath(r["path"]).name,
            href=href(page, out_rel(self.ws, r["path"])),
            format=str(r.get("format") or ext(r["path"])),
            size=size,
            aspect=str(r.get("aspect") or "-"),
            bytes=nice_bytes(n),
            saving=saving,
            smaller=smaller,
            role=role(r, row.media),
        )

    def _crops(self, outs: list[dict]) -> list[CropBox]:
        boxes: dict[str, CropBox] = {}
        for r in outs:
            crop, focus = r.get("crop"), r.get("focus")
            aspect = aspect_of(r)
            if not crop or aspect in boxes:
                continue
            x0, y0, x1, y1 = (float(v) for v in crop)
            full = (x0, y0, x1, y1) == (0, 0, 1, 1)
            if full and r.get("focus_from") != "sidecar":
                continue  # nothing cut, no focal point given: nothing to draw
            box = _box((x0, y0, x1, y1))
            dot = Markup(f"left:{float(focus[0]) * 100:.2f}%;top:{float(focus[1]) * 100:.2f}%") if focus else None
            boxes[aspect] = CropBox(
                label=aspect, box=box, focus=dot, focus_from=str(r.get("focus_from") or ""), colour=len(boxes) % 4
            )
        return list(boxes.values())

    def _comparisons(self, page: str, row: Row, outs: list[dict]) -> list[Comparison]:
        out = []
        cmyk = bool(row.facts.get("output_icc"))
        for aspect, best in compared(outs, cmyk).items():
            if displayable(row, best):
                after = Shown(out_rel(self.ws, best["path"]), int(best["width"]), int(best["height"]))
                label = f"{aspect}: source vs {best['format'].upper()} {best['width']} px"
            else:  # print: CMYK renditions, shown as a soft proof
                after = self.media.softproof(row, best)
                if after is None:
                    continue
                label = f"{aspect}: source vs soft proof of the {best['format'].upper()} for print"
            before = self.media.before(row, best)
            if before is None:
                continue
            out.append(
                Comparison(
                    label=label,
                    before=Img(href(page, before.path), before.width, before.height, "before: the source"),
                    after=Img(href(page, after.path), after.width, after.height, "after: the rendition"),
                    after_name=PurePosixPath(best["path"]).name,
                    after_href=href(page, out_rel(self.ws, best["path"])),
                )
            )
        return out

    def _players(self, page: str, row: Row, outs: list[dict]) -> list[Player]:
        """One player per crop of the video (a 9:16 and a 1:1 are different films, not
        alternative sources of one), and one per muted loop; MP4 and WebM of one crop are the
        sources of its player. Audio: one player, its formats the sources."""
        if row.media not in ("audio", "video") or row.status != "processed":
            return []

        def img(r: dict | None, alt: str) -> Img | None:
            if r is None:
                return None
            return Img(
                href(page, out_rel(self.ws, r["path"])), int(r.get("width") or 0), int(r.get("height") or 0), alt
            )

        def source(r: dict, types: dict[str, str]) -> Source:
            return Source(href(page, out_rel(self.ws, r["path"])), types[ext(r["path"])])

        if row.media == "audio":
            audio = [r for r in outs if not role(r, "audio") and ext(r["path"]) in AUDIO_TYPES]
            waveform = img(next((r for r in outs if role(r, "audio") == "waveform"), None), "waveform")
            return [Player("audio", [source(r, AUDIO_TYPES) for r in audio], None, waveform, 0, 0)] if audio else []
        groups: dict[tuple[str, bool], list[dict]] = {}
        for r in outs:
            if role(r, "video") in ("", "loop") and ext(r["path"]) in VIDEO_TYPES:
                groups.setdefault((aspect_of(r), role(r, "video") == "loop"), []).append(r)
        posters = [r for r in outs if role(r, "video") == "poster"]
        players = []
        # The original first (it leads the page), the crops next, the muted loops last.
        for (aspect, loop), group in sorted(groups.items(), key=lambda g: (g[0][1], g[0][0] != "original")):
            poster = next((p for p in posters if aspect_of(p) == aspect), posters[0] if posters else None)
            w = next(
                (int(r["width"]) for r in group if r.get("width")), int(poster.get("width") or 640) if poster else 640
            )
            h = next(
                (int(r["height"]) for r in group if r.get("height")),
                int(poster.get("height") or 360) if poster else 360,
            )
            players.append(
                Player(
                    "video",
                    [source(r, VIDEO_TYPES) for r in group],
                    img(poster, f"poster frame, {aspect}"),
                    None,
                    w,
                    h,
                    f"{aspect}, {w}x{h}",
                    loop,
                )
            )
        return players


LEGEND = (
    ("kept", "kept: the waveform of what the outputs play"),
    ("cut", "cut by the trim"),
    ("silence", "silence found"),
)


def _box(crop) -> Markup:
    """CSS position of a crop [x0, y0, x1, y1] (0..1 of the upright source) in its frame."""
    x0, y0, x1, y1 = (float(v) for v in crop)
    return Markup(
        f"left:{x0 * 100:.2f}%;top:{y0 * 100:.2f}%;width:{(x1 - x0) * 100:.2f}%;height:{(y1 - y0) * 100:.2f}%"
    )


def _sidecar(row: Row) -> list[Fact]:
    """What the sidecar says about the input, as the worker stored it (facts.sidecar)."""
    said = row.facts.get("sidecar") if isinstance(row.facts, dict) else None
    if not isinstance(said, dict):
        return []
    return [Fact(label, str(said[key])) for key, label in SIDECAR_TEXT if said.get(key)]


SIDECAR_TEXT = (("title", "Title"), ("alt", "Alt text"), ("credit", "Credit"))


def _out_path(page: str, src: str) -> str:
    """An href made by `href(page, ...)` back to its out/-relative path."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(page), urllib.parse.unquote(src)))


def _quarantine(row: Row) -> str | None:
    if row.status != "failed":
        return None
    return f"quarantine/{quarantine_name(row.input)}.error.txt"
