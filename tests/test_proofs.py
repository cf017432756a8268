"""PDF proofs (issue #15): contact sheets of the demo, the print proof as PDF/X-4 in the profile's
CMYK, single-asset proofs, rebuilds only on change, hostile file names.

Media: the demo's own (pipeline/commands/demo.py makes it) and ../shared/corpus (SOURCES.md):
images/orient-1.jpg under a hostile name, broken/empty.png (fails) under another.
Checked with poppler-utils (pdfinfo, pdffonts, pdftoppm, pdftotext) and pikepdf.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest
from click.testing import CliRunner
from PIL import Image

from pipeline.config.icc import find_icc

pytestmark = pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="poppler-utils (pdfinfo) not installed")

HOSTILE = "<img src=x onerror=alert(1)>.jpg"


def cli(*args: str, expect: int | None = 0):
    from pipeline.commands.cli import cli as group

    result = CliRunner().invoke(group, list(args), catch_exceptions=False)
    if expect is not None:
        assert result.exit_code == expect, f"exit {result.exit_code}, expected {expect}\n{result.output}"
    return result


def pdfinfo(path: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line) | {}


def pages(path: Path) -> int:
    return int(pdfinfo(path)["Pages"].strip())


def fonts_embedded(path: Path) -> list[bool]:
    lines = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()
    # columns: name type encoding emb sub uni object ID; the type may hold spaces, so read from the right
    return [line.split()[-5] == "yes" for line in lines[2:]]


def rendered(path: Path, tmp: Path, page: int = 1) -> Image.Image:
    prefix = tmp / f"{path.stem}-p{page}"
    subprocess.run(
        ["pdftoppm", "-r", "40", "-f", str(page), "-l", str(page), "-png", str(path), str(prefix)], check=True
    )
    return Image.open(next(tmp.glob(f"{prefix.name}*.png")))


def images(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
    found = {}
    for page in pdf.pages:
        xobjects = page.obj.get("/Resources", {}).get("/XObject", {})
        for key in xobjects:
            x = xobjects[key]
            if x.get("/Subtype") == "/Image":
                found[x.objgen] = x
    return list(found.values())


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("proofs") / "demo"
    cli("demo", "-w", str(root), expect=None)
    assert (root / "out" / "report.json").is_file()
    cli("proof", "-w", str(root))
    return root


def test_demo_sheets_one_page_per_six_inputs_fonts_embedded_and_render(demo: Path, tmp_path: Path) -> None:
    report = json.loads((demo / "out" / "report.json").read_text())
    profiles = {i["profile"] for i in report["items"] if i["profile"] not in ("page", "banner")}
    assert profiles == {"web", "social", "print", "podcast"}
    for profile in profiles:
        pdf = demo / "out" / "proofs" / f"{profile}.pdf"
        n = sum(i["profile"] == profile for i in report["items"])
        assert pages(pdf) == 1 + math.ceil(n / 6), profile  # the cover, then [proofs] per_page = 6
        assert "(A4)" in pdfinfo(pdf)["Page size"]
        embedded = fonts_embedded(pdf)
        assert embedded and all(embedded), profile
        first = rendered(pdf, tmp_path)
        assert first.size[0] > 200 and len(first.convert("L").getcolors(256) or []) > 20  # drawn, not blank
    # the web sheet shows every input's name, its review state and its warnings
    text = subprocess.run(["pdftotext", str(demo / "out/proofs/web.pdf"), "-"], capture_output=True, text=True).stdout
    for name in ("harbour.jpg", "badge.png", "harbour-clip.mp4", "jingle.wav", "logo.svg", "phone-portrait.jpg"):
        assert name in text
    assert "Review pending" in text and "source is too small" in text
    assert re.search(r"Page 2 of 3", text)


def test_print_proof_is_pdfx4_with_the_profiles_icc_and_cmyk_images(demo: Path) -> None:
    icc = find_icc("default_cmyk.icc")
    assert icc is not None
    with pikepdf.open(demo / "out/proofs/print.pdf") as pdf:
        intents = pdf.Root.OutputIntents
        assert len(intents) == 1 and intents[0].S == "/GTS_PDFX"
        assert intents[0].DestOutputProfile.read_bytes() == icc.read_bytes()
        xmp = str(pdf.open_metadata())
        assert "<pdfxid:GTS_PDFXVersion>PDF/X-4</pdfxid:GTS_PDFXVersion>" in xmp
        found = images(pdf)
        assert len(found) == 2  # the two print inputs
        for image in found:
            space = image.ColorSpace
            assert space == "/DeviceCMYK" or (space[0] == "/ICCBased" and space[1].N == 4)
        for page in pdf.pages:
            assert "/TrimBox" in page.obj
            # no DeviceRGB anywhere: text and rules are device-cmyk through the same ICC
            ops = {str(op) for _, op in pikepdf.parse_content_stream(page)}
            assert not ops & {"rg", "RG"}, ops & {"rg", "RG"}
    with pikepdf.open(demo / "out/proofs/web.pdf") as pdf:  # a screen profile: sRGB
        assert all(i.ColorSpace == "/DeviceRGB" for i in images(pdf))
        assert "/OutputIntents" not in pdf.Root


def test_single_asset_print_proof_embeds_the_tiffs_own_pixels(demo: Path) -> None:
    out = cli("proof", "-w", str(demo), "-p", "print", "--input", "poster-cmyk.jpg", "--pdf-x").output
    pdf_path = demo / "out/proofs/print/poster-cmyk.jpg.pdf"
    assert "out/proofs/print/poster-cmyk.jpg.pdf: 1 page(s)" in out
    assert pages(pdf_path) == 1
    tiff = next((demo / "out/print/poster-cmyk.jpg").glob("*.tif"))
    with Image.open(tiff) as im:
        pixels, size = im.tobytes(), im.size
    with pikepdf.open(pdf_path) as pdf:
        (image,) = images(pdf)
        assert image.ColorSpace == "/DeviceCMYK" and (int(image.Width), int(image.Height)) == size
        assert image.read_bytes() == pixels  # lossless: the rendition itself, not a JPEG of it


def test_proofs_are_made_again_only_when_what_they_show_changed(demo: Path) -> None:
    sheet = demo / "out/proofs/social.pdf"
    before = sheet.stat().st_mtime_ns
    out = cli("proof", "-w", str(demo), "-p", "social").output
    assert "unchanged" in out and sheet.stat().st_mtime_ns == before
    config = demo / "crossmedia.toml"
    config.write_text(config.read_text() + '\n[proofs]\npaper = "Letter"\nper_page = 4\n')
    out = cli("proof", "-w", str(demo), "-p", "social").output
    assert "made in" in out and "letter" in pdfinfo(sheet)["Page size"].lower()
    assert pages(sheet) == 2  # one input, four a page


def test_usage_errors_say_what_to_do(demo: Path) -> None:
    out = cli("proof", "-w", str(demo), "-p", "web", "--pdf-x", expect=2).output
    assert "not a print profile" in out
    out = cli("proof", "-w", str(demo), "--input", "nothing-like-this*", expect=2).output
    assert "matches no input" in out
    out = cli("proof", "-w", str(demo), "-p", "nope", expect=2).output
    assert "no profile 'nope'" in out


def test_hostile_file_names_are_text_in_the_pdf(ws, corpus: Path, tmp_path: Path) -> None:
    ws.drop(corpus / "images/orient-1.jpg", "inbox/web", name=HOSTILE)
    ws.drop(corpus / "broken/empty.png", "inbox/web", name="broken <b>&amp;.jpg")
    ws.run(expect=1)
    cli("proof", "-w", str(ws.root))
    pdf = ws.root / "out/proofs/web.pdf"
    assert pages(pdf) == 2
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert HOSTILE in text  # shown as typed: neither run nor escaped twice
    assert "broken <b>&amp;.jpg" in text and "&lt;" not in text
    assert "Failed:" in text
    cli("proof", "-w", str(ws.root), "--input", HOSTILE)
    assert any(p.suffix == ".pdf" for p in (ws.root / "out/proofs/web").iterdir())
