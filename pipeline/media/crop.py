"""Where to crop for an aspect ratio: the sidecar's focal point, else a gravity, else saliency.

`crop_box` is pure geometry (property-tested: always inside the image, always the asked aspect
within a pixel). `attention` and `entropy` find a focal point on a small thumbnail, after
sharp's strategies of the same names.
"""

from __future__ import annotations

from PIL import Image

Box = tuple[int, int, int, int]

_GRAVITY = {
    "centre": (0.5, 0.5),
    "north": (0.5, 0.0),
    "south": (0.5, 1.0),
    "east": (1.0, 0.5),
    "west": (0.0, 0.5),
    "northeast": (1.0, 0.0),
    "northwest": (0.0, 0.0),
    "southeast": (1.0, 1.0),
    "southwest": (0.0, 1.0),
}


def crop_box(width: int, height: int, aspect: float | None, focus: tuple[float, float] = (0.5, 0.5)) -> Box:
    """Largest box of `aspect` (w/h) inside width x height, centred on focus (0..1) and clamped."""
    if width < 1 or height < 1:
        raise ValueError(f"image size {width}x{height} has no pixels")
    if aspect is None:
        return (0, 0, width, height)
    if width / height > aspect:
        cw, ch = max(1, min(width, round(height * aspect))), height
    else:
        cw, ch = width, max(1, min(height, round(width / aspect)))
    fx, fy = (min(1.0, max(0.0, v)) for v in focus)
    left = min(max(0, round(fx * width - cw / 2)), width - cw)
    top = min(max(0, round(fy * height - ch / 2)), height - ch)
    return (left, top, left + cw, top + ch)


def gravity_focus(name: str) -> tuple[float, float]:
    return _GRAVITY[name]


def _thumb(im: Image.Image, size: int = 192) -> Image.Image:
    thumb = im.convert("RGB") if im.mode != "RGB" else im
    scale = size / max(im.size)
    if scale < 1:
        thumb = thumb.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BOX)
    return thumb


def _best_window(score, aspect: float) -> tuple[float, float]:
    """Centre (0..1) of the aspect-shaped window with the highest total score (integral image)."""
    import numpy as np

    h, w = score.shape
    left, top, right, bottom = crop_box(w, h, aspect)
    cw, ch = right - left, bottom - top
    integral = np.pad(score, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    sums = integral[ch:, cw:] - integral[:-ch, cw:] - integral[ch:, :-cw] + integral[:-ch, :-cw]
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return ((x + cw / 2) / w, (y + ch / 2) / h)


def attention(im: Image.Image, aspect: float) -> tuple[float, float]:
    """Focus on detail (luminance edges), saturated colour and skin tones, as sharp's `attention`."""
    import numpy as np  # only crops need it; a plain resize job never pays for the import

    rgb = np.asarray(_thumb(im), dtype=np.float32)
    lum = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gy, gx = np.gradient(lum)
    edges = np.hypot(gx, gy)
    mx, mn = rgb.max(axis=2), rgb.min(axis=2)
    saturation = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    skin = ((cr > 135) & (cr < 180) & (cb > 85) & (cb < 135) & (lum > 40)).astype(np.float32)
    score = edges / (edges.max() or 1) + 0.5 * saturation * (saturation > 0.35) + 0.7 * skin
    return _best_window(score, aspect)


def entropy(im: Image.Image, aspect: float) -> tuple[float, float]:
    """Keep the window whose grey levels carry the most information (Shannon entropy)."""
    import numpy as np

    grey = np.asarray(_thumb(im).convert("L"))
    h, w = grey.shape
    left, top, right, bottom = crop_box(w, h, aspect)
    cw, ch = right - left, bottom - top
    best, focus = -1.0, (0.5, 0.5)
    xs = np.linspace(0, w - cw, num=min(24, w - cw + 1)).round().astype(int)
    ys = np.linspace(0, h - ch, num=min(24, h - ch + 1)).round().astype(int)
    for y in ys:
        for x in xs:
            hist = np.bincount(grey[y : y + ch, x : x + cw].ravel(), minlength=256).astype(np.float64)
            p = hist[hist > 0] / hist.sum()
            e = float(-(p * np.log2(p)).sum())
            if e > best + 1e-9:
                best, focus = e, ((x + cw / 2) / w, (y + ch / 2) / h)
    return focus


def choose_focus(im: Image.Image, aspect: float | None, sidecar_focus, gravity: str) -> tuple[tuple[float, float], str]:
    """(focus, how it was chosen): the sidecar wins, then a fixed gravity, then saliency."""
    if sidecar_focus is not None:
        return (float(sidecar_focus[0]), float(sidecar_focus[1])), "sidecar"
    if aspect is None or gravity in _GRAVITY:
        return gravity_focus(gravity if gravity in _GRAVITY else "centre"), gravity
    if min(im.size) < 3:  # a line of pixels has no detail to find (and no gradient to take)
        return gravity_focus("centre"), "centre"
    finder = attention if gravity == "attention" else entropy
    return finder(im, aspect), gravity
