"""Lanczos-3 resizing: libvips for the opaque 8-bit pixels photos decode to, Pillow for the rest.

Both filter with the same kernel; libvips' reducers are vectorised (Highway SIMD) where
Pillow's are plain C. On a camera photo decoded at 3000x2000, its four W1 widths take 0.147 s
in Pillow and 0.04 s in libvips, and the two results agree to within a level (PSNR over 45 dB
on real photos, tests/test_resize.py). That resize was a quarter of a photo's CPU time and
most of the gap to sharp, which is libvips.

Pillow keeps what libvips would do differently or at a cost: alpha (Pillow premultiplies
before filtering: no dark fringes), 16-bit and float modes, enlargements (libvips enlarges
with a bicubic, half a pixel off Pillow's centre) and outputs under 8 px on a side (edges).
A shrink by 4x or more first takes a box `reduce` in Pillow (the `reducing_gap` Pillow's own
thumbnail uses), so that what is copied over to libvips is small even for a 48-megapixel TIFF.

`shrink_on_load` is the one place libvips reads an input file: RGB and grey JPEGs, by far the
largest thing a worker decodes (a camera photo). libjpeg's DCT scaling and the Lanczos run in
strips, so the half-size decode (24 MB for a 24 MP photo) is never held whole: on W1 a worker
peaks at 91 MiB, where handing Pillow's decode to libvips' resize took 117 (and Pillow alone
87; libvips' own code is most of the difference). It reads the descriptor Pillow opened, never
a name (libvips parses options out of file names, and a file swapped since Pillow read the
header must not be decoded). Like Pillow it refuses a file that ends early and lets libjpeg's
warnings (extraneous bytes, a damaged segment) pass, as viewers do.
"""

from __future__ import annotations

import os

from PIL import Image

_BANDS = {"L": 1, "RGB": 3, "CMYK": 4}  # modes libvips filters as plain uchar bands
_GAP = 2.0  # shrinking by twice this or more: a box reduce first (Pillow's thumbnail default)
# Smaller than this on a side, every output pixel's kernel reaches the picture's edge, where
# libvips (which repeats the edge pixels) and a box reduce first (which drops a remainder) both
# stray from Pillow's Lanczos over the whole picture: 4x5 to 1x1 came out 15 levels apart.
# Such outputs come from small inputs (the renditions cascade), so plain Lanczos costs nothing.
_TINY = 8
_STRIP = 256  # rows handed over at a time, so the copy for libvips is made once, not twice
_vips = None


def _pyvips():
    """Imported on first use, in the worker: the fork server stays free of libvips and its
    thread pool. One thread per worker (the engine runs one worker per core) and no operation
    cache (every image here is new; a cache would only hold memory)."""
    global _vips
    if _vips is None:
        import pyvips

        pyvips.concurrency_set(1)
        pyvips.cache_set_max(0)
        _vips = pyvips
    return _vips


def resize(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`im` at exactly `size` (width, height), Lanczos 3; `im` itself when it already is."""
    if im.size == size:
        return im
    if min(size) < _TINY:
        return im.resize(size, Image.Resampling.LANCZOS)
    factor = int(min(im.width / size[0], im.height / size[1]) / _GAP)
    bands = _BANDS.get(im.mode)
    if bands is None or size[0] > im.width or size[1] > im.height:
        return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=_GAP if factor > 1 else None)
    if factor > 1:
        im = im.reduce(factor)
    vips = _pyvips()
    source = vips.Image.new_from_memory(_packed(im), im.width, im.height, bands, "uchar")
    try:
        out = _to_pillow(source, size, im.mode)
    except vips.Error as e:
        raise _error(e) from None
    out.info = dict(im.info)
    return out


def _to_pillow(image, size: tuple[int, int], mode: str) -> Image.Image:
    """A libvips image at exactly `size` (Lanczos 3 when it is not), as a Pillow image."""
    if (image.width, image.height) != size:
        image = image.resize(size[0] / image.width, vscale=size[1] / image.height, kernel="lanczos3")
    data = image.write_to_memory()
    if (image.width, image.height) != size:  # frombytes would shear a wrong size into garbage
        raise ValueError(f"libvips made {image.width}x{image.height}, not {size[0]}x{size[1]}")
    return Image.frombytes(mode, size, data)


def _packed(im: Image.Image) -> bytearray:
    """The pixels as packed bytes, copied strip by strip (`tobytes()` would hold them twice)."""
    row = im.width * len(im.getbands())
    out = bytearray(row * im.height)
    for top in range(0, im.height, _STRIP):
        bottom = min(im.height, top + _STRIP)
        out[top * row : bottom * row] = im.crop((0, top, im.width, bottom)).tobytes()
    return out


def shrink_on_load(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The RGB or grey JPEG `im` (opened by Pillow, pixels not loaded) decoded to exactly `size`:
    DCT-scaled by the largest of 1/2, 1/4, 1/8 that keeps at least `size`, then Lanczos.
    A decoder failure is an OSError (EOFError when the file ends early), running out of
    memory a MemoryError."""
    vips = _pyvips()
    shrink = 1
    while shrink < 8 and im.width >= size[0] * shrink * 2 and im.height >= size[1] * shrink * 2:
        shrink *= 2
    fd = os.dup(im.fp.fileno())
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        # libvips keeps warnings of loads that succeeded in its error buffer: clear it, so that
        # a failure here says what is wrong with this file, not with an earlier one.
        vips.vips_lib.vips_error_clear()
        stream = vips.Source.new_from_descriptor(fd)
        image = vips.Image.jpegload_source(stream, shrink=shrink, access="sequential", fail_on="truncated")
        if image.bands not in (1, 3) or image.format != "uchar":
            raise OSError(f"unexpected JPEG layout: {image.bands} bands of {image.format}")
        return _to_pillow(image, size, "RGB" if image.bands == 3 else "L")
    except vips.Error as e:
        raise _error(e) from None
    finally:
        os.close(fd)


def _error(e: Exception) -> Exception:
    """libvips' error as the exception Pillow would have raised for the same trouble."""
    detail = " ".join((getattr(e, "detail", "") or str(e)).split()).replace("VipsJpeg: ", "")
    if "out of memory" in detail:
        return MemoryError(detail)
    return (EOFError if "premature end of JPEG" in detail else OSError)(detail)
