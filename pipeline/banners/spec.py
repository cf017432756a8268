"""Banner files: `banners/<name>.toml` in a workspace, validated whole before anything is built.

A banner file says what an HTML5 ad campaign needs (issue #7): the sizes, the click-through,
the texts, which processed assets to use, the house style, the animation and the ad server it
goes to. Every key is declared once here (type, default, help, check), like profile keys; the
docs/banners.md's tables are generated from these classes.

Refusals name the rule an ad server would name (`CLICK_TAG_INVALID`, `FILE_SIZE_TOO_LARGE`...)
or, where ad servers have no name for it, one of ours (`ANIMATION_INFINITE`); `RULES` lists
them all with their origin, for the docs.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.config.schema import between, colour, font_list, key, load_table, positive
from pipeline.config.workspace import Workspace


@dataclass(frozen=True)
class Budget:
    """A size's initial-load budget and whose figure it is (#12)."""

    kb: int
    iab: bool  # the IAB's own figure (New Ad Portfolio 2017, "Fixed Size Ad Specifications", initial load)
    why: str = ""  # ours: how the figure was chosen

    @property
    def source(self) -> str:
        return "IAB New Ad Portfolio (2017)" if self.iab else f"ours: {self.why}"


# Size -> initial-load budget. The IAB's 2017 table lists 970x250, 300x50/320x50, 728x90, 970x90,
# 300x1050, 160x600 and 300x250 (and sizes we do not build); it has no figure for 336x280,
# 300x600 or 320x100, which ad servers (Google's among them) still sell: those figures are ours.
BUDGETS: dict[str, Budget] = {
    "300x250": Budget(150, iab=True),
    "728x90": Budget(150, iab=True),
    "160x600": Budget(150, iab=True),
    "336x280": Budget(150, iab=False, why="the IAB's 300x250 figure: a large rectangle fills the same placements"),
    "300x600": Budget(250, iab=False, why="the IAB's figure for its large units (970x250, 300x1050)"),
    "970x250": Budget(250, iab=True),
    "300x1050": Budget(250, iab=True),
    "970x90": Budget(200, iab=True),
    "320x50": Budget(50, iab=True),
    "300x50": Budget(50, iab=True),
    "320x100": Budget(
        50, iab=False, why="the IAB's 320x50 figure: a large mobile banner fills the same phone placements"
    ),
}
IAB_NAMES: dict[str, str] = {
    "medium-rectangle": "300x250",
    "large-rectangle": "336x280",
    "leaderboard": "728x90",
    "super-leaderboard": "970x90",
    "billboard": "970x250",
    "skyscraper": "160x600",
    "wide-skyscraper": "160x600",
    "half-page": "300x600",
    "portrait": "300x1050",
    "smartphone-banner": "320x50",
    "mobile-banner": "320x50",
    "large-mobile-banner": "320x100",
}
STATE = "banners.json"  # in .crossmedia/: what was built from each banner file
KB = 1000  # bytes; the stricter reading of "150 KB"
BACKUP_MAX_BYTES = 40 * KB
HARD_MAX_SECONDS = 30.0  # Google Ads and most ad servers: animation stops within 30 s, loops included

ELEMENTS = ("background", "logo", "headline", "subline", "product", "cta")
Element = Literal["background", "logo", "headline", "subline", "product", "cta"]
Effect = Literal["fade", "slide", "scale", "none"]
PlatformName = Literal["google", "adform", "flashtalking", "generic"]


@dataclass(frozen=True)
class Platform:
    """How one ad server wants its HTML5 zips (sources in docs/banners.md, "Platforms")."""

    name: str
    loader: str  # the platform's own script, the only external reference allowed; "" = none
    zip_cap_kb: int | None  # the ad server's own cap on the zip, on top of the size's budget
    max_files: int
    manifest: str | None  # file the platform reads at the zip root
    extensions: frozenset[str]


_WEB = frozenset({"html", "css", "js", "gif", "png", "jpg", "jpeg", "svg"})
PLATFORMS: dict[str, Platform] = {
    # Google Ads / Ad Manager / CM360 / DV360: the strictest set (Google Ads' upload rules).
    "google": Platform("google", "", 150, 40, None, _WEB),
    "adform": Platform(
        "adform",
        "https://s1.adform.net/banners/scripts/rmb/Adform.DHTML.js",
        None,
        100,
        "manifest.json",
        _WEB | {"json"},
    ),
    "flashtalking": Platform(
        "flashtalking",
        "https://cdn.flashtalking.com/frameworks/js/api/v2/10/html5API.js",
        None,
        100,
        "manifest.js",
        _WEB,
    ),
    "generic": Platform("generic", "", None, 100, None, _WEB),
}

# rule -> (who names it so, what it means). Ad servers' names first; ours are marked "crossmedia".
RULES: dict[str, tuple[str, str]] = {
    "PRIMARY_HTML_MISSING": ("CM360", "no index.html at the root of the zip"),
    "CLICK_TAG_MISSING": ("CM360", "no click tag wired the platform's way, or a click opens nothing"),
    "CLICK_TAG_INVALID": ("CM360, Ad Manager", "the click-through is not a valid URL, or a click opens another one"),
    "CLICK_TAG_NON_TOP_LEVEL": ("CM360", "google: `var clickTag` is not a top-level global in the head"),
    "CLICK_TAG_HARD_CODED": ("Ad Manager", "a landing page URL is written into a link or window.open()"),
    "NOT_SSL_COMPLIANT": ("CM360", "an http:// URL; everything must be https://"),
    "EXTERNAL_FILE_REFERENCED": ("CM360", "a file from outside the zip, other than the platform's own loader"),
    "LINKED_FILE_NOT_FOUND": ("CM360", "a relative reference to a file that is not in the zip"),
    "ORPHANED_ASSET": ("CM360", "a file in the zip that nothing references"),
    "FILE_TYPE_INVALID": ("CM360", "a file type the platform does not accept"),
    "FILES_TOO_MANY": ("Ad Manager", "more files than the platform accepts (google: 40)"),
    "FILE_SIZE_TOO_LARGE": ("Ad Manager", "the zip weighs more than its budget or the platform's cap"),
    "FILE_NAME_TOO_LONG": ("Ad Manager", "the zip's name is over 50 characters (without .zip)"),
    "ZIP_INVALID": ("CM360", "the zip cannot be read, is encrypted, or has paths leading out of it"),
    "FILE_NAME_INVALID": (
        "crossmedia, after Google Ads",
        "a file name outside [0-9A-Za-z._-], or OS clutter (.DS_Store, __MACOSX)",
    ),
    "HTML_MALFORMED": (
        "crossmedia, after Google Web Designer",
        "no <!DOCTYPE html>, <html>, <head> and <body> in order",
    ),
    "AD_SIZE_MISMATCH": (
        "crossmedia, after Google Ads",
        'no <meta name="ad.size"> for the size, or the page is not exactly WxH',
    ),
    "MANIFEST_INVALID": (
        "crossmedia, after Adform/Flashtalking",
        "the platform's manifest is missing or does not match",
    ),
    "INITIAL_REQUESTS_TOO_MANY": ("crossmedia, after IAB", "more than 10 files requested before DOMContentLoaded"),
    "LOCAL_STORAGE_USED": ("crossmedia, after Google Ads", "localStorage, sessionStorage, IndexedDB or cookies used"),
    "ABSOLUTE_PATH_REFERENCED": ("crossmedia", "a reference starting with / or file:, which breaks on the ad server"),
    "ANIMATION_TOO_LONG": (
        "crossmedia, after IAB/Google Ads",
        "animation longer than max_duration (15 s default, never over 30 s), loops counted in",
    ),
    "ANIMATION_INFINITE": ("crossmedia, after IAB/Google Ads", "an animation that never ends"),
    "TEXT_OVERFLOW": (
        "crossmedia",
        "a text does not fit its box at that size, even at min_font_px (measured in Chromium)",
    ),
    "JAVASCRIPT_ERROR": ("crossmedia", "the page logs an error in the browser console"),
    "BACKUP_TOO_LARGE": ("crossmedia, after CM360", "the backup image cannot be made within 40 KB"),
    "ASSET_MISSING": ("crossmedia", "the banner names an asset that is not a processed input"),
    "BANNER_FILE_INVALID": ("crossmedia", "the banner file does not validate (key, type or value)"),
    "CHROMIUM_MISSING": ("crossmedia", "headless Chromium (chromium + chromium-driver) is not installed"),
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (a size, or None for the whole banner), what, and how to fix it."""

    rule: str
    what: str
    fix: str = ""
    size: str | None = None

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"unknown banner rule {self.rule!r}")

    def text(self, banner: str) -> str:
        where = f"{banner} at {self.size}" if self.size else banner
        return f"{self.rule} in {where}: {self.what}" + (f" Fix: {self.fix}" if self.fix else "")


class BannerRefused(Exception):
    """The banner is not built (or not shipped); carries every violation found."""

    def __init__(self, violations: list[Violation], retry: bool = False):
        self.violations = violations
        self.retry = retry  # a missing tool: try again next run, even if nothing changed
        super().__init__("; ".join(v.rule for v in violations))

    def message(self, banner: str) -> str:
        return "; ".join(v.text(banner) for v in self.violations)


# Checks -------------------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _text(limit: int):
    def check(value: str) -> str | None:
        if _CONTROL.search(value):
            return "must not contain control characters"
        return f"must be at most {limit} characters" if len(value) > limit else None

    return check


def parse_size(text: str) -> str | None:
    """'medium-rectangle' or '300x250' -> '300x250'; None for anything else."""
    text = text.strip().lower()
    text = IAB_NAMES.get(text, text)
    return text if text in BUDGETS else None


def _sizes(value: list[str]) -> str | None:
    if not value:
        return "must name at least one size"
    bad = [v for v in value if parse_size(v) is None]
    if bad:
        return (
            f"has {bad[0]!r}, which is no supported size; "
            f"use WxH ({', '.join(BUDGETS)}) or an IAB name ({', '.join(IAB_NAMES)})"
        )
    return None


def _budgets(value: dict[str, int]) -> str | None:
    bad = [k for k in value if parse_size(k) is None]
    if bad:
        return f"names {bad[0]!r}, which is no supported size"
    return positive(value)


def _max_duration(value: float) -> str | None:
    if not 0 < value <= HARD_MAX_SECONDS:
        return f"must be more than 0 and at most {HARD_MAX_SECONDS:g} seconds (ad servers stop animations there)"
    return None


# Keys ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Style:
    """`[style]`: house colours and font."""

    background: str = key(
        "#0b3d2e",
        "Colour behind and over the background image (a scrim keeps the text legible).",
        check=colour,
        example='"#0b3d2e"',
    )
    text: str = key("#ffffff", "Colour of the headline and sub-line.", check=colour, example='"#ffffff"')
    accent: str = key("#f2c14e", "Colour of the call-to-action button.", check=colour, example='"#f2c14e"')
    cta_text: str = key("#0b3d2e", "Colour of the call-to-action text.", check=colour, example='"#0b3d2e"')
    border: str = key(
        "#000000",
        "Colour of the 1 px border around the ad (ad servers want a visible edge, in a colour that contrasts with "
        "the page).",
        check=colour,
        example='"#333333"',
    )
    font: str = key(
        "Arial, Helvetica, sans-serif",
        "CSS font-family; system fonts only (web fonts would be external files).",
        check=font_list,
        example='"Georgia, serif"',
    )


@dataclass(frozen=True)
class Frame:
    """One `[[frames]]` entry: what shows for how long, and how it comes in."""

    duration: float = key(3.0, "Seconds this frame shows.", check=between(0.5, 30), example="2.5")
    show: list[Element] = key(
        ["background", "headline"],
        "Elements visible in this frame: " + ", ".join(ELEMENTS) + ".",
        example='["background", "headline"]',
    )
    effect: Effect = key("fade", "How elements that were not in the previous frame come in.")


@dataclass(frozen=True)
class BannerFile:
    """A banner file, `banners/<name>.toml`."""

    title: str = key("", "Name in the showcase and the Adform manifest (default: the file name).", check=_text(120))
    platform: PlatformName = key(
        "generic",
        "Ad server the zips are for: google (Google Ads, Ad Manager, CM360, DV360), adform, flashtalking or generic "
        "(IAB clickTag).",
    )
    sizes: list[str] = key(
        [],
        "Sizes to build: WxH or IAB names (medium-rectangle, leaderboard, skyscraper...).",
        check=_sizes,
        example='["300x250", "728x90", "160x600", "320x50"]',
    )
    click_url: str = key(
        "",
        "Click-through URL (https). Wired as the platform's click tag, never hard-coded into a link.",
        example='"https://example.com/sale"',
    )
    headline: str = key("", "Main text.", check=_text(90), example='"Spring sale"')
    subline: str = key("", "Second line of text; empty for none.", check=_text(140), example='"Up to 40% off"')
    cta: str = key("", "Call-to-action button text; empty for no button.", check=_text(30), example='"Shop now"')
    background: str = key(
        "",
        "Asset behind everything, cropped around its focal point for each size; empty for the style colour.",
        example='"inbox/web/hero.jpg"',
    )
    product: str = key(
        "", "Asset shown whole (transparency kept), e.g. a product cut-out; empty for none.", example='"packshot.png"'
    )
    logo: str = key("", "Logo asset; an SVG stays SVG.", example='"logo.svg"')
    language: str = key(
        "en",
        "Language of the texts (the page's lang attribute).",
        check=lambda v: (
            None
            if re.fullmatch(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})?", v)
            else 'must be a language tag like "en" or "de-CH"'
        ),
    )
    style: Style = dataclasses.field(default_factory=Style, metadata={"help": "House colours and font, see [style]."})
    animation: Effect = key(
        "fade",
        "Preset when no [[frames]] are given: the headline and logo, then the sub-line and product, then the button "
        "build up.",
    )
    duration: float = key(
        9.0,
        "Seconds the preset animation takes, loops included. With [[frames]] the frames' durations decide.",
        check=between(1, HARD_MAX_SECONDS),
        example="12",
    )
    loops: int = key(
        1,
        'How often the animation plays; it then stops on its last frame. 0 or "infinite" is refused '
        "(ANIMATION_INFINITE).",
        example="2",
    )
    max_duration: float = key(
        15.0,
        "Longest animation allowed, loops included (IAB: 15 s); never more than 30.",
        check=_max_duration,
        example="15",
    )
    frames: list[Frame] = key(
        [],
        "Timed frames instead of the preset, played in order; the last one is the end frame and the backup image.",
        example='[{duration = 3, show = ["background", "headline"]}]',
    )
    budgets: dict[str, int] = key(
        {},
        "Budget per size in KB, replacing the size's own budget (the IAB's or ours, see the sizes table; the "
        "platform's own cap still applies).",
        check=_budgets,
        example='{"300x250" = 100}',
    )
    min_font_px: float = key(
        9.0,
        "Smallest font size text may shrink to so that it fits its box; below it the banner is refused "
        "(TEXT_OVERFLOW).",
        check=between(6, 72),
        example="10",
    )
    extra_html: str = key(
        "",
        "HTML added at the end of <head> as is (e.g. a measurement snippet); checked like the rest: external files "
        "are refused.",
        example='"<style>#cta{letter-spacing:1px}</style>"',
    )


@dataclass(frozen=True)
class Banner:
    """A validated banner file, ready to build."""

    name: str  # file stem; names the zips
    rel: str  # workspace-relative path of the banner file
    spec: BannerFile
    sizes: tuple[str, ...]  # "300x250"...
    frames: tuple[Frame, ...]  # the preset expanded, or the file's frames
    cycle: float  # seconds of one play
    platform: Platform

    @property
    def total(self) -> float:
        return self.cycle * self.spec.loops

    def own_budget_kb(self, size: str) -> int | None:
        """The banner file's `[budgets]` figure for this size (by WxH or name), if it has one."""
        return self.spec.budgets.get(
            size, next((v for k, v in self.spec.budgets.items() if parse_size(k) == size), None)
        )

    def budget_kb(self, size: str) -> int:
        """The size's budget (BUDGETS) or the banner's override, capped by the platform."""
        own = self.own_budget_kb(size)
        budget = BUDGETS[size].kb if own is None else own
        cap = self.platform.zip_cap_kb
        return min(budget, cap) if cap else budget

    def zip_name(self, size: str) -> str:
        return f"{self.name}-{size}.zip"


def preset_frames(spec: BannerFile, cycle: float) -> tuple[Frame, ...]:
    """The build-up preset: headline and logo, then sub-line and product, then the button."""
    first = [e for e in ("background", "logo", "headline") if _has(spec, e)]
    second = first + [e for e in ("subline", "product") if _has(spec, e)]
    third = second + (["cta"] if _has(spec, "cta") else [])
    beats = [b for i, b in enumerate([first, second, third]) if i == 0 or b != [first, second, third][i - 1]]
    shares = {1: [1.0], 2: [0.45, 0.55], 3: [0.35, 0.3, 0.35]}[len(beats)]
    return tuple(
        Frame(duration=round(cycle * s, 3), show=list(b), effect=spec.animation)
        for b, s in zip(beats, shares, strict=True)
    )


def _has(spec: BannerFile, element: str) -> bool:
    return bool(getattr(spec, element))


def load_banner(path: Path, rel: str) -> Banner:
    """Validate a banner file whole; BannerRefused with every problem found."""
    name = path.stem
    violations: list[Violation] = []
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BannerRefused(
            [Violation("BANNER_FILE_INVALID", f"not valid TOML ({e}).", "correct the syntax at the place named.")]
        ) from None
    if not re.fullmatch(r"[0-9A-Za-z._-]+", name):
        violations.append(
            Violation(
                "FILE_NAME_INVALID",
                f"the file name {name!r} names the zips, so it may use A-Z a-z 0-9 . _ - only.",
                "rename the banner file, e.g. spring-sale.toml.",
            )
        )
    loops = table.get("loops", 1)
    if loops in ("infinite", "forever") or (isinstance(loops, int) and not isinstance(loops, bool) and loops <= 0):
        violations.append(
            Violation(
                "ANIMATION_INFINITE",
                f"loops = {loops!r} would play the animation forever; ad servers stop "
                f"or refuse animations longer than {HARD_MAX_SECONDS:g} s (IAB: 15 s).",
                "loops = 1 to 3, so that the animation, loops included, stays within max_duration.",
            )
        )
        table = {k: v for k, v in table.items() if k != "loops"}
    problems: list[str] = []
    spec = load_table(BannerFile, table, rel, "", problems)
    frames_raw = table.get("frames") if isinstance(table.get("frames"), list) else []
    frames = []
    for i, raw in enumerate(frames_raw):
        if isinstance(raw, dict):
            frame = load_table(Frame, raw, rel, f"frames[{i}]", problems)
            if frame is not None:
                frames.append(frame)
    for p in problems:
        lines = [line.strip() for line in p.splitlines()]
        violations.append(
            Violation(
                "BANNER_FILE_INVALID",
                f"{lines[0].removeprefix('error: ').removeprefix(rel + ' ')}: {lines[1]}",
                lines[2].removeprefix("Fix: ") if len(lines) > 2 else "",
            )
        )
    if spec is None:
        raise BannerRefused(violations)
    spec = dataclasses.replace(spec, frames=frames)
    violations += _cross_checks(spec, table, name)
    if violations:
        raise BannerRefused(violations)
    cycle = sum(f.duration for f in frames) if frames else spec.duration / spec.loops
    built = tuple(frames) if frames else preset_frames(spec, cycle)
    total = cycle * spec.loops
    if total > spec.max_duration + 1e-9:
        how = f"{len(frames)} frames of {cycle:g} s" if frames else f"duration = {spec.duration:g}"
        raise BannerRefused(
            [
                Violation(
                    "ANIMATION_TOO_LONG",
                    f"the animation runs {total:g} s ({how}, {spec.loops} loop(s)), "
                    f"over max_duration = {spec.max_duration:g} s.",
                    "shorten it or play fewer loops; ad servers allow 30 s at most, the IAB 15 s.",
                )
            ]
        )
    sizes = tuple(dict.fromkeys(parse_size(s) for s in spec.sizes))
    return Banner(
        name=name, rel=rel, spec=spec, sizes=sizes, frames=built, cycle=cycle, platform=PLATFORMS[spec.platform]
    )


def _cross_checks(spec: BannerFile, table: dict, name: str) -> list[Violation]:
    out = []
    if not spec.sizes:
        out.append(
            Violation(
                "BANNER_FILE_INVALID",
                "sizes is missing: a banner needs at least one size.",
                'e.g. sizes = ["300x250", "728x90", "160x600", "320x50"].',
            )
        )
    long = [s for s in spec.sizes if parse_size(s) and len(f"{name}-{parse_size(s)}") > 50]
    if long:
        out.append(
            Violation(
                "FILE_NAME_TOO_LONG",
                f"the zip name {name}-{parse_size(long[0])} is over 50 characters.",
                "give the banner file a shorter name.",
            )
        )
    out += click_url_problems(spec.click_url)
    if not spec.headline:
        out.append(
            Violation(
                "BANNER_FILE_INVALID", "headline is missing: every size shows it.", 'e.g. headline = "Spring sale".'
            )
        )
    if spec.frames or table.get("frames"):
        if "duration" in table:
            out.append(
                Violation(
                    "BANNER_FILE_INVALID",
                    "duration is set, but with [[frames]] the frames' own durations decide.",
                    "delete the duration line, or the frames to use the preset.",
                )
            )
        if "animation" in table:
            out.append(
                Violation(
                    "BANNER_FILE_INVALID",
                    "animation is set, but [[frames]] replace the preset.",
                    "delete the animation line, or the frames to use the preset.",
                )
            )
        for i, frame in enumerate(spec.frames or []):
            missing = [e for e in frame.show if e != "background" and not _has(spec, e)]
            if missing:
                out.append(
                    Violation(
                        "BANNER_FILE_INVALID",
                        f"[frames[{i}]] show names {missing[0]}, but the banner has no {missing[0]}.",
                        f"set {missing[0]} = ..., or remove it from show.",
                    )
                )
    elif spec.duration / max(spec.loops, 1) < 1:
        out.append(
            Violation(
                "BANNER_FILE_INVALID",
                f"duration = {spec.duration:g} with loops = {spec.loops} leaves under 1 s per play.",
                "play fewer loops or a longer duration.",
            )
        )
    return out


def click_url_problems(url: str) -> list[Violation]:
    if not url:
        return [
            Violation(
                "CLICK_TAG_MISSING",
                "click_url is missing: the ad must open a landing page when clicked.",
                'e.g. click_url = "https://example.com/sale".',
            )
        ]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "http":
        return [
            Violation(
                "NOT_SSL_COMPLIANT",
                f"click_url {url!r} is http://; ads are served on https pages.",
                f"use https://{url[len('http://') :]}.",
            )
        ]
    if (
        parts.scheme != "https"
        or not parts.netloc
        or re.search(r"[\s\"'<>\\`]", url)
        or _CONTROL.search(url)
        or len(url) > 2048
    ):
        return [
            Violation(
                "CLICK_TAG_INVALID",
                f"click_url {url!r} is not a valid https URL.",
                'e.g. click_url = "https://example.com/sale".',
            )
        ]
    return []


def banner_files(ws: Workspace) -> list[Path]:
    """The workspace's banner files (`banners/*.toml`, hidden ones aside), sorted."""
    folder = ws.root / "banners"
    return (
        sorted(p for p in folder.glob("*.toml") if p.is_file() and not p.name.startswith("."))
        if folder.is_dir()
        else []
    )
