"""Where to crop for an aspect ratio: the sidecar's focal point, else a gravity, else saliency.

`crop_box` is pure geometry (property-tested: always inside the image, always the asked aspect
within a pixel). `attention` and `entropy` find a focal point on a small thumbnail, after
sharp's strategies of the same names.
"""

from __future__ import annotations

from array import array

from PIL import Image, ImageMath

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


def _gradient(lum: Image.Image, axis: int) -> Image.Image:
    """d(lum)/dx (axis 0) or d/dy (axis 1) of an "F" image, as numpy.gradient takes it: central
    differences inside, one-sided at the borders (a 3x3 filter would leave the border alone)."""
    w, h = lum.size
    n = (w, h)[axis]
    out = Image.new("F", lum.size, 0.0)

    def band(a: int, b: int) -> Box:
        return (a, 0, b, h) if axis == 0 else (0, a, w, b)

    def diff(hi: Box, lo: Box, scale: float) -> Image.Image:
        return ImageMath.lambda_eval(lambda v: (v["hi"] - v["lo"]) * scale, hi=lum.crop(hi), lo=lum.crop(lo))

    if n > 2:
        out.paste(diff(band(2, n), band(0, n - 2), 0.5), band(1, n - 1))
    if n > 1:
        out.paste(diff(band(1, 2), band(0, 1), 1.0), band(0, 1))
        out.paste(diff(band(n - 1, n), band(n - 2, n - 1), 1.0), band(n - 1, n))
    return out


def _score(v):
    """Per pixel: normalised edge strength, strong saturation, skin tones (YCbCr box)."""
    r, g, b = v["r"], v["g"], v["b"]
    top = v["max"](v["max"](r, g), b)
    sat = (top - v["min"](v["min"](r, g), b)) / v["max"](top, 1)
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    skin = (cr > 135) * (cr < 180) * (cb > 85) * (cb < 135) * (v["lum"] > 40)
    return v["edges"] / v["strongest"] + 0.5 * sat * (sat > 0.35) + 0.7 * skin


def _best_window(score: Image.Image, aspect: float) -> tuple[float, float]:
    """Centre (0..1) of the aspect-shaped window with the highest total score.

    The largest window of an aspect always spans the whole width or the whole height, so only
    one offset is free: the score is summed across the other axis (a BOX resize to one line)
    and the window slides along that line. Windows that tie (a flag's stripes, a flat
    background) resolve to the one nearest the middle, not to whichever rounding favours."""
    w, h = score.size
    left, top, right, bottom = crop_box(w, h, aspect)
    span, along_x = (right - left, True) if bottom - top == h else (bottom - top, False)
    line = array("f", score.resize((w, 1) if along_x else (1, h), Image.Resampling.BOX).tobytes())
    sums = [sum(line[:span])]
    for i in range(1, len(line) - span + 1):
        sums.append(sums[-1] + line[i + span - 1] - line[i - 1])
    best = max(sums)
    middle = (len(sums) - 1) / 2
    at = min(
        (i for i, total in enumerate(sums) if total >= best - 1e-6 * max(abs(best), 1)),
        key=lambda i: (abs(i - middle), i),
    )
    return ((at + span / 2) / w, 0.5) if along_x else (0.5, (at + span / 2) / h)


def attention(im: Image.Image, aspect: float) -> tuple[float, float]:
    """Focus on detail (luminance edges), saturated colour and skin tones, as sharp's `attention`.

    Pillow only (float images and ImageMath), no numpy: every photo's share picture is cut
    here, and importing numpy put 0.12 s on the critical path of every run (W1, #12)."""
    r, g, b = (c.convert("F") for c in _thumb(im).split())
    lum = ImageMath.lambda_eval(lambda v: v["r"] * 0.299 + v["g"] * 0.587 + v["b"] * 0.114, r=r, g=g, b=b)
    gx, gy = _gradient(lum, 0), _gradient(lum, 1)
    edges = ImageMath.lambda_eval(lambda v: (v["x"] * v["x"] + v["y"] * v["y"]) ** 0.5, x=gx, y=gy)
    strongest = edges.getextrema()[1] or 1
    score = ImageMath.lambda_eval(_score, r=r, g=g, b=b, lum=lum, edges=edges, strongest=strongest)
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
