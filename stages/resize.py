"""Lanczos-3 resizing: libvips for the opaque 8-bit pixels photos decode to, Pillow for the rest.

Both filter with the same kernel; libvips' reducers are vectorised (Highway SIMD) where
Pillow's are plain C. On a camera photo decoded at 3000x2000, its four W1 widths take 0.147 s
in Pillow and 0.04 s in libvips, and the two results differ by 0.3 levels on average (PSNR
52-54 dB, tests/test_resize.py). That resize was a quarter of a photo's CPU time and most of
the gap to sharp, which is libvips.

Alpha goes through Pillow, which premultiplies before filtering (no dark fringes); so do 16-bit
and float modes, which photos do not decode to.

`shrink_on_load` is the one place libvips reads an input file: RGB and grey JPEGs, by far the
largest thing a worker decodes (a camera photo). libjpeg's DCT scaling and the Lanczos run in
strips, so the half-size decode (24 MB for a 24 MP photo) is never held whole: on W1 a worker
peaks at 91 MiB, where handing Pillow's decode to libvips' resize took 117 (and Pillow alone
87; libvips' own code is most of the difference). It reads from a descriptor,
never a name (libvips parses options out of file names), and fails on a libjpeg warning as
Pillow does, so a damaged file is refused the same way whichever library reads it.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

_BANDS = {"L": 1, "RGB": 3, "CMYK": 4}  # modes libvips filters as plain uchar bands
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
    bands = _BANDS.get(im.mode)
    if bands is None:
        # A box pre-reduction first when shrinking a lot: much faster, no visible difference.
        gap = 3.0 if im.width > 3 * size[0] else None
        return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=gap)
    vips = _pyvips()
    source = vips.Image.new_from_memory(im.tobytes(), im.width, im.height, bands, "uchar")
    scaled = source.resize(size[0] / im.width, vscale=size[1] / im.height, kernel="lanczos3")
    out = Image.frombytes(im.mode, size, scaled.write_to_memory())
    out.info = dict(im.info)
    return out



def shrink_on_load(path: Path, source_size: tuple[int, int], size: tuple[int, int]) -> Image.Image:
    """The RGB or grey JPEG at `path` (`source_size` pixels, as stored) decoded to exactly
    `size`: DCT-scaled by the largest of 1/2, 1/4, 1/8 that keeps at least `size`, then Lanczos.
    A decoder failure is an OSError (EOFError when the file ends early)."""
    vips = _pyvips()
    shrink = 1
    while shrink < 8 and source_size[0] >= size[0] * shrink * 2 and source_size[1] >= size[1] * shrink * 2:
        shrink *= 2
    with open(path, "rb") as f:
        try:
            stream = vips.Source.new_from_descriptor(f.fileno())
            image = vips.Image.jpegload_source(stream, shrink=shrink, access="sequential", fail_on="warning")
            if image.bands not in (1, 3) or image.format != "uchar":
                raise OSError(f"unexpected JPEG layout: {image.bands} bands of {image.format}")
            if (image.width, image.height) != size:
                image = image.resize(size[0] / image.width, vscale=size[1] / image.height, kernel="lanczos3")
            data = image.write_to_memory()
        except vips.Error as e:
            detail = " ".join((e.detail or e.message).split()).removeprefix("VipsJpeg: ")
            raise (EOFError if "premature end of JPEG" in detail else OSError)(detail) from None
    return Image.frombytes("RGB" if image.bands == 3 else "L", size, data)
