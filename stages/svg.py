"""SVG logos: sanitise (allow-list), keep the clean SVG where the profile wants it, rasterise for pixels.

An SVG is a program as much as a picture: scripts, event handlers, external references (SSRF),
entities (billion laughs, XXE). Only known drawing elements and attributes survive; references
must point inside the document; entities and unknown namespaces are refused or dropped.
Rasterising uses rsvg-convert (librsvg) on the sanitised bytes only.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from PIL import Image

from pipeline.atomic import write_bytes_atomic
from pipeline.config.profile import ImageOptions
from pipeline.errors import InputError
from pipeline.job import Job
from pipeline.names import safe_stem

SVG_NS, XLINK_NS, XML_NS = (
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/XML/1998/namespace",
)

ELEMENTS = {
    "svg",
    "g",
    "defs",
    "symbol",
    "use",
    "title",
    "desc",
    "style",
    "switch",
    "a",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "text",
    "tspan",
    "textPath",
    "image",
    "marker",
    "pattern",
    "clipPath",
    "mask",
    "linearGradient",
    "radialGradient",
    "stop",
    "filter",
    "feBlend",
    "feColorMatrix",
    "feComponentTransfer",
    "feComposite",
    "feConvolveMatrix",
    "feDiffuseLighting",
    "feDisplacementMap",
    "feDistantLight",
    "feDropShadow",
    "feFlood",
    "feFuncA",
    "feFuncB",
    "feFuncG",
    "feFuncR",
    "feGaussianBlur",
    "feMerge",
    "feMergeNode",
    "feMorphology",
    "feOffset",
    "fePointLight",
    "feSpecularLighting",
    "feSpotLight",
    "feTile",
    "feTurbulence",
}
_URL = re.compile(r"url\(\s*(['\"]?)\s*([^)'\"]*?)\s*\1\s*\)", re.I)
_DATA_RASTER = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$", re.I)


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _unsafe_css(text: str) -> bool:
    low = text.lower()
    if "@import" in low or "expression(" in low or "javascript:" in low or "behavior:" in low:
        return True
    return any(not m.group(2).startswith("#") for m in _URL.finditer(text))


def sanitise(data: bytes) -> tuple[bytes, Counter]:
    """Clean SVG bytes and what was removed; InputError for entities or unparsable XML."""
    try:
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise InputError("SVG declares XML entities or external resources (XXE/billion-laughs risk); refused") from None
    except ET.ParseError as e:
        raise InputError(f"SVG is not well-formed XML ({e})") from None
    if _local(root.tag) != (SVG_NS, "svg"):
        raise InputError("file has <svg> in it but its root element is not an SVG <svg> element")
    removed: Counter = Counter()
    _clean(root, removed)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), removed


def _clean(el: ET.Element, removed: Counter) -> None:
    for child in list(el):
        ns, name = _local(child.tag) if isinstance(child.tag, str) else ("", "")
        if ns != SVG_NS or name not in ELEMENTS:
            el.remove(child)
            if name.lower() == "script":
                removed["script"] += 1
            elif ns == SVG_NS or not ns:
                removed[f"element <{name or 'comment'}>"] += 1
            continue
        if name == "style" and _unsafe_css(child.text or ""):
            el.remove(child)
            removed["style sheet with external references"] += 1
            continue
        _clean(child, removed)
    for attr in list(el.attrib):
        ns, name = _local(attr)
        value = el.attrib[attr]
        if name.lower().startswith("on"):
            del el.attrib[attr]
            removed["event handler"] += 1
        elif ns not in ("", XLINK_NS, XML_NS):
            del el.attrib[attr]  # editor namespaces (inkscape:, sodipodi:): harmless, but not ours to keep
        elif name == "href":
            ok = value.startswith("#") or (_local(el.tag)[1] == "image" and _DATA_RASTER.match(value))
            if not ok:
                del el.attrib[attr]
                removed["external reference"] += 1
        elif ("url(" in value.lower() or name == "style") and _unsafe_css(value):
            del el.attrib[attr]
            removed["external reference"] += 1
    if el.text and _local(el.tag)[1] not in ("style", "text", "tspan", "textPath", "title", "desc"):
        el.text = el.text if not el.text.strip() else None


def _length(value: str | None) -> float | None:
    m = re.fullmatch(r"\s*([0-9.]+)\s*(px)?\s*", value or "")
    return float(m.group(1)) if m else None


def intrinsic_size(clean: bytes) -> tuple[float, float]:
    root = ET.fromstring(clean)
    w, h = _length(root.get("width")), _length(root.get("height"))
    box = [float(v) for v in re.split(r"[\s,]+", (root.get("viewBox") or "").strip()) if v] or None
    if (not w or not h) and box and len(box) == 4 and box[2] > 0 and box[3] > 0:
        if w and not h:
            h = w * box[3] / box[2]
        elif h and not w:
            w = h * box[2] / box[3]
        else:
            w, h = box[2], box[3]
    return (w or 300.0, h or 150.0)  # the CSS default size of a replaced element


def rasterise(clean: bytes, width: int, timeout: float = 60) -> Image.Image:
    exe = shutil.which("rsvg-convert")
    if exe is None:
        raise InputError(
            "rsvg-convert is not installed, so SVG cannot be rasterised; run `crossmedia doctor` for the fix"
        )
    try:
        done = subprocess.run(
            [exe, "--width", str(width), "--keep-aspect-ratio", "--format", "png"],
            input=clean,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"SVG took longer than {timeout:g} s to rasterise; refused") from None
    if done.returncode != 0 or not done.stdout:
        raise InputError(
            f"SVG cannot be rasterised: {done.stderr.decode(errors='replace').strip()[:200] or 'rsvg-convert failed'}"
        )
    im = Image.open(io.BytesIO(done.stdout))
    im.load()
    return im.convert("RGBA")


def svg(job: Job, opts: ImageOptions) -> Job:
    """Sanitise; write the clean SVG when the profile keeps vectors; rasterise for the renditions."""
    if opts.svg == "refuse":
        raise InputError(f'profile {job.profile.name} refuses SVG (svg = "refuse"); export the logo as PNG')
    clean, removed = sanitise(job.source.read_bytes())
    w, h = intrinsic_size(clean)
    for what, n in sorted(removed.items()):
        job = job.warn(f"SVG sanitised: removed {n} {what}{'s' if n > 1 and not what.endswith('s') else ''}")
    if opts.svg == "keep":
        final = job.out_dir / f"{safe_stem(Path(job.rel).name)}.svg"
        size = write_bytes_atomic(final, job.tmp_dir, clean)
        job = job.with_output(final, format="svg", width=round(w), height=round(h), bytes=size, aspect="original")
    target = (
        max(opts.widths)
        if opts.widths
        else (round(opts.print_width_mm / 25.4 * opts.min_ppi) if opts.print_width_mm else round(w))
    )
    target = max(1, min(target, 16384))
    if target * target * h / w > job.limits.max_pixels:
        raise InputError("SVG would rasterise larger than [limits] max_pixels; refused")
    pixels = rasterise(clean, target, timeout=min(120, job.limits.timeout))
    facts = {
        "format": "svg",
        "mode": "RGBA",
        "width": round(w),
        "height": round(h),
        "orientation": 1,
        "display_width": pixels.width,
        "display_height": pixels.height,
        "frames": 1,
        "vector": True,
        "svg_removed": dict(removed),
        "has_alpha": True,
    }
    return replace(job, pixels=pixels, svg=clean, facts={**job.facts, **facts})
