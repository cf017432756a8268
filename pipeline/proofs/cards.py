"""What a proof shows of each input, read from the store (issue #15).

Proofs never decode a source: they show a rendition or a picture the worker made for people
(`stages.previews`: poster for video, waveform for audio), or for print profiles the CMYK
rendition itself. Each card is a dataclass the templates only print (docs/STYLE.md #6).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from pipeline.batch.store import Row
from pipeline.config.workspace import Workspace

# Widest picture a contact-sheet cell needs: ~90 mm at 300 ppi. Larger renditions are shown
# through a smaller one (screen) or a reduced CMYK copy (print), so 500 inputs stay a PDF a
# client can open.
SHEET_PX = 1100
SINGLE_PX = 2400  # a screen proof's full page: ~200 mm at 300 ppi
SCREEN_FORMATS = ("jpeg", "png", "svg")  # what WeasyPrint embeds without redrawing it
MAX_WARNINGS = 3
MAX_TEXT = 180

STATE_LABELS = {
    "pending": "Review pending",
    "approved": "Approved",
    "changes": "Changes requested",
    "rejected": "Rejected",
}


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class Picture:
    """A file WeasyPrint embeds: workspace-relative `path`, its pixel size, and what it is."""

    path: str
    width: int
    height: int
    format: str  # jpeg | png | svg | tiff
    cmyk: bool = False


@dataclass(frozen=True)
class Card:
    """One input on a proof."""

    input: str
    name: str
    profile: str
    media: str
    status: str
    review: str  # pending | approved | changes | rejected
    review_label: str
    picture: Picture | None
    src: str = ""  # the URL the template prints (set by the builder: a file URI or a cached copy)
    facts: list[Fact] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    more_warnings: int = 0
    error: str = ""


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def renditions(row: Row) -> list[dict]:
    found = row.facts.get("renditions") if isinstance(row.facts, dict) else None
    return [r for r in found if isinstance(r, dict) and r.get("path")] if isinstance(found, list) else []


def is_print(ws: Workspace, profile: str) -> bool:
    """A CMYK profile: its proof is PDF/X-4 with the profile's output ICC."""
    p = ws.profiles.get(profile)
    image = p.options("image") if p else None
    return bool(image and getattr(image, "colour", "") == "cmyk")


def pick(row: Row, cmyk: bool, want: int, root) -> Picture | None:
    """The picture a proof shows for `row`: for print the CMYK rendition itself (largest), else
    the smallest JPEG/PNG/SVG rendition at least `want` px wide (or the largest), the video's
    poster, the audio's waveform; the source preview when nothing else fits."""
    found = [r for r in renditions(row) if (root / r["path"]).is_file()]
    if row.media in ("video", "audio"):
        role = "poster" if row.media == "video" else "waveform"
        pics = [r for r in found if r.get("role") == role and r.get("format") in SCREEN_FORMATS]
        return (
            _picture(min(pics, key=lambda r: (r.get("aspect") not in (None, "original"), r["format"] != "jpeg")))
            if pics
            else None
        )
    proper = [r for r in found if not r.get("role") and r.get("width")]
    if cmyk:
        prints = [r for r in proper if r.get("format") in ("tiff", "jpeg")]
        if prints:
            best = max(prints, key=lambda r: (r.get("aspect") in (None, "original"), r["width"]))
            return _picture(best, cmyk=True)
        return None
    shown = [r for r in proper if r.get("format") in SCREEN_FORMATS and r.get("aspect") in (None, "original")]
    shown = shown or [r for r in proper if r.get("format") in SCREEN_FORMATS]
    svg = next((r for r in shown if r["format"] == "svg"), None)
    if svg:
        return _picture(svg)
    wide = [r for r in shown if r["width"] >= want]
    best = (
        min(wide, key=lambda r: (r["width"], r["format"] != "jpeg"))
        if wide
        else (max(shown, key=lambda r: r["width"]) if shown else None)
    )
    if best is None:
        best = next((r for r in found if r.get("role") == "preview" and r.get("format") in SCREEN_FORMATS), None)
    return _picture(best) if best else None


def _picture(r: dict, cmyk: bool = False) -> Picture:
    return Picture(r["path"], int(r.get("width") or 0), int(r.get("height") or 0), str(r.get("format")), cmyk)


def facts_of(ws: Workspace, row: Row, picture: Picture | None) -> list[Fact]:
    """A few key facts: what a client or printer asks first."""
    f = row.facts if isinstance(row.facts, dict) else {}
    out: list[Fact] = []
    if f.get("display_width") and f.get("display_height") and row.media == "image":
        out.append(
            Fact("Source", f"{f['display_width']} × {f['display_height']} px, {str(f.get('format', '')).upper()}")
        )
    if picture is not None and picture.width and row.media == "image":
        out.append(Fact("Shown", f"{picture.width} × {picture.height} px {picture.format.upper()}"))
    if row.media == "image":
        if f.get("output_icc"):
            out.append(Fact("Colour", f"CMYK, {f['output_icc']}"))
        else:
            src = f.get("source_icc") or f.get("source_mode") or ""
            out.append(Fact("Colour", "sRGB" + (f" (from {src})" if f.get("colour_converted_from") else "")))
        if f.get("print_ppi"):
            p = ws.profiles.get(row.profile)
            image = p.options("image") if p else None
            width_mm = getattr(image, "print_width_mm", 0)
            out.append(Fact("Print", f"{f['print_ppi']} ppi at {width_mm:g} mm wide"))
    if isinstance(f.get("duration"), int | float):
        out.append(Fact("Duration", f"{int(f['duration'] // 60)}:{f['duration'] % 60:04.1f}"))
    loud = f.get("loudness") if isinstance(f.get("loudness"), dict) else {}
    target = loud.get("target") if isinstance(loud.get("target"), dict) else {}
    if target.get("lufs") is not None:
        out.append(Fact("Loudness", f"levelled to {target['lufs']} LUFS"))
    if f.get("video_codec"):
        out.append(Fact("Video", f"{f.get('width')} × {f.get('height')}, {f['video_codec']}, {f.get('fps', '')} fps"))
    return out


def matches(rel: str, pattern: str) -> bool:
    """`--input`: a glob on the workspace path or on the file name ("hero.jpg", "inbox/web/*")."""
    return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(PurePosixPath(rel).name, pattern)


def card(ws: Workspace, row: Row, review: str, cmyk: bool, want: int) -> Card:
    picture = pick(row, cmyk, want, ws.root) if row.status != "failed" else None
    warnings = [clip(w) for w in row.warnings]
    return Card(
        input=row.input,
        name=PurePosixPath(row.input).name,
        profile=row.profile,
        media=row.media,
        status=row.status,
        review=review,
        review_label=STATE_LABELS.get(review, review),
        picture=picture,
        facts=facts_of(ws, row, picture),
        warnings=warnings[:MAX_WARNINGS],
        more_warnings=max(0, len(warnings) - MAX_WARNINGS),
        error=clip(row.error or ""),
    )
