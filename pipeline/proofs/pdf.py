"""Render a proof with WeasyPrint; make print proofs PDF/X-4 in the profile's CMYK (issue #15).

What WeasyPrint does and what is done here (measured with WeasyPrint 70):

- A CMYK JPEG is embedded as it is (DCTDecode, /DeviceCMYK, Adobe's inverted data with a Decode
  array): the rendition's own bytes, no colour conversion.
- A CMYK TIFF does not load at all ("Failed to load image": its PNG path cannot hold CMYK). So a
  TIFF is handed over as a CMYK JPEG (quality 95, the same CMYK numbers: mean difference 0.7/255,
  99th percentile 4/255 on the demo poster), reduced to what a contact-sheet cell needs. On a
  single-asset proof that JPEG is only a stand-in: afterwards pikepdf swaps it for the TIFF's own
  pixels, lossless (Flate), so the client signs off on the rendition itself.
- `@color-profile device-cmyk { src: ... }` with pdf_variant "pdf/x-4" gives the GTS_PDFX output
  intent with the profile's ICC and the PDF/X-4 XMP; pikepdf adds what WeasyPrint leaves out
  (the intent's Info, a TrimBox on every page).
- House colours are written as device-cmyk() converted through the same ICC, so a print proof has
  no DeviceRGB anywhere (PDF/X-4 allows none without an RGB default space).
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from markupsafe import Markup
from PIL import Image, ImageCms

from pipeline.atomic import write_atomic
from pipeline.config.workspace import Workspace
from pipeline.proofs.cards import Card

VERSION = "1"  # bump when what is drawn changes: every proof is made again
CMYK_QUALITY = 95
PAPER_MM = {"A4": (210.0, 297.0), "Letter": (215.9, 279.4)}
MARGINS_MM = (18.0, 14.0, 16.0)  # top (running title), sides, bottom (date, page numbers): as in proof.css
GRID = {4: (2, 2), 6: (2, 3), 9: (3, 3)}  # per page -> (columns, rows)
# Colours besides the house style's four, for text that must be told apart (muted, warning, error).
FIXED = {"muted": "#5b6360", "warn": "#8a4b00", "error": "#a1251b", "border": "#cfcac0"}


@dataclass(frozen=True)
class Style:
    """CSS values made in Python: colours (hex, or device-cmyk() through the print ICC), fonts
    (validated by [site]), sizes. Marked safe here, never in the template."""

    accent: Markup
    text: Markup
    background: Markup
    surface: Markup
    muted: Markup
    warn: Markup
    error: Markup
    border: Markup
    heading_font: Markup
    body_font: Markup
    paper: Markup
    bleed: Markup
    marks: Markup
    icc: Markup  # file URI of the output ICC for @color-profile, "" for screen proofs
    cell_width: Markup
    cell_height: Markup
    picture_height: Markup


@dataclass(frozen=True)
class Count:
    label: str
    value: int


@dataclass(frozen=True)
class ProofPage:
    """Context of site_templates/proofs/sheet.html and single.html."""

    title: str
    workspace: str
    profile: str
    description: str
    date: str
    kind: str  # what sort of PDF this is, in words
    counts: list[Count]
    sheets: list[list[list[Card | None]]]  # pages -> rows -> cards (None: an empty cell)
    total: int
    single: Card | None
    css: Markup


def cmyk_of(hex_colour: str, transform) -> Markup:
    """#rrggbb -> device-cmyk(c m y k) through the print profile (relative colorimetric)."""
    rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    c, m, y, k = ImageCms.applyTransform(Image.new("RGB", (1, 1), rgb), transform).getpixel((0, 0))
    return Markup(f"device-cmyk({c / 255:.3f} {m / 255:.3f} {y / 255:.3f} {k / 255:.3f})")


def style_for(ws: Workspace, icc: Path | None, per_page: int, single: bool) -> Style:
    site, proofs = ws.config.site, ws.config.proofs
    colours = {k: getattr(site, k) for k in ("accent", "text", "background", "surface")} | FIXED
    if icc is not None:
        transform = ImageCms.buildTransform(
            ImageCms.createProfile("sRGB"),
            ImageCms.getOpenProfile(str(icc)),
            "RGB",
            "CMYK",
            ImageCms.Intent.RELATIVE_COLORIMETRIC,
        )
        shown = {k: cmyk_of(v, transform) for k, v in colours.items()}
    else:
        shown = {k: Markup(v) for k, v in colours.items()}
    width, height = PAPER_MM[proofs.paper]
    cols, rows = GRID[per_page]
    top, side, bottom = MARGINS_MM
    # A cell's box is fixed and clips what does not fit (a long warning), so a page holds exactly
    # per_page inputs: its pitch less the 2 mm spacing, 2 mm padding each side, borders, 1 mm spare.
    inner_w = (width - 2 * side - 2) / cols - 2 - 4 - 0.6
    inner_h = (height - top - bottom - 2) / rows - 2 - 4 - 0.6 - 1
    marks = icc is not None and proofs.marks
    return Style(
        **shown,
        heading_font=Markup(site.heading_font),
        body_font=Markup(site.body_font),
        paper=Markup(proofs.paper),
        bleed=Markup(f"{proofs.bleed_mm:g}mm" if marks else "0"),
        marks=Markup("crop" if marks else "none"),
        icc=Markup(icc.resolve().as_uri()) if icc else Markup(""),
        cell_width=Markup(f"{inner_w:.1f}mm"),
        cell_height=Markup(f"{inner_h:.1f}mm"),
        picture_height=Markup(f"{(height - top - bottom) * 0.6:.1f}mm" if single else f"{inner_h * 0.55:.1f}mm"),
    )


def tmp_dir(ws: Workspace) -> Path:
    """Temp files of proofs: not out/.tmp nor .crossmedia/tmp, which a run that starts meanwhile
    clears (`crossmedia proof` does not take the workspace's lock: it only reads the store)."""
    return ws.state / "proofs" / "tmp"


# CMYK pictures ----------------------------------------------------------------------------------
def cmyk_jpeg(ws: Workspace, source: Path, max_px: int | None) -> Path:
    """A CMYK JPEG WeasyPrint can embed for a CMYK TIFF (or an oversized CMYK JPEG): the same CMYK
    numbers, reduced to `max_px` wide when given. Kept in .crossmedia/proofs/ under a key of
    what it was made from, so an unchanged proof input is not encoded again."""
    st = source.stat()
    key = hashlib.sha1(f"{VERSION}\0{source}\0{st.st_size}\0{st.st_mtime_ns}\0{max_px}".encode()).hexdigest()[:20]
    path = ws.state / "proofs" / f"{key}.jpg"
    if path.is_file():
        return path
    with Image.open(source) as im:
        if im.mode != "CMYK":
            raise ValueError(f"{source} is {im.mode}, not CMYK")  # pick() only hands CMYK renditions here
        icc = im.info.get("icc_profile")
        if max_px and im.width > max_px:
            im.draft("CMYK", (max_px, max_px))
            im = im.resize((max_px, max(1, round(im.height * max_px / im.width))), Image.Resampling.LANCZOS)
        else:
            im.load()
        write_atomic(path, tmp_dir(ws), lambda tmp: im.save(tmp, format="JPEG", quality=CMYK_QUALITY, icc_profile=icc))
    return path


def needs_copy(source: Path, max_px: int | None) -> bool:
    """A CMYK JPEG small enough is embedded as it is; anything else goes through cmyk_jpeg()."""
    if source.suffix.lower() not in (".jpg", ".jpeg"):
        return True
    if max_px is None:
        return False
    with Image.open(source) as im:
        return im.width > max_px * 1.5


# PDF ------------------------------------------------------------------------------------------
def render(html: str, base: Path, target: Path, tmp: Path, icc: Path | None, lossless: dict[Path, Path]) -> int:
    """Write the PDF for `html` to `target` (atomically); return its number of pages.
    `lossless`: stand-in JPEG -> CMYK TIFF whose own pixels replace it (single-asset print proofs)."""
    # Imported here: WeasyPrint is half a second of start-up, paid only by `crossmedia proof`.
    import weasyprint

    # file: only; a proof makes no network requests, whatever a template or file name says
    fetcher = weasyprint.URLFetcher(allowed_protocols={"file", "data"})
    # Screen proofs: the renditions are sRGB and so is every CSS colour, as DeviceRGB. No output
    # intent: WeasyPrint's `output_intent="srgb"` leaves its ICC file open (a ResourceWarning).
    options = {"pdf_variant": "pdf/x-4"} if icc else {}
    document = weasyprint.HTML(string=html, base_url=base.as_uri() + "/", url_fetcher=fetcher).render(**options)

    def write(path: Path) -> None:
        document.write_pdf(path, **options)
        if icc:
            finish_print(path, icc, lossless)

    write_atomic(target, tmp, write)
    return len(document.pages)


def finish_print(path: Path, icc: Path, lossless: dict[Path, Path]) -> None:
    """What WeasyPrint's PDF/X-4 leaves out: the intent's Info (the profile's description), a
    TrimBox on every page; and the TIFF's own pixels for its stand-in JPEG."""
    description = ImageCms.getProfileDescription(ImageCms.getOpenProfile(str(icc))).strip() or icc.name
    stand_ins = {p.read_bytes(): tiff for p, tiff in lossless.items()}
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        for intent in pdf.Root.get("/OutputIntents", []):
            intent.Info = pikepdf.String(description)
            intent.OutputCondition = pikepdf.String(description)
        for page in pdf.pages:
            if "/TrimBox" not in page.obj:
                page.obj.TrimBox = page.obj.MediaBox
            if stand_ins:
                _swap_images(pdf, page, stand_ins)
        pdf.save(path)


def _swap_images(pdf: pikepdf.Pdf, page: pikepdf.Page, stand_ins: dict[bytes, Path]) -> None:
    xobjects = page.obj.get("/Resources", {}).get("/XObject", {})
    for key in list(xobjects.keys()):
        image = xobjects[key]
        is_jpeg = image.get("/Subtype") == "/Image" and image.get("/Filter") == "/DCTDecode"
        tiff = stand_ins.get(image.read_raw_bytes()) if is_jpeg else None
        if tiff is None:
            continue
        with Image.open(tiff) as im:
            raw = im.tobytes()  # CMYK, 8 bits: the TIFF's pixels, no conversion
            width, height = im.size
        image.write(zlib.compress(raw, 6), filter=pikepdf.Name.FlateDecode)
        image.Width, image.Height = width, height
        image.ColorSpace = pikepdf.Name.DeviceCMYK
        image.BitsPerComponent = 8
        for name in ("/Decode", "/DecodeParms"):
            if name in image:
                del image[name]
