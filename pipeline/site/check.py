"""`crossmedia check`: read every generated page back and find what would break (issue #6).

Runs after every build (its findings become notes in the report) and on its own as
`crossmedia check -w DIR` (exit 1 when it finds anything). Every `*.html` under out/ is parsed
(lxml's HTML parser, as browsers recover), and with it every stylesheet it links. A problem is:

- a local reference (src, srcset, href, poster, CSS url()/@import) to a file that does not
  exist, or that resolves outside out/, or is written as an absolute path (breaks file://);
- an external request: anything the browser would fetch from elsewhere on load (http(s)://,
  //host, file:, any other scheme) in src, srcset, poster, <link href>, CSS or a <base>;
- an <img> without width, height or alt (alt="" is fine: decorative images have it);
- a javascript: URL anywhere.

Links a visitor follows (<a href="https://...">, mailto:, tel:) are navigation, not requests:
they are allowed and counted. Share tags (og:image...) may be absolute: crawlers fetch them,
visitors do not; relative ones must exist. Inline scripts are not read (ad banners carry click
URLs in them on purpose).
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config.workspace import Workspace

# (tag, attribute) the browser fetches on load.
RESOURCES = {
    ("img", "src"),
    ("img", "srcset"),
    ("source", "src"),
    ("source", "srcset"),
    ("video", "src"),
    ("video", "poster"),
    ("audio", "src"),
    ("track", "src"),
    ("script", "src"),
    ("iframe", "src"),
    ("embed", "src"),
    ("object", "data"),
    ("input", "src"),
    ("link", "href"),
    ("image", "href"),
    ("image", "xlink:href"),
    ("use", "href"),
    ("use", "xlink:href"),
}
NAVIGATION = {("a", "href"), ("area", "href"), ("form", "action")}
SHARE = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "og:video", "og:audio")
_TAGS = {tag for tag, _ in RESOURCES | NAVIGATION} | {"img", "style", "meta", "base"}
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]*)\1\s*\)|@import\s+(['"])([^'"]+)\3""", re.I)
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_NUMBER = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Problem:
    page: str  # relative to out/
    what: str

    def __str__(self) -> str:
        return f"{self.page}: {self.what}"


@dataclass
class CheckResult:
    pages: int = 0
    problems: list[Problem] = field(default_factory=list)
    external_links: set[str] = field(default_factory=set)
    _kinds: dict[Path, str] = field(default_factory=dict, repr=False)  # one stat per path per check

    def kind(self, path: Path) -> str:
        """ "file", "dir" or "" (missing)."""
        if path not in self._kinds:
            self._kinds[path] = "file" if path.is_file() else "dir" if path.is_dir() else ""
        return self._kinds[path]

    def as_dict(self) -> dict:
        return {
            "pages": self.pages,
            "problems": [{"page": p.page, "problem": p.what} for p in self.problems],
            "external_links": sorted(self.external_links),
        }


def check(ws: Workspace, only: set[Path] | None = None) -> CheckResult:
    return check_out(ws.out, only)


def check_out(out: Path, only: set[Path] | None = None) -> CheckResult:
    """Check every page under `out` (or only the pages in `only`, with what they link)."""
    out = out.resolve()
    result = CheckResult()
    if not out.is_dir():
        return result
    css_seen: set[Path] = set()
    pages = (
        sorted(p for p in out.rglob("*.html") if ".tmp" not in p.relative_to(out).parts)
        if only is None
        else sorted(p.resolve() for p in only if p.suffix == ".html" and p.is_file())
    )
    for page in pages:
        result.pages += 1
        _check_page(out, page, result, css_seen)
    return result


def check_notes(ws: Workspace, only: set[Path] | None = None, limit: int = 20) -> list[str]:
    """Problems as report notes (at most `limit`, then how many more)."""
    problems = check(ws, only).problems
    notes = [f"check: {p}" for p in problems[:limit]]
    if len(problems) > limit:
        notes.append(f"check: ... and {len(problems) - limit} more; run `crossmedia check -w {ws.root}`")
    return notes


def _wanted(name: str, attrs) -> bool:
    """Only the elements the checks read are built into the tree (building it is most of the time)."""
    attrs = attrs or {}
    return (
        name in _TAGS
        or "style" in attrs
        or any(isinstance(v, str) and v.lstrip()[:11].lower() == "javascript:" for v in attrs.values())
    )


# Attributes that hold a list of words (as BeautifulSoup splits them; the checks join them again).
_WORDS = {"class", "rel", "rev", "accesskey", "dropzone", "headers", "accept-charset", "archive", "sizes", "sandbox"}


class _Tag:
    """An element the checks read: its name, attributes and (for <style>) its text."""

    __slots__ = ("name", "attrs", "text")

    def __init__(self, name: str, attrs: dict):
        self.name = name
        self.attrs = attrs
        self.text: list[str] = []

    def get(self, key: str, default=None):
        return self.attrs.get(key, default)

    def get_text(self) -> str:
        return "".join(self.text)


class _Wanted:
    """lxml parser target: the elements the checks read, in document order, and nothing else
    (building a whole tree is most of the time on a 50 MB index)."""

    def __init__(self):
        self.tags: list[_Tag] = []
        self.style: _Tag | None = None

    def start(self, name, attrib) -> None:
        if _wanted(name, attrib):
            attrs = {k: v.split() if k in _WORDS else v for k, v in attrib.items()}
            self.tags.append(_Tag(name, attrs))
            if name == "style":
                self.style = self.tags[-1]

    def end(self, name) -> None:
        if name == "style":
            self.style = None

    def data(self, text) -> None:
        if self.style is not None:
            self.style.text.append(text)

    def close(self) -> list[_Tag]:
        return self.tags


def _check_page(out: Path, page: Path, result: CheckResult, css_seen: set[Path]) -> None:
    # Imported here: pages are checked only after a site rebuild. lxml's own parser with a target
    # that keeps what the checks read: BeautifulSoup on lxml did the same at 0.1 s more per run
    # (its import), and html.parser matches each end tag against every open one, quadratic on an
    # index of 100,000 cards (54 MB: > 30 min).
    from lxml import etree

    rel = page.relative_to(out).as_posix()
    try:
        text = page.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        result.problems.append(Problem(rel, f"cannot be read: {e.strerror}"))
        return
    parser = etree.HTMLParser(target=_Wanted(), recover=True)
    try:
        parser.feed(text)
        tags = parser.close()
    except etree.LxmlError:  # nothing to parse (an empty file)
        tags = []

    def problem(what: str) -> None:
        result.problems.append(Problem(rel, what))

    if any(tag.name == "base" for tag in tags):
        problem("has a <base> element, which changes where every relative link points")
    for tag in tags:
        name = tag.name.lower()
        for attr, value in list(tag.attrs.items()):
            attr = attr.lower()
            if not isinstance(value, str):
                value = " ".join(value)
            if (name, attr) in RESOURCES:
                if attr == "srcset":
                    urls = [c.strip().split()[0] for c in value.split(",") if c.strip()]
                    if not urls:
                        problem(f"<{name} srcset> is empty")
                else:
                    urls = [value]
                if name == "link" and not _fetched_link(tag):
                    for url in urls:
                        _reference(out, page, url, f"<link href={url!r}>", False, result, problem)
                    continue
                for url in urls:
                    target = _reference(out, page, url, f"<{name} {attr}={url!r}>", True, result, problem)
                    if (
                        target is not None
                        and name == "link"
                        and target.suffix.lower() == ".css"
                        and target not in css_seen
                    ):
                        css_seen.add(target)
                        _check_css(out, target, result)
            elif (name, attr) in NAVIGATION:
                _reference(out, page, value, f"<{name} {attr}={value!r}>", False, result, problem)
            elif attr == "style":
                _css_refs(out, page, value, f"style attribute of <{name}>", result, problem)
            elif value.strip().lower().startswith("javascript:"):
                problem(f"<{name} {attr}> is a javascript: URL")
        if name == "img":
            missing = [a for a in ("width", "height") if not _NUMBER.match(str(tag.get(a, "")).strip())]
            if missing:
                problem(
                    f"<img src={tag.get('src', '')!r}> has no {' or '.join(missing)} (the page jumps while it loads)"
                )
            if tag.get("alt") is None:
                problem(f'<img src={tag.get("src", "")!r}> has no alt attribute (alt="" for decoration)')
        elif name == "style":
            _css_refs(out, page, tag.get_text(), "<style>", result, problem)
        elif name == "meta":
            key = (tag.get("property") or tag.get("name") or "").lower()
            content = tag.get("content") or ""
            if key in SHARE and content and not _SCHEME.match(content) and not content.startswith("//"):
                _reference(out, page, content, f"<meta {key}>", True, result, problem)
            if (tag.get("http-equiv") or "").lower() == "refresh" and "url=" in content.lower():
                url = content.split("=", 1)[1].strip().strip("'\"") if ";" in content else ""
                _reference(out, page, url, "<meta http-equiv=refresh>", True, result, problem)


def _fetched_link(tag) -> bool:
    """<link rel=stylesheet|icon|preload|...> is fetched; rel=canonical/alternate/... is not."""
    rels = {r.lower() for r in (tag.get("rel") or [])}
    return not rels or bool(
        rels
        & {
            "stylesheet",
            "icon",
            "shortcut",
            "preload",
            "prefetch",
            "modulepreload",
            "apple-touch-icon",
            "manifest",
            "preconnect",
            "dns-prefetch",
            "mask-icon",
        }
    )


def _check_css(out: Path, css: Path, result: CheckResult) -> None:
    rel = css.relative_to(out).as_posix()

    def problem(what: str) -> None:
        result.problems.append(Problem(rel, what))

    try:
        text = css.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    _css_refs(out, css, text, "stylesheet", result, problem)


def _css_refs(out: Path, base: Path, text: str, where: str, result: CheckResult, problem) -> None:
    for m in _CSS_URL.finditer(text):
        url = m.group(2) if m.group(2) is not None else m.group(4)
        _reference(out, base, url, f"url({url!r}) in {where}", True, result, problem)


def _reference(out: Path, base: Path, url: str, what: str, fetched: bool, result: CheckResult, problem) -> Path | None:
    """Check one URL written in file `base`; return the local file it names, if it exists."""
    url = url.strip()
    if not url:
        if fetched:
            problem(f"{what} is empty")
        return None
    low = url.lower()
    if low.startswith("data:"):
        return None
    if low.startswith("javascript:"):
        problem(f"{what} is a javascript: URL")
        return None
    if url.startswith("#"):
        return None
    scheme = _SCHEME.match(url)
    if scheme or url.startswith("//"):
        kind = scheme.group(1).lower() if scheme else "//"
        if not fetched and kind in ("http", "https", "mailto", "tel"):
            result.external_links.add(url)
            return None
        problem(
            f"{what} is an external request"
            if kind in ("http", "https", "//", "ftp")
            else f"{what} uses the {kind}: scheme, which does not work from a published page"
        )
        return None
    if url.startswith("/"):
        problem(f"{what} is an absolute path; it breaks when the site is opened from disk: make it relative")
        return None
    path = urllib.parse.unquote(url.split("#", 1)[0].split("?", 1)[0])
    if not path:
        return None
    joined = posixpath.normpath(posixpath.join(base.parent.relative_to(out).as_posix(), path))
    if joined == ".." or joined.startswith("../"):
        problem(f"{what} points outside out/")
        return None
    target = out / joined
    if result.kind(target) == "dir":
        target = target / "index.html"
    if result.kind(target) != "file":
        problem(f"{what} is broken: out/{joined} does not exist")
        return None
    if not target.resolve().is_relative_to(out):  # a symbolic link out of out/
        problem(f"{what} points outside out/ (through a symbolic link)")
        return None
    return target
