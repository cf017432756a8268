"""stages/resize.py: libvips' Lanczos for opaque 8-bit pixels, Pillow's for the rest (issue #3, W1).

The reference is Pillow's own Lanczos 3, an independent implementation of the same filter: the
two must agree to within what no one can see, at exact sizes, in every mode they share; alpha
must stay premultiplied (no dark fringe) whichever library filters it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from conftest import CORPUS
from stages.resize import resize, shrink_on_load


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mse = float(((x - y) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def pillow_lanczos(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    return im.resize(size, Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A real camera photo, decoded as stages.decode does for a 1920 px rendition (DCT-scaled)."""
    with Image.open(CORPUS / "images" / "large-4032.jpg") as im:
        im.draft("RGB", (2016, 1512))
        return im.convert("RGB")


@pytest.mark.parametrize("width", [1920, 1280, 640, 320, 100])
def test_photo_matches_pillow_lanczos(photo, width):
    size = (width, round(photo.height * width / photo.width))
    ours, reference = resize(photo, size), pillow_lanczos(photo, size)
    assert ours.size == size and ours.mode == "RGB"
    assert psnr(ours, reference) > 45, "libvips and Pillow Lanczos should differ by well under one level"
    # Same brightness: a filter with a different gain or a half-pixel shift would move this.
    assert abs(np.asarray(ours, dtype=float).mean() - np.asarray(reference, dtype=float).mean()) < 0.5


def test_cmyk_and_grey_match_pillow(photo):
    cmyk = photo.convert("CMYK")  # four plain bands: libvips must not treat the fourth as alpha
    for im in (cmyk, photo.convert("L")):
        ours = resize(im, (640, 480))
        assert ours.mode == im.mode and ours.size == (640, 480)
        assert psnr(ours, pillow_lanczos(im, (640, 480))) > 45


def test_fine_detail_is_kept_not_blurred():
    """A 1-px checkerboard shrunk 3x: Lanczos keeps the contrast of the coarser pattern a box
    or bilinear filter would wash out; both implementations must agree on it."""
    stripes = (np.indices((600, 600)).sum(0) // 30 % 2 * 255).astype(np.uint8)
    im = Image.fromarray(stripes).convert("RGB")
    ours, reference = resize(im, (200, 200)), pillow_lanczos(im, (200, 200))
    assert np.asarray(ours, dtype=float).std() == pytest.approx(np.asarray(reference, dtype=float).std(), rel=0.01)
    assert psnr(ours, reference) > 45


def test_alpha_is_premultiplied():
    """An opaque red square on fully transparent black: every pixel that is at all visible after
    the resize must still be red, not darkened by the black under the transparent pixels."""
    im = Image.new("RGBA", (301, 301), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (100, 100, 201, 201))
    small = np.asarray(resize(im, (97, 97)), dtype=int)
    visible = small[..., 3] > 8
    assert visible.sum() > 900
    assert small[visible][:, 0].min() >= 250 and small[visible][:, 1:3].max() <= 5


def test_same_size_is_the_same_image(photo):
    assert resize(photo, photo.size) is photo


@given(st.integers(1, 700), st.integers(1, 700), st.floats(0.01, 3.0), st.floats(0.01, 3.0),
       st.sampled_from(["RGB", "L", "CMYK", "RGBA", "LA"]))
def test_any_size_comes_out_exact(w, h, fx, fy, mode):
    size = (max(1, round(w * fx)), max(1, round(h * fy)))
    rng = np.random.default_rng(w * 1000 + h)
    im = Image.fromarray((rng.random((h, w, 4)) * 255).astype(np.uint8), "RGBA").convert(mode)
    out = resize(im, size)
    assert out.size == size and out.mode == mode


# Shrink-on-load (the one place libvips reads an input file) ---------------------------------
def test_shrink_on_load_matches_pillow_draft_then_lanczos(tmp_path):
    source = CORPUS / "images" / "large-4032.jpg"
    with Image.open(source) as im:
        size = im.size
        im.draft("RGB", (1000, 750))  # libjpeg at 1/4: 1008x756
        reference = pillow_lanczos(im.convert("RGB"), (1000, 750))
    ours = shrink_on_load(source, size, (1000, 750))
    assert ours.size == (1000, 750) and ours.mode == "RGB"
    assert psnr(ours, reference) > 40


def test_shrink_on_load_grey_stays_grey():
    source = CORPUS / "images" / "gray.jpg"
    with Image.open(source) as im:
        assert im.mode == "L"
        size = im.size
    half = (size[0] // 2, size[1] // 2)
    out = shrink_on_load(source, size, half)
    assert out.mode == "L" and out.size == half


def test_shrink_on_load_refuses_damage_like_pillow(tmp_path):
    data = (CORPUS / "images" / "large-4032.jpg").read_bytes()
    with Image.open(CORPUS / "images" / "large-4032.jpg") as im:
        size = im.size
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(EOFError, match="premature end"):
        shrink_on_load(cut, size, (1000, 750))
    # Bytes flipped in the entropy-coded data: libjpeg warns, and a warning is a refusal (Pillow
    # says "broken data stream" for the same file).
    damaged = bytearray(data)
    for i in range(40):
        damaged[len(data) // 3 + i * 997] ^= 0x5A
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(bytes(damaged))
    with pytest.raises(OSError):
        shrink_on_load(bad, size, (1000, 750))


def test_shrink_on_load_reads_the_file_not_options_in_its_name(tmp_path):
    """Given this name, libvips' file loader would open `photo.jpg` (which does not exist) with
    two options; the decode must read the file itself, at the size asked."""
    source = CORPUS / "images" / "large-4032.jpg"
    hostile = tmp_path / "photo.jpg[shrink=8,fail_on=none]"
    hostile.write_bytes(source.read_bytes())
    with Image.open(source) as im:
        size = im.size
    assert shrink_on_load(hostile, size, (2016, 1512)).size == (2016, 1512)
