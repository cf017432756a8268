"""Check an HTML5 banner the way ad servers check an upload: the zip, its files, its references.

`check_zip` reads a finished zip back and applies the rules CM360, Ad Manager and Google Ads
apply at upload (names from their validators: PRIMARY_HTML_MISSING, LINKED_FILE_NOT_FOUND,
ORPHANED_ASSET, EXTERNAL_FILE_REFERENCED, FILES_TOO_MANY...), plus the IAB's and ours. It knows
nothing about how the banner was made, so it judges any zip the same way. What only a browser
can tell (text overflow, requests, console errors, the click) is in `pipeline.banners.browser`.
"""

from __future__ import annotations

import json
import posixpath
import re
import urllib.parse
import zipfile
from pathlib import Path

import defusedxml.ElementTree as SafeET
from bs4 import BeautifulSoup

from pipeline.banners.spec import BUDGETS, KB, Banner, Platform, Violation, click_url_problems

NAME = re.compile(r"^[0-9A-Za-z._-]+$")
CLUTTER = {".ds_store", "__macosx", "thumbs.db", "desktop.ini"}
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]*)\1\s*\)|@import\s+(['"])([^'"]+)\3""", re.I)
_JS_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s'"<>)\\]*""")
_STORAGE = re.compile(r"\b(localStorage|sessionStorage|indexedDB|openDatabase)\b|document\.cookie")
_INFINITE = re.compile(r"animation(?:-iteration-count)?\s*:[^;}]*\binfinite\b", re.I)
_STRUCTURE = [
    (r"^\s*<!doctype html>", "<!DOCTYPE html> first"),
    (r"<html[\s>]", "<html>"),
    (r"<head[\s>]", "<head>"),
    (r"</head>", "</head>"),
    (r"<body[\s>]", "<body>"),
    (r"</body>", "</body>"),
    (r"</html>", "</html>"),
]
_NAMESPACES = ("http://www.w3.org/", "https://www.w3.org/")
_CLICK_VALUE = re.compile(
    r"""(?:\b(?:clickTag|clickTAG|clickthroughUrl)\s*=\s*|getVar\(\s*['"]clickTAG['"]\s*,\s*)["']([^"']+)["']"""
)
_SKIP_SCHEMES = ("data:", "javascript:", "#", "about:blank")


def check_zip(path: Path, banner: Banner, size: str) -> list[Violation]:
    """Every violation of the zip at `path` for this banner's platform, size and budget."""
    out: list[Violation] = []
    stem = path.name.removesuffix(".zip")
    if len(stem) > 50:
        out.append(
            Violation(
                "FILE_NAME_TOO_LONG",
                f"the zip name {stem} has {len(stem)} characters; Google Ads takes 50.",
                "give the banner file a shorter name.",
                size,
            )
        )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            files: dict[str, bytes] = {}
            for info in infos:
                name = info.filename
                if info.flag_bits & 0x1:
                    out.append(Violation("ZIP_INVALID", f"{name} is encrypted.", "zip without a password.", size))
                elif name.startswith("/") or ".." in name.split("/") or "\\" in name:
                    out.append(
                        Violation("ZIP_INVALID", f"{name!r} points outside the zip.", "zip the ad's files only.", size)
                    )
                elif info.is_dir():
                    if any(part.lower() in CLUTTER for part in name.strip("/").split("/")):
                        out.append(_clutter(name, size))
                else:
                    files[name] = zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return [*out, Violation("ZIP_INVALID", f"the zip cannot be read ({e}).", "build it again.", size)]
    out += check_files(files, banner, size)
    out += check_weight(path.stat().st_size, banner, size)
    return out


def check_weight(zip_bytes: int, banner: Banner, size: str) -> list[Violation]:
    budget = banner.budget_kb(size)
    if zip_bytes <= budget * KB:
        return []
    cap, own = banner.platform.zip_cap_kb, banner.own_budget_kb(size)
    uncapped = BUDGETS[size].kb if own is None else own
    note = ""
    if cap and budget == cap and cap < uncapped:
        source = f"{banner.platform.name}'s cap"
    elif own is not None:
        source = "its budget ([budgets])"
    elif BUDGETS[size].iab:
        source = "its IAB initial-load budget"
    else:  # the IAB lists no figure for this size: say whose it is (#12)
        source, note = "our budget", f" (the IAB lists no {size}; ours is {BUDGETS[size].why})"
    return [
        Violation(
            "FILE_SIZE_TOO_LARGE",
            f"the zip weighs {zip_bytes / KB:.1f} KB, over {source} of {budget} KB{note}.",
            "use lighter images (a smaller or simpler background, a product cut-out without a large "
            "transparent margin) or raise the budget in [budgets] if the placement allows it.",
            size,
        )
    ]


def _clutter(name: str, size: str) -> Violation:
    return Violation(
        "FILE_NAME_INVALID",
        f"{name} is operating-system clutter, not part of the ad.",
        "zip the ad's files only (no .DS_Store, __MACOSX, Thumbs.db).",
        size,
    )


def check_files(files: dict[str, bytes], banner: Banner, size: str) -> list[Violation]:
    """The rules on the ad's files themselves (names, types, count, references, click tag)."""
    platform = banner.platform
    out: list[Violation] = []
    if "index.html" not in files:
        return [
            Violation(
                "PRIMARY_HTML_MISSING",
                "there is no index.html at the root of the zip.",
                "put the ad's HTML at the root as index.html.",
                size,
            )
        ]
    for name in sorted(files):
        parts = name.split("/")
        if any(p.lower() in CLUTTER or p.startswith(".") for p in parts):
            out.append(_clutter(name, size))
        elif not all(NAME.match(p) for p in parts):
            out.append(
                Violation(
                    "FILE_NAME_INVALID",
                    f"{name!r} has characters other than A-Z a-z 0-9 . _ -.",
                    "rename the file and its references.",
                    size,
                )
            )
        elif name.rsplit(".", 1)[-1].lower() not in platform.extensions:
            out.append(
                Violation(
                    "FILE_TYPE_INVALID",
                    f"{name} is not a type {platform.name} accepts ({', '.join(sorted(platform.extensions))}).",
                    "convert or remove it.",
                    size,
                )
            )
    if len(files) > platform.max_files:
        out.append(
            Violation(
                "FILES_TOO_MANY",
                f"the zip has {len(files)} files; {platform.name} takes {platform.max_files}.",
                "combine or remove files.",
                size,
            )
        )
    html = files["index.html"].decode("utf-8", errors="replace")
    low = html.lower()
    pos = 0
    for pattern, label in _STRUCTURE:
        m = re.compile(pattern).search(low, pos)
        if m is None:
            out.append(
                Violation(
                    "HTML_MALFORMED",
                    f"index.html lacks {label} in the order <!DOCTYPE html>, <html>, <head>, <body>.",
                    "write a complete HTML document.",
                    size,
                )
            )
            break
        pos = m.end()
    soup = BeautifulSoup(html, "html.parser")
    w, h = size.split("x")
    meta = soup.find("meta", attrs={"name": "ad.size"})
    content = re.sub(r"\s", "", meta.get("content", "")) if meta else ""
    if content != f"width={w},height={h}":
        out.append(
            Violation(
                "AD_SIZE_MISMATCH",
                f'index.html has no <meta name="ad.size" content="width={w},height={h}"> (found {content or "none"}).',
                "add it to the <head>.",
                size,
            )
        )
    referenced: set[str] = set()
    for ref, origin, is_link in _references(soup, files):
        out += _judge(ref, origin, is_link, files, platform, referenced, size)
    # Landing pages named as click tags are where a click goes, not files the ad loads.
    landing = set(_CLICK_VALUE.findall(html)) | {banner.spec.click_url}
    texts = {
        n: d.decode("utf-8", errors="replace")
        for n, d in files.items()
        if n.rsplit(".", 1)[-1] in ("html", "js", "css", "svg")
    }
    for name, text in texts.items():
        scripts = (
            " ".join(s.get_text() for s in BeautifulSoup(text, "html.parser").find_all("script"))
            if name.endswith(".html")
            else text
            if name.endswith(".js")
            else ""
        )
        for url in _JS_URL.findall(scripts):
            if not _allowed_url(url, banner, landing):
                out.append(
                    Violation(
                        "EXTERNAL_FILE_REFERENCED",
                        f"{name} names {url} in a script; only the platform's "
                        f"loader may come from outside the zip ({platform.loader or f'{platform.name}: none'}).",
                        "remove it; the ad must be self-contained.",
                        size,
                    )
                )
        if _STORAGE.search(scripts):
            out.append(
                Violation(
                    "LOCAL_STORAGE_USED",
                    f"{name} uses {_STORAGE.search(scripts).group(0)}; ads may not store anything in the browser.",
                    "remove it.",
                    size,
                )
            )
        if _INFINITE.search(text):
            out.append(
                Violation(
                    "ANIMATION_INFINITE",
                    f"{name} has an animation that repeats forever (infinite).",
                    "give it an iteration count, within max_duration.",
                    size,
                )
            )
    manifest = platform.manifest
    flagged = {
        n for n in files if any(p.lower() in CLUTTER or p.startswith(".") or not NAME.match(p) for p in n.split("/"))
    }
    orphans = sorted(set(files) - referenced - flagged - {"index.html", manifest})
    for name in orphans:
        out.append(Violation("ORPHANED_ASSET", f"{name} is in the zip but nothing references it.", "remove it.", size))
    out += _click_tag(html, soup, files, banner, size)
    return _unique(out)


def _references(soup: BeautifulSoup, files: dict[str, bytes]):
    """(reference, file it is in, is a link) for every file reference in index.html, its CSS and SVG."""
    for tag in soup.find_all(True):
        for attr in ("src", "href", "poster", "data", "xlink:href"):
            if tag.get(attr) is not None:
                yield tag[attr].strip(), "index.html", tag.name in ("a", "area")
        if tag.get("srcset"):
            for part in tag["srcset"].split(","):
                if part.strip():
                    yield part.strip().split()[0], "index.html", False
        if tag.get("style"):
            yield from ((ref, "index.html", False) for ref in _css_refs(tag["style"]))
    for style in soup.find_all("style"):
        yield from ((ref, "index.html", False) for ref in _css_refs(style.get_text()))
    for name, data in files.items():
        text = data.decode("utf-8", errors="replace")
        if name.endswith(".css"):
            yield from ((ref, name, False) for ref in _css_refs(text))
        elif name.endswith(".svg"):
            yield from ((ref, name, False) for ref in _svg_refs(text))


def _css_refs(css: str) -> list[str]:
    return [(m.group(2) if m.group(2) is not None else m.group(4) or "").strip() for m in _CSS_URL.finditer(css)]


def _svg_refs(text: str) -> list[str]:
    try:
        root = SafeET.fromstring(text.encode())
    except Exception:  # not parseable: the browser will not show it either; LINKED files unknown
        return []
    refs = []
    for el in root.iter():
        for attr, value in el.attrib.items():
            if attr.rsplit("}", 1)[-1] == "href":
                refs.append(value.strip())
            elif attr == "style":
                refs += _css_refs(value)
        if el.tag.rsplit("}", 1)[-1] == "style" and el.text:
            refs += _css_refs(el.text)
    return refs


def _judge(
    ref: str, origin: str, is_link: bool, files: dict[str, bytes], platform: Platform, referenced: set[str], size: str
) -> list[Violation]:
    if not ref or ref.lower().startswith(_SKIP_SCHEMES):
        return []
    parts = urllib.parse.urlsplit(ref)
    if parts.scheme in ("http", "https") or ref.startswith("//"):
        if is_link:
            return [
                Violation(
                    "CLICK_TAG_HARD_CODED",
                    f"{origin} links to {ref} directly; ad servers count clicks only through the click tag.",
                    "remove the link; the whole ad opens the click tag.",
                    size,
                )
            ]
        if platform.loader and ref.split("?")[0] == platform.loader:
            return []
        out = [
            Violation(
                "EXTERNAL_FILE_REFERENCED",
                f"{origin} loads {ref}; only the platform's loader may come from outside "
                f"the zip ({platform.loader or f'{platform.name}: none'}).",
                "remove it or put the file into the zip.",
                size,
            )
        ]
        if parts.scheme == "http":
            out.append(
                Violation(
                    "NOT_SSL_COMPLIANT",
                    f"{origin} loads {ref} over http.",
                    "use https, or better, no external file.",
                    size,
                )
            )
        return out
    if parts.scheme or ref.startswith("/"):
        return [
            Violation(
                "ABSOLUTE_PATH_REFERENCED",
                f"{origin} references {ref}, which will not exist on the ad server.",
                "reference files in the zip by relative paths.",
                size,
            )
        ]
    target = posixpath.normpath(posixpath.join(posixpath.dirname(origin), urllib.parse.unquote(parts.path)))
    if target.startswith("..") or target not in files:
        return [
            Violation(
                "LINKED_FILE_NOT_FOUND",
                f"{origin} references {ref}, which is not in the zip.",
                "add the file or remove the reference.",
                size,
            )
        ]
    referenced.add(target)
    return []


def _allowed_url(url: str, banner: Banner, landing: set[str]) -> bool:
    if url.startswith(_NAMESPACES):
        return True
    full = url if "://" in url else "https:" + url
    if any(full == page or page.startswith(full) for page in landing):
        return True
    loader = banner.platform.loader
    return bool(loader) and (full.startswith(loader) or loader.startswith(full))


def _click_tag(html: str, soup: BeautifulSoup, files: dict[str, bytes], banner: Banner, size: str) -> list[Violation]:
    name = banner.platform.name
    out = []
    if re.search(r"""window\.open\(\s*["'](?:https?:)?//""", html):
        out.append(
            Violation(
                "CLICK_TAG_HARD_CODED",
                "index.html opens a literal URL with window.open().",
                "open the click tag variable instead.",
                size,
            )
        )
    if name == "google":
        declared = []
        head = soup.head
        for script in soup.find_all("script"):
            text = script.get_text()
            for m in re.finditer(r"""\bvar\s+clickTag\s*=\s*(["'])(.*?)\1""", text):
                top = _depth(text[: m.start()]) == 0 and head is not None and script in head.find_all("script")
                declared.append((m.group(2), top))
        if not declared:
            return [
                *out,
                Violation(
                    "CLICK_TAG_MISSING",
                    'index.html declares no var clickTag = "https://...".',
                    "declare it in a <script> in the <head>.",
                    size,
                ),
            ]
        if not all(top for _, top in declared):
            out.append(
                Violation(
                    "CLICK_TAG_NON_TOP_LEVEL",
                    "var clickTag is not a top-level global in the <head>.",
                    "declare it at the top of a <script> in the <head>, outside any function.",
                    size,
                )
            )
        out += [Violation(v.rule, v.what, v.fix, size) for v in click_url_problems(declared[0][0])]
        if not re.search(r"window\.open\(\s*(?:window\.)?clickTag\b", html):
            out.append(
                Violation("CLICK_TAG_MISSING", "nothing calls window.open(clickTag).", "open clickTag on click.", size)
            )
    elif name == "adform":
        if "dhtml.getVar('clickTAG'" not in html and 'dhtml.getVar("clickTAG"' not in html:
            out.append(
                Violation(
                    "CLICK_TAG_MISSING",
                    "index.html never reads dhtml.getVar('clickTAG', ...).",
                    "read the click tag from Adform's DHTML library.",
                    size,
                )
            )
        out += _adform_manifest(files.get("manifest.json"), banner, size)
    elif name == "flashtalking":
        if "myFT.clickTag(" not in html and "applyClickTag(" not in html:
            out.append(
                Violation("CLICK_TAG_MISSING", "index.html never calls myFT.clickTag(1).", "call it on click.", size)
            )
        out += _ft_manifest(files.get("manifest.js"), size)
    elif not re.search(r"window\.open\(\s*(?:window\.)?clickTag\b", html):
        out.append(
            Violation("CLICK_TAG_MISSING", "nothing calls window.open(clickTag).", "open clickTag on click.", size)
        )
    return out


def _depth(code: str) -> int:
    code = re.sub(r"""(["'`])(?:\\.|(?!\1).)*\1""", "", code)
    return code.count("{") - code.count("}")


def _adform_manifest(data: bytes | None, banner: Banner, size: str) -> list[Violation]:
    w, h = size.split("x")
    try:
        doc = json.loads(data or b"")
        ok = (
            str(doc["width"]) == w
            and str(doc["height"]) == h
            and doc["source"] == "index.html"
            and not click_url_problems(doc["clicktags"]["clickTAG"])
        )
    except (ValueError, KeyError, TypeError):
        ok = False
    if ok:
        return []
    return [
        Violation(
            "MANIFEST_INVALID",
            f"manifest.json is missing or does not say width {w}, height {h}, source index.html "
            "and a clicktags.clickTAG https URL.",
            "write Adform's manifest.json at the zip root.",
            size,
        )
    ]


def _ft_manifest(data: bytes | None, size: str) -> list[Violation]:
    w, h = size.split("x")
    m = re.search(r"FT\.manifest\((\{.*\})\)", (data or b"").decode("utf-8", errors="replace"), re.S)
    try:
        doc = json.loads(m.group(1)) if m else {}
        ok = (
            doc.get("filename") == "index.html"
            and str(doc.get("width")) == w
            and str(doc.get("height")) == h
            and int(doc.get("clickTagCount", 0)) >= 1
        )
    except (ValueError, TypeError):
        ok = False
    if ok:
        return []
    return [
        Violation(
            "MANIFEST_INVALID",
            f"manifest.js is missing or does not call FT.manifest with filename index.html, "
            f"width {w}, height {h} and clickTagCount 1 or more.",
            "write Flashtalking's manifest.js at the zip root.",
            size,
        )
    ]


def _unique(violations: list[Violation]) -> list[Violation]:
    return list(dict.fromkeys(violations))
