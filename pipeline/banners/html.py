"""What a banner looks like at one size: layout boxes, CSS keyframes, the platform's click wiring.

Everything is computed here in Python and handed to `site_templates/banners/*.html` as a
context dataclass; the templates only print (STYLE.md, "Templates"). The CSS and scripts are
built from validated values only (colours, font names, an https URL), so they are wrapped in
Markup; the texts go through autoescaping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from jinja2 import Environment
from markupsafe import Markup

from pipeline import templates
from pipeline.banners.spec import Banner, Frame

FIT_SLACK = 0.06  # text is fitted 6 % narrower than its box: other machines' fonts differ a little
STRIP_SUBLINE_MIN_H = 60  # strips lower than this show the headline only (320x50, 300x50)
STRIP_PRODUCT_MIN_W = 600  # strips narrower than this have no room for the product image (320x50, 320x100)


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Layout:
    kind: str  # strip | wide | tall | box
    boxes: dict[str, Box]  # logo, text, product, cta (the background fills the ad)
    fonts: dict[str, float]  # headline, subline, cta: px before fitting
    scrim: str  # direction of the gradient that keeps text legible over a photo
    align: str  # text alignment
    subline: bool = True  # False where a second line has no room (strips under 60 px high)
    # What the banner asked for that this size leaves out, and why: the build warns (#12).
    left_out: tuple[tuple[str, str], ...] = ()


def contain(box: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """Largest size of width:height inside box (whole image shown, aspect kept)."""
    fit = min(box[0] / width, box[1] / height)
    return max(1, round(width * fit)), max(1, round(height * fit))


def layout(w: int, h: int, has: set[str], logo_aspect: float = 3.0, product_aspect: float = 1.0) -> Layout:
    """Boxes for one size; four families cover the IAB sizes (strips, wide, tall, boxes)."""
    pad = max(4, round(min(w, h) * 0.06))
    gap = pad
    boxes: dict[str, Box] = {}
    if h <= 120 and w / h >= 2.5:  # 728x90, 970x90, 320x50, 300x50, 320x100
        ih = h - 2 * pad
        left_out = []
        x, right = pad, w - pad
        if "logo" in has:
            lw = min(ih * (0.8 if h >= 90 else 1.0) * logo_aspect, w * 0.22)
            lh = lw / logo_aspect
            boxes["logo"] = Box(x, round((h - lh) / 2), round(lw), round(lh))
            x += round(lw) + gap
        ch = round(min(ih, max(18, h * 0.5)))
        if "cta" in has:
            cw = round(min(170, max(64, w * 0.2)))
            boxes["cta"] = Box(right - cw, round((h - ch) / 2), cw, ch)
            right -= cw + gap
        if "product" in has and w >= STRIP_PRODUCT_MIN_W:
            pw = round(min(ih * product_aspect, w * 0.16))
            boxes["product"] = Box(right - pw, pad, pw, ih)
            right -= pw + gap
        elif "product" in has:
            left_out.append(
                (
                    "product",
                    f"a strip {w} px wide has no room for a product picture beside the text and the call-to-action "
                    f"({STRIP_PRODUCT_MIN_W} px needed)",
                )
            )
        if h < STRIP_SUBLINE_MIN_H:  # the caller drops the sub-line only if the banner has one
            left_out.append(
                (
                    "subline",
                    f"a strip {h} px high has room for one line of text (a sub-line needs {STRIP_SUBLINE_MIN_H} px)",
                )
            )
        boxes["text"] = Box(x, pad, right - x, ih)
        head = ih * 0.4
        return Layout(
            "strip",
            boxes,
            {"headline": head, "subline": head * 0.55, "cta": ch * 0.4},
            "to right",
            "left",
            subline=h >= STRIP_SUBLINE_MIN_H,
            left_out=tuple(left_out),
        )
    if w / h >= 2.5:  # 970x250
        top = pad
        if "logo" in has:
            lw = min(h * 0.18 * logo_aspect, w * 0.25)
            boxes["logo"] = Box(pad, pad, round(lw), round(lw / logo_aspect))
            top += round(lw / logo_aspect) + gap
        text = Box(pad, top, round(w * 0.5), round(h * 0.42))
        boxes["text"] = text
        ch = round(h * 0.17)
        if "cta" in has:
            boxes["cta"] = Box(pad, min(text.y + text.h + gap, h - pad - ch), round(w * 0.16), ch)
        if "product" in has:
            px = round(w * 0.56)
            boxes["product"] = Box(px, pad, w - pad - px, h - 2 * pad)
        head = h * 0.14
        return Layout("wide", boxes, {"headline": head, "subline": head * 0.55, "cta": ch * 0.4}, "to right", "left")
    if h / w >= 1.6:  # 160x600, 300x600, 300x1050
        top = 2 * pad
        if "logo" in has:
            lw = min(w - 2 * pad, h * 0.1 * logo_aspect)
            boxes["logo"] = Box(pad, top, w - 2 * pad, round(lw / logo_aspect))
            top += round(lw / logo_aspect) + 2 * gap
        text = Box(pad, top, w - 2 * pad, round(h * 0.26))
        boxes["text"] = text
        ch = round(min(56, max(28, h * 0.065)))
        cw = w - 2 * pad if w < 200 else round(w * 0.7)
        cta_y = h - 2 * pad - ch
        if "cta" in has:
            boxes["cta"] = Box(round((w - cw) / 2), cta_y, cw, ch)
        if "product" in has:
            py = text.y + text.h + gap
            boxes["product"] = Box(pad, py, w - 2 * pad, (cta_y if "cta" in has else h - pad) - gap - py)
        head = min(w * 0.15, 44)
        return Layout("tall", boxes, {"headline": head, "subline": head * 0.55, "cta": ch * 0.4}, "to bottom", "center")
    # 300x250, 336x280
    top = pad
    if "logo" in has:
        lw = min(h * 0.14 * logo_aspect, w * 0.45)
        boxes["logo"] = Box(pad, pad, round(lw), round(lw / logo_aspect))
        top += round(lw / logo_aspect) + gap
    text = Box(pad, top, w - 2 * pad, round(h * 0.32))
    boxes["text"] = text
    ch = round(h * 0.15)
    if "cta" in has:
        boxes["cta"] = Box(pad, h - pad - ch, round(w * 0.42), ch)
    if "product" in has:
        px = round(w * 0.48)
        py = text.y + text.h + gap // 2
        boxes["product"] = Box(px, py, w - pad - px, h - pad - py)
    head = h * 0.11
    return Layout("box", boxes, {"headline": head, "subline": head * 0.55, "cta": ch * 0.4}, "to bottom", "left")


# Animation ------------------------------------------------------------------------------------
def _hidden(effect: str, vertical: bool) -> str:
    move = {"slide": "translateY(16px)" if vertical else "translateX(-24px)", "scale": "scale(.6)"}.get(effect, "none")
    return f"opacity:0;transform:{move}"


_SHOWN = "opacity:1;transform:none"


def _pct(t: float, cycle: float) -> str:
    return f"{t / cycle * 100:.3f}".rstrip("0").rstrip(".") + "%"


def animation_css(frames: tuple[Frame, ...], cycle: float, loops: int, present: set[str], vertical: bool) -> str:
    """One @keyframes per element over one play; the play repeats `loops` times, then holds its
    last frame (fill-mode both), which is also the element's base style (no motion, backup)."""
    css = []
    starts = [sum(f.duration for f in frames[:i]) for i in range(len(frames))]
    last = len(frames) - 1
    for element in sorted(present):
        vis = [element in f.show for f in frames]
        final = _SHOWN if vis[-1] else "opacity:0"
        selector = f"#{element}"
        css.append(f"{selector}{{{final}}}")
        if all(vis) and element == "background":
            continue  # the background is there from the first moment; everything else comes in
        hidden = "opacity:0;transform:none"
        points: list[tuple[float, str]] = [(0.0, _hidden(frames[0].effect, vertical) if vis[0] else hidden)]
        for i, frame in enumerate(frames):
            start, end = starts[i], starts[i] + frame.duration
            if vis[i] and (i == 0 or not vis[i - 1]):  # comes in with this frame's effect
                t_in = 0.01 if frame.effect == "none" else min(0.6, 0.4 * frame.duration)
                points += [(start, _hidden(frame.effect, vertical)), (start + t_in, _SHOWN)]
            if vis[i] and i < last and not vis[i + 1]:  # fades out before the next frame
                points += [(end - min(0.3, 0.2 * frame.duration), _SHOWN), (end, hidden)]
        points.append((cycle, _SHOWN if vis[-1] else hidden))
        points = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
        steps = "".join(f"{_pct(t, cycle)}{{{state}}}" for t, state in points)
        css.append(f"@keyframes k-{element}{{{steps}}}")
        css.append(f"{selector}{{animation:k-{element} {cycle:g}s ease-out 0s {loops} both}}")
    css.append("@media (prefers-reduced-motion:reduce){#ad *{animation:none!important}}")
    return "\n".join(css)


# Platforms ------------------------------------------------------------------------------------
def _js(value: str) -> str:
    return json.dumps(value).replace("</", "<\\/")


def head_script(banner: Banner) -> Markup:
    """What the platform wants in <head>: google's top-level clickTag, Adform's DHTML library,
    Flashtalking's HTML5 API."""
    url, name = banner.spec.click_url, banner.platform.name
    if name == "google":
        return Markup(f"<script>var clickTag = {_js(url)};</script>")
    if name == "adform":
        loader = banner.platform.loader
        return Markup(
            "<script>document.write('<script src=\"' + (window.API_URL || '"
            + loader
            + "?bv=' + Math.random()) + '\"><\\/script>');</script>"
        )
    if name == "flashtalking":
        return Markup(f'<script src="{banner.platform.loader}"></script>')
    return Markup("")


def click_script(banner: Banner) -> Markup:
    """The whole ad opens the click-through in a new window, the platform's way. Without the
    platform's library (a preview, the build's own browser) the ad still opens the URL."""
    url, name = banner.spec.click_url, banner.platform.name
    if name == "google":
        target, opener = "", "window.open(window.clickTag, '_blank');"
    elif name == "adform":
        target = (
            f"var clickTAGvalue = window.dhtml ? dhtml.getVar('clickTAG', '{url}') : '{url}';\n"
            "var landingPageTarget = window.dhtml ? dhtml.getVar('landingPageTarget', '_blank') : '_blank';\n"
        )
        opener = "window.open(clickTAGvalue, landingPageTarget);"
    elif name == "flashtalking":
        target = f"var clickthroughUrl = {_js(url)};\nvar myFT = window.FT ? new FT() : null;\n"
        opener = "if (myFT) { myFT.clickTag(1); } else { window.open(clickthroughUrl, '_blank'); }"
    else:  # IAB: the ad server passes clickTag as a global or in the query string
        target = (
            f"var clickTag = window.clickTag || new URLSearchParams(location.search).get('clickTag') || {_js(url)};\n"
        )
        opener = "window.open(clickTag, '_blank');"
    return Markup(
        "<script>\n"
        + target
        + "var ad = document.getElementById('ad');\n"
        + f"function exit() {{ {opener} }}\n"
        + "ad.addEventListener('click', exit);\n"
        + "ad.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { "
        "e.preventDefault(); exit(); } });\n" + "</script>"
    )


def manifest(banner: Banner, size: str) -> tuple[str, bytes] | None:
    """The platform's manifest at the zip root: Adform's manifest.json, Flashtalking's manifest.js."""
    w, h = (int(v) for v in size.split("x"))
    title = banner.spec.title or banner.name
    if banner.platform.name == "adform":
        doc = {
            "version": "1.0",
            "title": f"{title} {size}",
            "description": "",
            "width": str(w),
            "height": str(h),
            "events": {"enabled": 1, "list": {}},
            "clicktags": {"clickTAG": banner.spec.click_url},
            "source": "index.html",
        }
        return "manifest.json", (json.dumps(doc, indent=2) + "\n").encode()
    if banner.platform.name == "flashtalking":
        doc = {"filename": "index.html", "width": w, "height": h, "clickTagCount": 1}
        return "manifest.js", f"FT.manifest({json.dumps(doc, indent=2)});\n".encode()
    return None


# Pages ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Picture:
    src: str
    width: int  # CSS px
    height: int


@dataclass(frozen=True)
class AdPage:
    """Context of site_templates/banners/ad.html."""

    lang: str
    title: str
    width: int
    height: int
    label: str  # what a screen reader says for the whole ad
    css: Markup
    head_script: Markup
    extra_html: Markup
    click_script: Markup
    background: Picture | None
    scrim: bool
    product: Picture | None
    logo: Picture | None
    headline: str
    headline_px: float
    subline: str
    subline_px: float
    cta: str
    cta_px: float


def _rgb(colour: str) -> str:
    return ",".join(str(int(colour[i : i + 2], 16)) for i in (1, 3, 5))


def page_css(
    banner: Banner, w: int, h: int, lay: Layout, pictures: dict[str, tuple[Picture, Box]], fonts: dict[str, float]
) -> str:
    st = banner.spec.style
    bg = _rgb(st.background)
    css = [
        "*{margin:0;padding:0;box-sizing:border-box}",
        f"html,body{{width:{w}px;height:{h}px;overflow:hidden;background:{st.background}}}",
        f"#ad{{position:relative;width:{w}px;height:{h}px;overflow:hidden;cursor:pointer;background:{st.background};"
        f"font-family:{st.font};color:{st.text}}}",
        "#ad>*{position:absolute}",
        f"#background{{left:0;top:0;width:{w}px;height:{h}px}}",
        f"#scrim{{left:0;top:0;width:{w}px;height:{h}px;background:linear-gradient({lay.scrim},rgba({bg},.88) 0%,"
        f"rgba({bg},.6) 50%,rgba({bg},.2) 100%)}}",
        f"#edge{{left:0;top:0;width:{w}px;height:{h}px;border:1px solid {st.border};pointer-events:none}}",
    ]
    for role, (pic, _) in pictures.items():
        if role == "background":
            continue
        box = lay.boxes[role]
        left = box.x if role == "logo" and lay.align == "left" else box.x + (box.w - pic.width) // 2
        css.append(
            f"#{role}{{left:{left}px;top:{box.y + (box.h - pic.height) // 2}px;"
            f"width:{pic.width}px;height:{pic.height}px}}"
        )
    t = lay.boxes["text"]
    justify = "safe center" if lay.kind in ("strip", "wide") else "flex-start"
    css.append(
        f"#text{{left:{t.x}px;top:{t.y}px;width:{t.w}px;height:{t.h}px;overflow:hidden;display:flex;"
        f"flex-direction:column;justify-content:{justify};text-align:{lay.align};line-height:1.15}}"
    )
    css.append(f"#headline{{font-weight:700;font-size:{fonts['headline']:g}px}}")
    css.append(f"#subline{{margin-top:.3em;font-size:{fonts['subline']:g}px}}")
    if "cta" in lay.boxes:
        c = lay.boxes["cta"]
        css.append(
            f"#cta{{left:{c.x}px;top:{c.y}px;width:{c.w}px;height:{c.h}px;display:flex;align-items:center;"
            "justify-content:center;padding:0 "
            f"{max(2, round(c.w * 0.08))}px;overflow:hidden;white-space:nowrap;border-radius:{max(2, c.h // 6)}px;"
            f"background:{st.accent};color:{st.cta_text};font-weight:700;font-size:{fonts['cta']:g}px}}"
        )
    return "\n".join(css)


def _env() -> Environment:
    return templates.environment(folder="banners")


def render_ad(page: AdPage) -> str:
    return _env().get_template("ad.html").render(page=page)


@dataclass(frozen=True)
class ShowcaseSize:
    size: str
    width: int
    height: int
    src: str  # the ad's index.html, relative to the showcase
    zip_href: str
    zip_kb: str
    budget_kb: str
    backup_href: str
    backup_kb: str
    share: str  # e.g. "31 %" of the budget
    retina: str  # "2x images" or "1x images"


@dataclass(frozen=True)
class Showcase:
    """Context of site_templates/banners/showcase.html."""

    title: str
    name: str
    platform: str
    click_url: str
    duration: str
    sizes: list[ShowcaseSize]


def render_showcase(page: Showcase) -> str:
    return _env().get_template("showcase.html").render(page=page)
