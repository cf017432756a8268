"""`crossmedia demo`: a workspace with generated sample media, run once, results pointed at.

The samples are made here (no downloads): photos with detail and grain, a CMYK print file with
its ICC profile, a phone photo stored sideways with an EXIF orientation, a PNG with soft
transparency, an SVG logo, a short jingle (made by ffmpeg), and sidecars with alt text and focal points.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageDraw

from pipeline.batch.engine import run
from pipeline.batch.progress import Progress
from pipeline.commands.daily import built, input_counts
from pipeline.commands.publish import publish
from pipeline.config.icc import find_icc
from pipeline.config.settings import CONFIG_NAME
from pipeline.config.workspace import Workspace, init_workspace
from pipeline.media import ffmpeg_run

LOGO = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="240" height="80" viewBox="0 0 240 80">
  <title>crossmedia demo logo</title>
  <rect x="2" y="2" width="76" height="76" rx="14" fill="#0b6e4f"/>
  <circle cx="40" cy="40" r="22" fill="#f2c14e"/>
  <text x="92" y="52" font-family="DejaVu Sans, sans-serif" font-size="30" font-weight="bold"
        fill="#0b3d2e">Harbour</text>
</svg>
"""

# A landing page from the samples above (issue #6): out/site/pages/harbour.html
PAGE = """\
template = "landing"
title = "Spring at the harbour"
description = "Boat trips at sunset and sailing gear for the new season, all April at the harbour."

[[blocks]]
heading = "Spring at the harbour"
text = "The boats are back in the water. Come aboard for an evening trip, or kit yourself out for the season."
asset = "inbox/web/harbour.jpg"
link = { text = "Book a trip", href = "https://example.com/harbour/trips" }

[[blocks]]
heading = "From the lighthouse"
text = \"\"\"The view that brought us here, shot on a phone at dusk.

Trips leave every evening at seven, weather permitting.\"\"\"
asset = "inbox/web/phone-portrait.jpg"

[[blocks]]
heading = "Posters for the shop window"
text = "Printed on recycled paper; ask at the kiosk."
asset = "inbox/web/poster-cmyk.jpg"
alt = "Poster: the harbour at dusk with sailing boats"

[[blocks]]
heading = "Look for the badge"
assets = ["inbox/web/badge.png", "inbox/web/logo.svg"]
"""

# A multi-size banner set from the samples above (issue #7): out/banners/harbour-sale/index.html
BANNER = """\
title = "Harbour spring sale"
platform = "google"
sizes = ["medium-rectangle", "leaderboard", "skyscraper", "smartphone-banner", "half-page"]
click_url = "https://example.com/harbour/spring-sale?utm_source=display"
headline = "Spring sale at the harbour"
subline = "Up to 40% off sailing gear"
cta = "Shop now"
background = "inbox/web/harbour.jpg"
product = "badge.png"
logo = "logo.svg"
animation = "slide"
duration = 12
loops = 2

[style]
background = "#f4efe6"
text = "#0b3d2e"
accent = "#0b6e4f"
cta_text = "#ffffff"
border = "#0b3d2e"
"""

SIDECARS = {
    "inbox/web/harbour.jpg.toml": 'alt = "Boats in a harbour at sunset"\ncredit = "Photo: crossmedia demo '
    '(CC0)"\nfocus = [0.62, 0.45]\n',
    "inbox/social/harbour.jpg.toml": 'alt = "Boats in a harbour at sunset"\nfocus = [0.62, 0.45]\n',
    "inbox/web/phone-portrait.jpg.toml": 'alt = "A lighthouse, shot on a phone held upright"\n',
    "inbox/web/badge.png.toml": "decorative = true\n",
    "inbox/web/logo.svg.toml": 'alt = "Harbour logo"\n',
    "inbox/web/harbour-clip.mp4.toml": 'title = "Harbour test pattern"\ncredit = "crossmedia demo (CC0)"\n',
    "inbox/podcast/jingle.wav.toml": 'title = "Harbour jingle"\ncredit = "crossmedia demo (CC0)"\n',
}


def photo(width: int, height: int, seed: int) -> Image.Image:
    """Something that compresses like a photo: a soft colour field, a horizon, shapes, grain."""
    rng = np.random.default_rng(seed)
    field = Image.fromarray((rng.random((6, 9, 3)) * 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    im = field.copy()
    draw = ImageDraw.Draw(im)
    horizon = int(height * 0.58)
    draw.rectangle([0, horizon, width, height], fill=(24, 60, 92))
    for _ in range(14):
        x = int(rng.integers(0, width))
        w = int(rng.integers(width // 30, width // 10))
        h = int(rng.integers(height // 20, height // 6))
        colour = tuple(int(c) for c in rng.integers(30, 255, 3))
        draw.polygon([(x, horizon), (x + w, horizon), (x + w // 2, horizon - h)], fill=colour)
        draw.rectangle([x, horizon, x + w, horizon + h // 5], fill=tuple(c // 2 for c in colour))
    draw.ellipse([width * 0.7, height * 0.12, width * 0.82, height * 0.12 + width * 0.12], fill=(255, 214, 120))
    arr = np.asarray(im).astype(np.int16) + rng.normal(0, 5, (height, width, 1)).astype(np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


# A four-second jingle (three-note arpeggio with a soft attack, decaying) and 1.5 s of silence
# after it, which the podcast profile trims (issue #4).
JINGLE = (
    "aevalsrc=exprs='0.3*sin(2*PI*220*pow(2\\,(floor(mod(t*3\\,3))*4)/12)*t)*(1-exp(-80*mod(t\\,1/3)))*exp(-5*mod(t\\,1/3))"
    "|0.3*sin(2*PI*330*pow(2\\,(floor(mod(t*3\\,3))*3)/12)*t)*(1-exp(-80*mod(t\\,1/3)))*exp(-5*mod(t\\,1/3))'"
    ":s=44100:d=4,apad=pad_dur=1.5"
)


def jingle(path: Path) -> None:
    ffmpeg_run.run(
        ["-protocol_whitelist", "file", "-f", "lavfi", "-i", JINGLE, "-c:a", "pcm_s16le", str(path)],
        timeout=60,
        what="demo jingle",
    )


# A three-second clip with a tone, for the video chain (issue #4): an MP4 plus a muted loop, a poster.
CLIP = [
    "-f",
    "lavfi",
    "-i",
    "testsrc2=s=640x360:r=25:d=3",
    "-f",
    "lavfi",
    "-i",
    "sine=f=330:sample_rate=48000:d=3",
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-shortest",
]


def clip(path: Path) -> None:
    ffmpeg_run.run(["-protocol_whitelist", "file", *CLIP, str(path)], timeout=60, what="demo clip")


def make_samples(root: Path) -> list[str]:
    """Write the sample files that are missing; return what was written (workspace-relative)."""
    made = []

    def save(rel: str, write: Callable[[Path], None]) -> None:
        path = root / rel
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        made.append(rel)

    harbour = photo(2400, 1600, seed=1)
    save("inbox/web/harbour.jpg", lambda p: harbour.save(p, quality=90))
    save("inbox/social/harbour.jpg", lambda p: harbour.save(p, quality=90))
    # A phone photo: pixels stored landscape, EXIF orientation 6 says "turn me upright".
    upright = photo(1200, 1800, seed=2)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8298] = "Demo photographer"
    save(
        "inbox/web/phone-portrait.jpg",
        lambda p: upright.transpose(Image.Transpose.ROTATE_90).save(p, quality=88, exif=exif),
    )
    cmyk_icc = find_icc("default_cmyk.icc")
    poster = photo(1800, 1200, seed=3)
    if cmyk_icc is not None:
        to_cmyk = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), str(cmyk_icc), "RGB", "CMYK")
        cmyk = ImageCms.applyTransform(poster, to_cmyk)
        icc_bytes = cmyk_icc.read_bytes()
        save("inbox/web/poster-cmyk.jpg", lambda p: cmyk.save(p, quality=90, icc_profile=icc_bytes))
        save("inbox/print/poster-cmyk.jpg", lambda p: cmyk.save(p, quality=90, icc_profile=icc_bytes))
    else:
        save("inbox/web/poster-cmyk.jpg", lambda p: poster.convert("CMYK").save(p, quality=90))
    save("inbox/print/harbour-small.jpg", lambda p: harbour.resize((900, 600)).save(p, quality=90))

    def badge(p: Path) -> None:
        im = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
        d = ImageDraw.Draw(im)
        d.ellipse([40, 40, 760, 760], fill=(11, 110, 79, 255))
        d.ellipse([160, 160, 640, 640], fill=(242, 193, 78, 200))
        im.save(p)

    save("inbox/web/badge.png", badge)
    save("inbox/web/logo.svg", lambda p: p.write_text(LOGO, encoding="utf-8"))
    if shutil.which("ffmpeg"):  # without it, `crossmedia doctor` says how to get it
        save("inbox/podcast/jingle.wav", jingle)
        save("inbox/web/jingle.wav", jingle)
        save("inbox/web/harbour-clip.mp4", clip)
    save("pages/harbour.toml", lambda p: p.write_text(PAGE, encoding="utf-8"))
    save("banners/harbour-sale.toml", lambda p: p.write_text(BANNER, encoding="utf-8"))
    for rel, text in SIDECARS.items():
        save(rel, lambda p, t=text: p.write_text(t, encoding="utf-8"))
    return made


def run_demo(root: Path, jobs: int | None = None, echo: Callable[[str], None] = print) -> int:
    root = Path(root)
    if not (root / CONFIG_NAME).exists():
        init_workspace(root, "crossmedia demo")
        config = root / CONFIG_NAME  # the house style: the demo logo on the preview site and pages
        config.write_text(
            config.read_text(encoding="utf-8").replace('# logo = "inbox/web/logo.svg"', 'logo = "inbox/web/logo.svg"'),
            encoding="utf-8",
        )
        echo(f"created demo workspace {root}")
    made = make_samples(root)
    if made:
        echo(f"made {len(made)} sample files in {root / 'inbox'}")
    ws = Workspace.open(root)
    with Progress() as progress:
        report = run(ws, jobs=jobs, command="demo", on_result=progress.update, on_step=progress.step, after=(publish,))
    # Inputs only, as the progress lines count them ("[1/11]"); pages and banners said apart (#17).
    doc = report.as_dict()
    c = input_counts(doc)
    echo(f"\n{c['processed']} processed, {c['failed']} failed, {c['skipped']} unchanged{built(doc)}")
    for note in report.notes:
        echo(f"note: {note}")
    echo("results:")
    echo(f"  renditions:  {ws.out}/<profile>/")
    echo(f"  report:      {ws.report_path}")
    site = ws.out / "site" / "index.html"
    if site.exists():
        echo(f"  preview:     {site}  (or: crossmedia serve -w {root})")
    for page in sorted((ws.out / "site" / "pages").glob("*.html")):
        echo(f"  page:        {page}")
    banners = ws.out / "banners"
    if banners.is_dir() and any(banners.glob("*/index.html")):
        echo(f"  banners:     {next(banners.glob('*/index.html'))}")
    return int(report.exit_code)
