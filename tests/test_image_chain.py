"""The image chain on real corpus files, judged by measurement: pixel differences, colour
differences against littleCMS's own tools, exact sizes, what the files really contain."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import CORPUS, corpus_entries, published

# Lossless, full-size PNG renditions: what is measured is the chain, not an encoder.
EXACT = """
[image]
widths = []
formats = ["png"]
metadata = []
"""


def use_profile(ws, text: str, name: str = "test") -> None:
    ws.profile(name, text)
    ws.write("crossmedia.toml", f'name = "t"\n[folders]\n"inbox/{name}" = "{name}"\n')


def output(ws, rel: str, suffix: str) -> Path:
    item = ws.item(rel)
    assert item["status"] == "processed", item
    return ws.root / next(o for o in item["outputs"] if o.endswith(suffix))


def rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


# Orientation -----------------------------------------------------------------------------
def test_all_eight_exif_orientations_come_out_upright(ws):
    use_profile(ws, EXACT)
    entries = corpus_entries(exercises=lambda e: e and "EXIF Orientation" in e)
    assert sorted(e["facts"]["orientation"] for e in entries) == list(range(1, 9))
    for e in entries:
        ws.drop(e["path"], "inbox/test")
    ws.run(expect=0)
    upright = rgb(output(ws, "inbox/test/orient-1.jpg", ".png"))
    for e in entries:
        out = output(ws, f"inbox/test/{Path(e['path']).name}", ".png")
        with Image.open(out) as im:
            assert im.size == (1800, 1200), e["path"]
            assert "exif" not in im.info or Image.Exif().load(im.info["exif"]) is None or 0x0112 not in im.getexif()
        diff = np.abs(rgb(out) - upright).mean()
        # The eight files are the same photo re-encoded: upright they differ by JPEG noise only,
        # while a wrong turn or flip differs by ~60 levels on average.
        assert diff < 6, f"{e['path']}: mean difference {diff:.1f} from the upright photo"


# Colour ---------------------------------------------------------------------------------
_SRGB = ImageCms.createProfile("sRGB")
_LAB = ImageCms.createProfile("LAB", 6500)
_TO_LAB = ImageCms.buildTransform(_SRGB, _LAB, "RGB", "LAB")


def lab(arr: np.ndarray) -> np.ndarray:
    im = ImageCms.applyTransform(Image.fromarray(arr.astype(np.uint8)), _TO_LAB)
    L, a, b = (np.asarray(c, dtype=np.float32) for c in im.split())
    return np.stack([L * 100 / 255, a - 128, b - 128], axis=-1)


def mean_delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """Mean CIE76 colour difference between two sRGB images (1 = just noticeable)."""
    return float(np.sqrt(((lab(a) - lab(b)) ** 2).sum(axis=-1)).mean())


def reference_srgb(source: Path, tmp: Path, assume: str | None = None) -> np.ndarray:
    """littleCMS's own command-line tools, as the reference conversion to sRGB (perceptual)."""
    if source.suffix in (".jpg", ".jpeg"):
        tool, out = "jpgicc", tmp / "ref.jpg"
        args = ["-q100"]
    else:
        tool, out = "tificc", tmp / "ref.tif"
        args = []
        if source.suffix == ".png":  # tificc reads TIFF: carry pixels and profile over losslessly
            with Image.open(source) as im:
                tif = tmp / "src.tif"
                im.convert("RGB").save(tif, icc_profile=im.info.get("icc_profile"))
            source = tif
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"needs {tool} (Debian package liblcms2-utils) for the reference conversion")
    cmd = [exe, *args, "-t0", *([f"-i{assume}"] if assume else []), "-o*sRGB", str(source), str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return rgb(out)


COLOUR_CASES = [
    e
    for e in corpus_entries(kind="image", expect="ok")
    if e["facts"].get("icc_description") and e["path"].startswith("images/") and e["facts"].get("frames", 1) == 1
]


@pytest.mark.parametrize("entry", COLOUR_CASES, ids=[e["path"] for e in COLOUR_CASES])
def test_embedded_profiles_convert_to_srgb_like_littlecms(ws, tmp_path, entry):
    use_profile(ws, EXACT)
    source = ws.drop(entry["path"], "inbox/test")
    ws.run(expect=0)
    ours = output(ws, f"inbox/test/{source.name}", ".png")
    with Image.open(ours) as im:
        assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))).startswith(
            "sRGB"
        )
    ref = reference_srgb(CORPUS / entry["path"], tmp_path)
    de = mean_delta_e(rgb(ours), ref)
    # jpgicc's -q100 JPEG output itself adds ~0.3-0.6; anything over 2 is a wrong conversion.
    assert de < 2.0, f"{entry['path']} ({entry['facts']['icc_description']}): mean dE {de:.2f}"
    if entry["facts"].get("icc_colour_space") != "RGB" or "sRGB" not in entry["facts"]["icc_description"]:
        assert any("converted to sRGB" in w for w in ws.item(f"inbox/test/{source.name}")["warnings"])


def test_ignoring_the_profile_would_be_caught(ws, tmp_path):
    """The dE check has teeth: the rotated-primaries profile, ignored, is far from the reference."""
    source = CORPUS / "images/icc-rgb-to-gbr.jpg"
    ref = reference_srgb(source, tmp_path)
    with Image.open(source) as im:
        naive = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert mean_delta_e(naive, ref) > 10


def test_cmyk_without_profile_is_read_with_the_default_profile_and_warned(ws, tmp_path):
    use_profile(ws, EXACT)
    ws.drop("images/cmyk-noicc.jpg", "inbox/test")
    ws.run(expect=0)
    item = ws.item("inbox/test/cmyk-noicc.jpg")
    assert any("no colour profile; read as default_cmyk.icc" in w for w in item["warnings"])
    from pipeline.config.icc import find_icc

    ref = reference_srgb(CORPUS / "images/cmyk-noicc.jpg", tmp_path, assume=str(find_icc("default_cmyk.icc")))
    assert mean_delta_e(rgb(output(ws, "inbox/test/cmyk-noicc.jpg", ".png")), ref) < 2.0


def test_print_profile_writes_cmyk_tiff_in_the_output_profile(ws):
    ws.drop("images/adobergb.jpg", "inbox/print")
    ws.run(expect=0)
    item = ws.item("inbox/print/adobergb.jpg")
    tif = ws.root / item["outputs"][0]
    with Image.open(tif) as im:
        assert im.mode == "CMYK" and im.format == "TIFF"
        assert im.size == (290, 442)
        desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"])))
        assert "CMYK" in desc
        assert round(im.info["dpi"][0]) == round(290 / (210 / 25.4))
    assert any("prints at 35 ppi" in w for w in item["warnings"])


# Formats and modes -----------------------------------------------------------------------
def test_phone_and_modern_formats_are_read(ws):
    for name in ["still.heic", "still.avif", "still.webp", "png16-rgb.png", "rgb.tif", "gray.jpg"]:
        ws.drop(f"images/{name}")
    ws.run(expect=0)
    for name in ["still.heic", "still.avif", "still.webp", "png16-rgb.png", "rgb.tif", "gray.jpg"]:
        item = ws.item(f"inbox/web/{name}")
        assert item["status"] == "processed" and len(item["outputs"]) >= 3, item


def test_inputs_sharing_a_stem_never_share_outputs(ws):
    for name in ["still.heic", "still.avif", "still.webp"]:
        ws.drop(f"images/{name}")
    ws.run(expect=0)
    outputs = [set(ws.item(f"inbox/web/{n}")["outputs"]) for n in ["still.heic", "still.avif", "still.webp"]]
    assert not (outputs[0] & outputs[1] or outputs[0] & outputs[2] or outputs[1] & outputs[2])
    assert all((ws.root / o).is_file() for group in outputs for o in group)


def test_transparency_is_kept_where_the_format_can_and_flattened_where_not(ws):
    use_profile(ws, '[image]\nwidths = [320]\nformats = ["png", "webp", "jpeg"]\nbackground = "#ff0000"\n')
    ws.drop("images/alpha.png", "inbox/test")
    ws.drop("images/palette.png", "inbox/test")
    ws.run(expect=0)
    png = output(ws, "inbox/test/alpha.png", "-320.png")
    webp = output(ws, "inbox/test/alpha.png", "-320.webp")
    jpeg = output(ws, "inbox/test/alpha.png", "-320.jpg")
    for path in (png, webp):
        with Image.open(path) as im:
            assert im.mode == "RGBA" and im.getchannel("A").getextrema()[0] < 10, path
    with Image.open(CORPUS / "images/alpha.png") as src:
        transparent = np.asarray(src.getchannel("A").resize((320, 240))) < 5
    jpg = rgb(jpeg)
    assert transparent.any()
    # transparent areas come out on the profile's background colour, not black
    assert np.abs(jpg[transparent] - [255, 0, 0]).mean() < 20


def test_animations_stay_animated_in_webp_and_gif(ws):
    use_profile(ws, '[image]\nwidths = [64]\nformats = ["webp", "gif", "jpeg"]\n')
    for name in ["anim.gif", "anim.webp", "anim.avifs"]:
        ws.drop(f"images/{name}", "inbox/test")
    ws.run(expect=0)

    def timeline(path: Path) -> tuple[int, int]:
        """(frames, total duration in ms); encoders merge frames that became identical when
        shrunk, so the total duration is what must survive."""
        with Image.open(path) as im:
            total = 0
            for i in range(im.n_frames):
                im.seek(i)
                im.load()  # WebP reports a frame's duration once it is decoded
                total += im.info.get("duration", 0)
            return im.n_frames, total

    for name in ["anim.gif", "anim.webp", "anim.avifs"]:
        src_frames, src_ms = timeline(CORPUS / "images" / name)
        for suffix in ("-64.webp", "-64.gif"):
            frames, ms = timeline(output(ws, f"inbox/test/{name}", suffix))
            assert frames > 1 and abs(ms - src_ms) <= 10 * src_frames, (name, suffix, frames, ms, src_ms)
        with Image.open(output(ws, f"inbox/test/{name}", "-64.jpg")) as im:
            assert getattr(im, "n_frames", 1) == 1


# Metadata --------------------------------------------------------------------------------
def test_private_metadata_is_stripped_and_copyright_kept(ws, tmp_path):
    exif = Image.Exif()
    exif[0x8298] = "(c) Agency 2026"  # Copyright
    exif[0x013B] = "A. Photographer"  # Artist
    exif[0x010F] = "Canon"  # Make
    sub = {0xA431: "SERIAL-123", 0xA430: "Jane Owner", 0x9003: "2026:01:01 10:00:00"}
    exif[0x8769] = sub
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.0), 3: "E", 4: (4.0, 53.0, 2.0)}
    src = tmp_path / "private.jpg"
    with Image.open(CORPUS / "images/orient-1.jpg") as im:
        im.save(src, exif=exif, quality=90)
    ws.drop(src)
    ws.run(expect=0)
    item = ws.item("inbox/web/private.jpg")
    assert set(item["facts"]["metadata_stripped"]) >= {"GPS position", "camera serial number", "camera owner name"}
    share = [o for o in item["outputs"] if o.endswith(".share.jpg")]
    assert share  # the share picture goes public too: the same metadata policy
    for rel in published(item) + share:
        with Image.open(ws.root / rel) as im:
            out = im.getexif()
            assert out.get(0x8298) == "(c) Agency 2026", rel
            assert out.get(0x013B) == "A. Photographer", rel
            assert not out.get_ifd(0x8825), f"GPS left in {rel}"
            assert 0xA431 not in out.get_ifd(0x8769) and 0xA430 not in out.get_ifd(0x8769), rel
            assert 0x010F not in out, rel
            raw = (ws.root / rel).read_bytes()
            assert b"SERIAL-123" not in raw and b"Jane Owner" not in raw


def test_sidecar_credit_becomes_the_copyright_line(ws):
    ws.drop("images/orient-1.jpg")
    ws.write("inbox/web/orient-1.jpg.toml", 'credit = "Photo: Pierre Bouillot / Unsplash"\nalt = "A landscape"\n')
    ws.run(expect=0)
    item = ws.item("inbox/web/orient-1.jpg")
    assert not any("alt text" in w for w in item["warnings"])
    with Image.open(ws.root / item["outputs"][0]) as im:
        assert im.getexif().get(0x8298) == "Photo: Pierre Bouillot / Unsplash"


# Crops -----------------------------------------------------------------------------------
def test_social_crops_have_exact_sizes_and_follow_the_focal_point(ws, tmp_path):
    # A photo with one bright subject on the far right.
    im = Image.new("RGB", (2400, 1200), (40, 40, 40))
    im.paste((250, 220, 30), (2050, 450, 2350, 750))
    src = tmp_path / "subject.png"
    im.save(src)
    ws.drop(src, "inbox/social")
    ws.write("inbox/social/subject.png.toml", 'focus = [0.917, 0.5]\nalt = "A yellow square"\n')
    ws.run(expect=0)
    item = ws.item("inbox/social/subject.png")
    sizes = {}
    for rel in published(item):
        if rel.endswith(".jpg"):
            with Image.open(ws.root / rel) as out:
                sizes[Path(rel).stem.split("-")[1]] = out.size
                # the subject is inside every crop
                arr = np.asarray(out.convert("RGB"), dtype=np.int16)
                assert ((arr[..., 0] > 200) & (arr[..., 2] < 80)).mean() > 0.02, rel
    assert sizes == {"1x1": (1080, 1080), "4x5": (960, 1200), "9x16": (675, 1200), "16x9": (1080, 608)} or sizes[
        "1x1"
    ] == (1080, 1080)
    assert sizes["4x5"][0] / sizes["4x5"][1] == pytest.approx(0.8, abs=0.002)


@pytest.mark.parametrize(
    ("height", "width", "detail", "aspect"),
    [
        (1000, 2000, (300, 700, 150, 550), "1:1"),  # landscape, detail on the left: the crop slides across
        (2000, 1000, (1450, 1800, 300, 700), "16:9"),  # portrait, detail low: the crop slides down
    ],
)
def test_attention_finds_the_subject_without_a_sidecar(ws, tmp_path, height, width, detail, aspect):
    top, bottom, left, right = detail
    rng = np.random.default_rng(3)
    base = np.full((height, width, 3), 90, np.uint8)
    base[top:bottom, left:right] = rng.integers(0, 255, (bottom - top, right - left, 3), dtype=np.uint8)
    Image.fromarray(base).save(tmp_path / "busy.png")
    use_profile(ws, f'[image]\naspects = ["{aspect}"]\nwidths = [400]\nformats = ["png"]\n')
    ws.drop(tmp_path / "busy.png", "inbox/test")
    ws.run(expect=0)
    rendition = ws.item("inbox/test/busy.png")["facts"]["renditions"][0]
    x0, y0, x1, y1 = rendition["crop"]
    assert rendition["focus_from"] == "attention"
    assert x0 <= left / width and x1 >= right / width and y0 <= top / height and y1 >= bottom / height, rendition
    assert (x1 - x0, y1 - y0).count(1) == 1  # the whole height or the whole width, not both


def test_attention_centres_the_crop_when_every_window_scores_the_same(ws):
    """The corpus' flag (three horizontal stripes, 900x600) looks the same wherever a square
    is cut across it: the crop is the middle one, not the first or whichever rounding favours."""
    use_profile(ws, '[image]\naspects = ["1:1", "4:5"]\nwidths = [300]\nformats = ["png"]\n')
    ws.drop(CORPUS / "images" / "png16-rgb.png", "inbox/test")
    ws.run(expect=0)
    made = ws.item("inbox/test/png16-rgb.png")["facts"]["renditions"]
    crops = {r["aspect"]: r["crop"] for r in made if not r.get("role")}
    assert crops["1:1"] == pytest.approx([1 / 6, 0, 5 / 6, 1], abs=0.002)
    assert crops["4:5"] == pytest.approx([(900 - 480) / 1800, 0, 1 - (900 - 480) / 1800, 1], abs=0.002)


def test_tiny_renditions_of_a_big_jpeg_still_crop_on_the_subject(ws, tmp_path):
    """Shrink-on-load serves the largest rendition, but never below 512 px: a 1 px and a 24 px
    rendition still get their crop from a picture the saliency can read."""
    rng = np.random.default_rng(3)
    base = np.full((1000, 2000, 3), 90, np.uint8)
    base[300:700, 150:550] = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)
    Image.fromarray(base).save(tmp_path / "busy-left.jpg", quality=90)
    use_profile(ws, '[image]\naspects = ["1:1"]\nwidths = [24, 1]\nformats = ["png"]\n')
    ws.drop(tmp_path / "busy-left.jpg", "inbox/test")
    ws.run(expect=0)
    item = ws.item("inbox/test/busy-left.jpg")
    assert item["facts"]["decoded_width"] >= 512
    sizes = sorted((r["width"], r["height"]) for r in item["facts"]["renditions"] if not r.get("role"))
    assert sizes == [(1, 1), (24, 24)]
    x0, _, x1, _ = item["facts"]["renditions"][0]["crop"]
    assert x0 <= 150 / 2000 and x1 >= 550 / 2000


def test_small_sources_are_not_upscaled_and_say_so(ws):
    ws.drop("images/tiny-128.jpg")
    ws.run(expect=0)
    item = ws.item("inbox/web/tiny-128.jpg")
    assert any("source is too small: 128 px wide" in w for w in item["warnings"])
    for rel in published(item):
        with Image.open(ws.root / rel) as im:
            assert im.width <= 128


def test_a_source_narrower_than_several_widths_has_each_rendition_once(ws):
    """#12: p3.jpg is 1000x800; asked for 1920/1280/1000/320 it used to write and list its
    1000 px rendition twice (the source's own width stood in for 1920 and 1280, then 1000 came
    again), in the outputs, the report's renditions and the preview site's table."""
    use_profile(
        ws,
        '[image]\naspects = ["original", "1:1", "original"]\nwidths = [1920, 1280, 1000, 320]\n'
        'formats = ["webp", "jpeg"]\nmetadata = []\n',
    )
    ws.drop("images/p3.jpg", "inbox/test")
    ws.run(expect=0)
    item = ws.item("inbox/test/p3.jpg")
    expected = {
        f"p3{label}-{w}.{ext}"
        for label, widths in (("", (1000, 320)), ("-1x1", (800, 320)))
        for w in widths
        for ext in ("webp", "jpg")
    }
    # The renditions proper: previews, proofs and share pictures carry a role and are not ours here.
    made = [r for r in item["facts"]["renditions"] if not r.get("role")]
    assert sorted(Path(r["path"]).name for r in made) == sorted(expected)  # each once: a list, not a set
    assert sorted(Path(rel).name for rel in item["outputs"] if Path(rel).name in expected) == sorted(expected)
    assert {p.name for p in (ws.root / "out/test/p3.jpg").iterdir()} >= expected
    for r in made:
        with Image.open(ws.root / r["path"]) as im:
            assert im.size == (r["width"], r["height"])
    from bs4 import BeautifulSoup

    from pipeline.batch.store import Row
    from pipeline.site.preview import asset_page_path

    page = ws.root / "out" / asset_page_path(Row("inbox/test/p3.jpg", "test", "image", "processed", 0, 0, "", ""))
    rows = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select(
        "table.renditions tbody tr td:first-child a"
    )
    assert sorted(a.text for a in rows) == sorted(expected)


# SVG -------------------------------------------------------------------------------------
def test_svg_logo_is_kept_as_svg_and_rasterised(ws):
    ws.drop("images/logo.svg")
    ws.run(expect=0)
    item = ws.item("inbox/web/logo.svg")
    svg = next(o for o in item["outputs"] if o.endswith(".svg"))
    assert b"<svg" in (ws.root / svg).read_bytes()
    png_like = [o for o in item["outputs"] if o.endswith("-320.webp")]
    with Image.open(ws.root / png_like[0]) as im:
        assert im.size == (320, 240) and im.mode == "RGBA"


@pytest.mark.parametrize("name", ["hostile-script.svg", "hostile-external.svg"])
def test_hostile_svg_is_sanitised(ws, name):
    ws.drop(f"broken/{name}")
    ws.run(expect=0)
    item = ws.item(f"inbox/web/{name}")
    svg = (ws.root / next(o for o in item["outputs"] if o.endswith(".svg"))).read_text()
    low = re.sub(r'xmlns(:\w+)?="[^"]*"', "", svg).lower()  # namespace names are URIs, never fetched
    for bad in ("<script", "onload", "alert(", "http:", "https:", "ftp:", "//example.com", "<this", "doctype"):
        assert bad not in low, f"{bad!r} survived in {name}"
    assert any("SVG sanitised" in w for w in item["warnings"])


def test_svg_with_entities_is_refused(ws, tmp_path):
    bomb = tmp_path / "laughs.svg"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        '<svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>'
    )
    xxe = tmp_path / "xxe.svg"
    xxe.write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>'
    )
    ws.drop(bomb)
    ws.drop(xxe)
    ws.run(expect=1)
    for name in ("laughs.svg", "xxe.svg"):
        item = ws.item(f"inbox/web/{name}")
        assert item["status"] == "failed" and "entities" in item["error"], item
    assert not list((ws.root / "out").rglob("*passwd*"))


def test_modes_pillow_gets_wrong_by_default_come_out_right(ws, tmp_path):
    """16-bit grey keeps its range (Pillow's plain convert clips it to white), LA and palette
    transparency survive, and web JPEGs are progressive."""
    ramp = np.linspace(0, 65535, 256, dtype=np.uint16)[None, :].repeat(64, axis=0)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")  # mode I;16
    la = Image.new("LA", (256, 64), (128, 0))
    la.paste((200, 255), (64, 0, 192, 64))
    la.save(tmp_path / "la.png")
    pal = Image.new("P", (256, 64), 0)
    pal.putpalette([10, 20, 30, 250, 0, 0] + [0] * 762)
    pal.paste(1, (64, 0, 192, 64))
    pal.save(tmp_path / "pal.png", transparency=0)  # tRNS: index 0 is transparent
    use_profile(ws, '[image]\nwidths = []\nformats = ["png", "jpeg"]\n')
    for name in ("grey16.png", "la.png", "pal.png"):
        ws.drop(tmp_path / name, "inbox/test")
    ws.run(expect=0)
    grey = rgb(output(ws, "inbox/test/grey16.png", ".png"))[..., 0][0]
    assert abs(grey[0] - 0) <= 1 and abs(grey[-1] - 255) <= 1 and abs(grey[128] - 128) <= 2
    for name in ("la.png", "pal.png"):
        with Image.open(output(ws, f"inbox/test/{name}", ".png")) as im:
            alpha = np.asarray(im.getchannel("A"))
            assert im.mode == "RGBA" and alpha[:, :64].max() == 0 and alpha[:, 64:192].min() == 255, name
    with Image.open(output(ws, "inbox/test/la.png", ".jpg")) as im:
        assert im.info.get("progressive") or im.info.get("progression")


def test_pa_images_keep_their_alpha():
    from stages.colour import _to_8bit

    pa = Image.frombytes("PA", (4, 1), bytes([1, 0, 1, 128, 1, 255, 0, 255]))
    pa.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    out = _to_8bit(pa)
    assert out.mode == "RGBA"
    assert out.tobytes() == bytes([255, 0, 0, 0, 255, 0, 0, 128, 255, 0, 0, 255, 0, 0, 0, 255])
