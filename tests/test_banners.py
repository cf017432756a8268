"""HTML5 banners (issue #7): built from real processed corpus media, checked in real Chromium.

The sample banner uses `images/orient-1.jpg` (photo, MIT, recurser/exif-orientation-examples),
`images/alpha.png` (RGBA cut-out, sharp's blackbug.png, public domain) and `images/logo.svg`
(libvips logo, LGPL-2.1-or-later); see ../shared/corpus/SOURCES.md. The workspace is processed
once per session; tests that change it work on a copy.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from PIL import Image

from tests.conftest import ARTIFACTS, WAIT, Workspace, _chromium, screenshot, settle

SIZES = ["300x250", "728x90", "160x600", "320x50"]
CLICK = "https://example.com/bug-spray?utm_source=test&utm_medium=display"
SAMPLE = f"""\
title = "Bug spray"
platform = "google"
sizes = ["medium-rectangle", "leaderboard", "160x600", "smartphone-banner"]
click_url = "{CLICK}"
headline = "No more bugs this summer"
subline = "Natural repellent, safe for the whole family"
cta = "Buy now"
background = "inbox/web/hero.jpg"
product = "alpha.png"
logo = "logo.svg"
animation = "fade"
duration = 6
loops = 2
"""
PROFILE = """\
description = "Web, lean for tests."
[image]
widths = [1280, 640]
formats = ["webp", "jpeg"]
"""
NEEDS_CHROMIUM = pytest.mark.skipif(
    not all(_chromium()),
    reason="needs chromium and chromedriver (Debian packages chromium, chromium-driver) to build banners",
)


@pytest.fixture(scope="session")
def processed(tmp_path_factory) -> Workspace:
    """A workspace whose three sample assets are processed (no banner yet)."""
    from pipeline.config.workspace import init_workspace

    root = tmp_path_factory.mktemp("banners") / "ws"
    init_workspace(root, "banners")
    ws = Workspace(root)
    ws.profile("web", PROFILE)
    ws.drop("images/orient-1.jpg", name="hero.jpg")
    ws.drop("images/alpha.png")
    ws.drop("images/logo.svg")
    ws.run(expect=0)
    return ws


@pytest.fixture(scope="session")
def sample(processed, tmp_path_factory) -> Workspace:
    """A copy of `processed` with the sample banner built."""
    if not all(_chromium()):
        pytest.skip("needs chromium and chromedriver (Debian packages chromium, chromium-driver) to build banners")
    ws = _copy(processed, tmp_path_factory.mktemp("sample"))
    ws.write("banners/bug-spray.toml", SAMPLE)
    result = ws.run()
    assert result.exit_code == 0, ws.report()["items"][-1]["error"]
    return ws


def _copy(ws: Workspace, into: Path) -> Workspace:
    shutil.copytree(ws.root, into / "ws", symlinks=True)
    return Workspace(into / "ws")


@pytest.fixture
def copy(processed, tmp_path) -> Workspace:
    return _copy(processed, tmp_path)


def _banner_item(ws: Workspace, name: str) -> dict:
    return ws.item(f"banners/{name}.toml")


# Outputs ------------------------------------------------------------------------------------
def test_sample_is_reported_with_every_size(sample):
    item = _banner_item(sample, "bug-spray")
    assert (item["status"], item["profile"], item["media"], item["error"]) == ("processed", "banner", "banner", None)
    for size in SIZES:
        for rel in (f"out/banners/bug-spray-{size}.zip", f"out/banners/bug-spray/{size}/index.html"):
            assert rel in item["outputs"] and (sample.root / rel).is_file()
        facts = item["facts"][size]
        assert facts["zip_bytes"] <= facts["budget_bytes"]
        assert facts["backup_bytes"] <= 40_000
    assert "out/banners/bug-spray/index.html" in item["outputs"]
    (ARTIFACTS / "banner-facts.json").parent.mkdir(exist_ok=True)
    (ARTIFACTS / "banner-facts.json").write_text(json.dumps(item["facts"], indent=1))


@pytest.mark.parametrize("size", SIZES)
def test_zip_holds_exactly_the_ad(sample, size):
    from pipeline.banners.check import check_zip
    from pipeline.banners.spec import load_banner

    path = sample.root / "out" / "banners" / f"bug-spray-{size}.zip"
    assert len(path.stem) <= 50
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[0] == "index.html"
        assert all(re.fullmatch(r"[0-9A-Za-z._-]+", n) for n in names), names  # flat, safe names
        assert not any(n.lower() in (".ds_store", "__macosx") or n.startswith(".") for n in names)
        assert {n.rsplit(".", 1)[1] for n in names} <= {"html", "jpg", "png", "svg"}
        html = zf.read("index.html").decode()
        contents = {n: zf.read(n) for n in names}
    folder = sample.root / "out" / "banners" / "bug-spray" / size
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == contents  # the folder is the zip, unpacked
    soup = BeautifulSoup(html, "html.parser")
    referenced = {t.get("src") for t in soup.find_all(src=True)}
    assert set(names) - {"index.html"} == referenced  # no orphans, nothing missing
    assert re.match(r"<!DOCTYPE html>\s*<html", html)
    w, h = size.split("x")
    assert soup.head.find("meta", attrs={"name": "ad.size"})["content"] == f"width={w},height={h}"
    assert f'var clickTag = "{CLICK}";' in soup.head.script.get_text()
    assert "@keyframes" in html and "infinite" not in html
    banner = load_banner(sample.root / "banners" / "bug-spray.toml", "banners/bug-spray.toml")
    assert check_zip(path, banner, size) == []


@pytest.mark.parametrize("size", SIZES)
def test_backup_image_is_exactly_the_size_and_light(sample, size):
    path = sample.root / "out" / "banners" / f"bug-spray-{size}-backup.jpg"
    assert path.stat().st_size <= 40_000
    with Image.open(path) as im:
        assert (im.format, im.size) == ("JPEG", tuple(int(v) for v in size.split("x")))


def test_showcase_shows_every_size_at_real_size(sample):
    soup = BeautifulSoup((sample.root / "out/banners/bug-spray/index.html").read_text(), "html.parser")
    frames = {f["src"]: (f["width"], f["height"]) for f in soup.find_all("iframe")}
    assert frames == {f"{s}/index.html": tuple(s.split("x")) for s in SIZES}
    assert len(soup.find_all("button", attrs={"data-replay": True})) == len(SIZES) + 1
    text = soup.get_text(" ")
    assert re.search(r"300x250 .*zip  ?\d+\.\d KB of 150 KB budget", text, re.S)
    assert re.search(r"320x50 .*zip  ?\d+\.\d KB of 50 KB budget", text, re.S)
    for s in SIZES:
        assert soup.find("a", href=f"../bug-spray-{s}.zip") and soup.find("a", href=f"../bug-spray-{s}-backup.jpg")


def test_unchanged_banner_is_not_rebuilt(sample):
    zips = {p: p.stat().st_mtime_ns for p in (sample.root / "out" / "banners").glob("*.zip")}
    sample.run(expect=0)
    assert _banner_item(sample, "bug-spray")["status"] == "skipped"
    assert {p: p.stat().st_mtime_ns for p in zips} == zips


def test_a_strip_says_what_it_leaves_out_and_why(sample):
    """#12: the 320x50 strip shows no sub-line and no product image; the build says so, naming
    the size, what is left out and why, and only for the sizes that leave something out."""
    item = _banner_item(sample, "bug-spray")
    said = [w for w in item["warnings"] if "left out" in w]
    assert len(said) == 1 and said[0].startswith(
        "320x50: the sub-line and the product image left out, too little room: "
    ), item["warnings"]
    assert (
        "50 px high has room for one line of text" in said[0]
        and "320 px wide has no room for a product picture" in said[0]
    )
    for size, shown in (("320x50", False), ("728x90", True), ("300x250", True), ("160x600", True)):
        ad = BeautifulSoup((sample.root / f"out/banners/bug-spray/{size}/index.html").read_text(), "html.parser")
        assert (ad.find(id="subline") is not None, ad.find(id="product") is not None) == (shown, shown), size


def test_only_what_a_banner_has_is_said_to_be_left_out(copy):
    if not all(_chromium()):
        pytest.skip("needs chromium and chromedriver to build banners")
    copy.write(
        "banners/bug-spray.toml",
        SAMPLE.replace('subline = "Natural repellent, safe for the whole family"\n', "").replace(
            'sizes = ["medium-rectangle", "leaderboard", "160x600", "smartphone-banner"]', 'sizes = ["320x50"]'
        ),
    )
    copy.run(expect=0)
    said = [w for w in _banner_item(copy, "bug-spray")["warnings"] if "left out" in w]
    assert (
        len(said) == 1
        and said[0].startswith("320x50: the product image left out, too little room: ")
        and "sub-line" not in said[0]
    )

    from pipeline.banners.html import layout

    assert [role for role, _ in layout(320, 100, {"logo", "product", "cta"}).left_out] == [
        "product"
    ]  # room for a sub-line
    assert [role for role, _ in layout(300, 50, {"logo", "cta"}).left_out] == ["subline"]  # no product asked for
    assert layout(728, 90, {"logo", "product", "cta"}).left_out == ()


# In the browser -----------------------------------------------------------------------------
def ssim(a: Image.Image, b: Image.Image, k: int = 7) -> float:
    """Mean structural similarity of two same-size images (grey, k x k windows)."""
    x, y = (np.asarray(im.convert("L"), dtype=np.float64) for im in (a, b))

    def mean(v):
        c = np.pad(v, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)

    mx, my = mean(x), mean(y)
    vx, vy, cov = mean(x * x) - mx**2, mean(y * y) - my**2, mean(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float((((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())


def _load(path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im.copy()


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES)
def test_every_size_in_chromium(sample, browser, size):
    from selenium.webdriver.support.ui import WebDriverWait

    w, h = (int(v) for v in size.split("x"))
    page = sample.root / "out" / "banners" / "bug-spray" / size / "index.html"
    browser.get("about:blank")
    browser.get_log("performance")
    browser.get_log("browser")
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False}
    )
    browser.get(page.as_uri())
    settle(browser)  # fonts ready and pictures decoded before anything is measured or shot

    # Exactly WxH, nothing scrolls.
    got = browser.execute_script("""
        const r = document.getElementById('ad').getBoundingClientRect(), d = document.documentElement;
        return [r.width, r.height, innerWidth, innerHeight, d.scrollWidth, d.scrollHeight,
                innerWidth - d.clientWidth, innerHeight - d.clientHeight];""")
    assert got == [w, h, w, h, w, h, 0, 0]
    # No network requests (only the ad's own files), no console errors.
    urls = [
        json.loads(e["message"])["message"]["params"]["request"]["url"]
        for e in browser.get_log("performance")
        if json.loads(e["message"])["message"]["method"] == "Network.requestWillBeSent"
    ]
    assert urls and all(u.startswith("file://") for u in urls), urls
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    # The first moment, for contrast with the end frame.
    browser.execute_script("document.getAnimations().forEach(a => { a.pause(); a.currentTime = 0; });")
    start = _load(screenshot(browser, f"banner-{size}-start"))
    # Play at 8x speed (the banner's own clock, not a wall-clock assertion) past its total duration.
    total_ms = 6000
    browser.execute_cdp_cmd("Animation.enable", {})
    browser.execute_cdp_cmd("Animation.setPlaybackRate", {"playbackRate": 8})
    # play() starts an animation at the next frame, not at once: count its duration from the
    # moment it really started (its startTime), or a busy machine makes it look too long.
    # That they run is asked in the same task: asked later, a busy machine could have let them
    # finish (0.75 s at 8x) in between.
    t0, running = (
        browser.execute_async_script("""const done = arguments[arguments.length - 1], all = document.getAnimations();
        all.forEach(a => a.play());
        Promise.all(all.map(a => a.ready)).then(() => done([Math.max(...all.map(a => a.startTime)),
                                                             all.filter(a => a.playState === 'running').length]));""")
    )
    assert running > 0
    WebDriverWait(browser, WAIT, poll_frequency=0.1).until(
        lambda d: d.execute_script("return document.timeline.currentTime;") >= t0 + total_ms + 100
    )
    states = browser.execute_script("return document.getAnimations().map(a => a.playState);")
    assert states and set(states) == {"finished"}

    end = _load(screenshot(browser, f"banner-{size}-end"))
    assert end.size == (w, h)
    backup = _load(sample.root / "out" / "banners" / f"bug-spray-{size}-backup.jpg")
    score, contrast = ssim(end, backup), ssim(start, backup)
    scores = ARTIFACTS / "banner-ssim.json"
    known = json.loads(scores.read_text()) if scores.exists() else {}
    known[size] = {"backup_vs_end_frame": round(score, 4), "backup_vs_first_frame": round(contrast, 4)}
    scores.write_text(json.dumps(known, indent=1, sort_keys=True))
    assert score >= 0.9, (score, contrast)
    assert contrast < score

    browser.execute_script("window.open = function (u, t) { window.__opened = [u, t]; return null; };")
    browser.find_element("id", "ad").click()
    assert browser.execute_script("return window.__opened;") == [CLICK, "_blank"]


# Refusals -----------------------------------------------------------------------------------
def _refused(ws: Workspace, name: str, text: str) -> str:
    ws.write(f"banners/{name}.toml", text)
    ws.run(expect=1)
    item = _banner_item(ws, name)
    assert item["status"] == "failed" and item["outputs"] == []
    assert not list((ws.root / "out").glob(f"banners/{name}*"))  # nothing shipped
    return item["error"]


def test_missing_asset_is_refused(copy):
    error = _refused(copy, "missing", SAMPLE.replace('product = "alpha.png"', 'product = "packshot.png"'))
    assert error == (
        "ASSET_MISSING in banners/missing.toml: product = 'packshot.png' is not an input of this workspace "
        "(no processed input has that path or file name). Fix: drop packshot.png into a watched folder "
        "(e.g. inbox/web/) and run again, or name an input by its path."
    )


@pytest.mark.parametrize("loops", ["0", '"infinite"'])
def test_infinite_animation_is_refused(copy, loops):
    error = _refused(copy, "forever", SAMPLE.replace("loops = 2", f"loops = {loops}"))
    shown = "0" if loops == "0" else "'infinite'"
    assert error == (
        f"ANIMATION_INFINITE in banners/forever.toml: loops = {shown} would play the animation forever; ad servers "
        "stop or refuse animations longer than 30 s (IAB: 15 s). Fix: loops = 1 to 3, so that the animation, "
        "loops included, stays within max_duration."
    )


def test_animation_over_15_s_is_refused(copy):
    error = _refused(copy, "long", SAMPLE.replace("duration = 6", "duration = 20"))
    assert error == (
        "ANIMATION_TOO_LONG in banners/long.toml: the animation runs 20 s (duration = 20, 2 loop(s)), "
        "over max_duration = 15 s. Fix: shorten it or play fewer loops; ad servers allow 30 s at most, the IAB 15 s."
    )


def test_external_script_is_refused(copy):
    snippet = '<script src="https://cdn.example.net/gsap.min.js"></script>'
    error = _refused(
        copy,
        "external",
        SAMPLE.replace(
            'sizes = ["medium-rectangle", "leaderboard", "160x600", "smartphone-banner"]', 'sizes = ["300x250"]'
        )
        + f"extra_html = '{snippet}'\n",
    )
    assert error == (
        "EXTERNAL_FILE_REFERENCED in banners/external.toml at 300x250: index.html loads "
        "https://cdn.example.net/gsap.min.js; only the platform's loader may come from outside the zip "
        "(google: none). Fix: remove it or put the file into the zip."
    )


def test_over_budget_is_refused(copy):
    error = _refused(
        copy,
        "heavy",
        SAMPLE.replace(
            'sizes = ["medium-rectangle", "leaderboard", "160x600", "smartphone-banner"]', 'sizes = ["300x250"]'
        )
        + 'budgets = {"300x250" = 5}\n',
    )
    assert re.fullmatch(
        r"FILE_SIZE_TOO_LARGE in banners/heavy\.toml at 300x250: the zip weighs \d+\.\d KB, over its budget "
        r"\(\[budgets\]\) of 5 KB, even with 1x images at JPEG quality 40\. Fix: use lighter images \(a smaller "
        r"or simpler background, a product cut-out without a large transparent margin\) or raise the budget "
        r"in \[budgets\] if the placement allows it\.",
        error,
    ), error


def test_bad_keys_are_refused_with_file_key_and_fix(copy):
    error = _refused(copy, "typo", SAMPLE + 'headlin = "x"\n[style]\ntext = "white"\n')
    assert error == (
        "BANNER_FILE_INVALID in banners/typo.toml: headlin = \"x\": unknown key; did you mean 'headline'? known keys: "
        "animation, background, budgets, click_url, cta, duration, extra_html, frames, headline, language, logo, "
        "loops, "
        "max_duration, min_font_px, platform, product, sizes, style, subline, title. Fix: rename or delete the line "
        '(e.g. headline = ...).; BANNER_FILE_INVALID in banners/typo.toml: [style] text = "white": text must be a '
        '#rrggbb colour. Fix: e.g. text = "#ffffff", or delete the line to use the default.'
    )


def test_http_click_url_is_refused(copy):
    error = _refused(copy, "plain", SAMPLE.replace(CLICK, "http://example.com/"))
    assert error == (
        "NOT_SSL_COMPLIANT in banners/plain.toml: click_url 'http://example.com/' is http://; ads are served on "
        "https pages. Fix: use https://example.com/."
    )


def test_missing_chromium_refuses_and_retries(copy, monkeypatch, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    error = _refused(copy, "nochrome", SAMPLE)
    assert error == (
        "CHROMIUM_MISSING in banners/nochrome.toml: chromium and chromedriver (package chromium-driver) not "
        "installed; banners are measured and rendered in headless Chromium. Fix: sudo apt-get install chromium "
        "chromium-driver (or ./dev setup); `crossmedia doctor` checks it"
    )
    monkeypatch.undo()  # Chromium is back: the next run tries again by itself
    if shutil.which("chromium") and shutil.which("chromedriver"):
        copy.run(expect=0)
        assert copy.item("banners/nochrome.toml")["status"] == "processed"


@NEEDS_CHROMIUM
def test_what_only_a_browser_sees_is_refused(copy):
    one = SAMPLE.replace(
        'sizes = ["medium-rectangle", "leaderboard", "160x600", "smartphone-banner"]', 'sizes = ["320x50"]'
    )
    copy.write(
        "banners/long-word.toml",
        one.replace("No more bugs this summer", "Pneumonoultramicroscopicsilicovolcanoconiosis") + "min_font_px = 14\n",
    )
    copy.write("banners/script-error.toml", one + 'extra_html = "<script>notDefined();</script>"\n')
    # Built at run time, so no static scan can see it: the browser's request log does.
    copy.write(
        "banners/pixel.toml",
        one + "extra_html = \"<script>new Image().src = 'https:/' + '/pixel.example.net/p.gif';</script>\"\n",
    )
    copy.run(expect=1)
    assert re.fullmatch(
        r"TEXT_OVERFLOW in banners/long-word\.toml at 320x50: the headline and sub-line need \d+x\d+ px in a "
        r"\d+x\d+ px box even at min_font_px = 14\. Fix: shorten the text, or lower min_font_px\.",
        _banner_item(copy, "long-word")["error"],
    )
    assert _banner_item(copy, "script-error")["error"] == (
        "JAVASCRIPT_ERROR in banners/script-error.toml at 320x50: the console reports: index.html 32:8 Uncaught "
        "ReferenceError: "
        "notDefined is not defined. Fix: fix the script."
    )
    assert _banner_item(copy, "pixel")["error"] == (
        "EXTERNAL_FILE_REFERENCED in banners/pixel.toml at 320x50: loading the page requested "
        "https://pixel.example.net/p.gif. "
        "Fix: remove whatever loads it; the ad must be self-contained."
    )
    assert not list((copy.root / "out").glob("banners/*.zip"))


# Platforms ----------------------------------------------------------------------------------
@NEEDS_CHROMIUM
def test_platforms_are_wired_their_way(copy):
    one = SAMPLE.replace(
        'sizes = ["medium-rectangle", "leaderboard", "160x600", "smartphone-banner"]', 'sizes = ["300x250"]'
    )
    for platform in ("adform", "flashtalking", "generic"):
        copy.write(f"banners/{platform}.toml", one.replace('platform = "google"', f'platform = "{platform}"'))
    framed = one.replace('animation = "fade"\nduration = 6\n', "") + FRAMES
    copy.write("banners/framed.toml", framed.replace('sizes = ["300x250"]', 'sizes = ["300x250", "728x90"]'))
    copy.run(expect=0)
    assert _banner_item(copy, "framed")["status"] == "processed"
    framed_html = (copy.root / "out/banners/framed/728x90/index.html").read_text()
    assert "k-headline 7s ease-out 0s 2 both" in framed_html and "#subline{opacity:0}" in framed_html
    files = {}
    for platform in ("adform", "flashtalking", "generic"):
        with zipfile.ZipFile(copy.root / "out" / "banners" / f"{platform}-300x250.zip") as zf:
            files[platform] = {n: zf.read(n) for n in zf.namelist()}
    adform = files["adform"]["index.html"].decode()
    assert f"dhtml.getVar('clickTAG', '{CLICK}')" in adform
    assert "https://s1.adform.net/banners/scripts/rmb/Adform.DHTML.js" in str(BeautifulSoup(adform, "html.parser").head)
    manifest = json.loads(files["adform"]["manifest.json"])
    assert {k: manifest[k] for k in ("version", "width", "height", "source")} == {
        "version": "1.0",
        "width": "300",
        "height": "250",
        "source": "index.html",
    }
    assert manifest["clicktags"] == {"clickTAG": CLICK} and set(manifest) >= {"title", "description", "events"}
    ft = files["flashtalking"]["index.html"].decode()
    assert "myFT.clickTag(1)" in ft
    assert BeautifulSoup(ft, "html.parser").head.find(
        "script", src="https://cdn.flashtalking.com/frameworks/js/api/v2/10/html5API.js"
    )
    body = re.search(r"FT\.manifest\((.*)\);", files["flashtalking"]["manifest.js"].decode(), re.S).group(1)
    assert json.loads(body) == {"filename": "index.html", "width": 300, "height": 250, "clickTagCount": 1}
    generic = files["generic"]["index.html"].decode()
    assert "window.clickTag ||" in generic and CLICK in generic and "<script src" not in generic


@NEEDS_CHROMIUM
def test_edited_then_removed_banner(sample, tmp_path):
    ws = _copy(sample, tmp_path)
    ws.write("banners/bug-spray.toml", SAMPLE.replace('"160x600", ', ""))
    ws.run(expect=0)
    assert _banner_item(ws, "bug-spray")["status"] == "processed"
    assert not (ws.root / "out/banners/bug-spray-160x600.zip").exists()
    assert not (ws.root / "out/banners/bug-spray/160x600").exists()
    (ws.root / "banners/bug-spray.toml").unlink()
    ws.run(expect=0)
    assert not (ws.root / "out/banners").exists() or not any((ws.root / "out/banners").iterdir())
    assert all(i["media"] != "banner" for i in ws.report()["items"])


def test_demo_banner_file_validates():
    from pipeline.banners.spec import load_banner
    from pipeline.commands.demo import BANNER

    path = ARTIFACTS / "harbour-sale.toml"
    ARTIFACTS.mkdir(exist_ok=True)
    path.write_text(BANNER)
    banner = load_banner(path, "banners/harbour-sale.toml")
    assert set(banner.sizes) >= {"300x250", "728x90", "160x600", "320x50"} and banner.total <= 15


def test_backup_refused_when_nothing_fits_40_kb():
    from pipeline.banners.size import _backup

    noise = Image.fromarray(np.random.default_rng(1).integers(0, 255, (250, 970, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    data, facts = _backup(buf.getvalue(), 970, 250, "970x250")
    assert data is None and facts.rule == "BACKUP_TOO_LARGE"


# Timed frames ---------------------------------------------------------------------------------
FRAMES = """
[[frames]]
duration = 2
show = ["background", "headline"]

[[frames]]
duration = 2
show = ["background", "product", "subline"]
effect = "slide"

[[frames]]
duration = 3
show = ["background", "logo", "headline", "cta"]
effect = "scale"
"""


def test_frames_become_keyframes_over_one_play():
    from pipeline.banners.html import animation_css
    from pipeline.banners.spec import Frame

    frames = (
        Frame(2, ["background", "headline"], "fade"),
        Frame(2, ["background", "product", "subline"], "slide"),
        Frame(3, ["background", "logo", "headline", "cta"], "scale"),
    )
    css = animation_css(frames, 7, 2, {"background", "headline", "subline", "product", "logo", "cta"}, False)
    # The headline fades in, fades out before frame 2, scales back in with frame 3 and stays.
    assert (
        "@keyframes k-headline{0%{opacity:0;transform:none}8.571%{opacity:1;transform:none}"
        "24.286%{opacity:1;transform:none}"
        "28.571%{opacity:0;transform:none}57.143%{opacity:0;transform:scale(.6)}65.714%{opacity:1;transform:none}"
        "100%{opacity:1;transform:none}}"
    ) in css
    assert "#headline{animation:k-headline 7s ease-out 0s 2 both}" in css
    # Base styles are the last frame (no motion, and what the backup shows); the background never moves.
    assert "#subline{opacity:0}" in css and "#cta{opacity:1;transform:none}" in css and "k-background" not in css


def test_frame_files_are_checked(tmp_path):
    from pipeline.banners.spec import BannerRefused, load_banner

    path = tmp_path / "f.toml"
    base = f'sizes = ["300x250"]\nclick_url = "{CLICK}"\nheadline = "Hi"\n'
    path.write_text(base + "duration = 9\n" + FRAMES)
    with pytest.raises(BannerRefused) as e:
        load_banner(path, "banners/f.toml")
    assert [v.rule for v in e.value.violations] == [
        "BANNER_FILE_INVALID"
    ] * 3  # duration; frames naming a missing product, logo
    assert "duration is set, but with [[frames]] the frames' own durations decide" in e.value.message("banners/f.toml")
    path.write_text(base + 'product = "p.png"\nsubline = "s"\ncta = "Go"\nlogo = "l.svg"\nloops = 3\n' + FRAMES)
    with pytest.raises(BannerRefused) as e:
        load_banner(path, "banners/f.toml")
    assert e.value.message("banners/f.toml") == (
        "ANIMATION_TOO_LONG in banners/f.toml: the animation runs 21 s (3 frames of 7 s, 3 loop(s)), over "
        "max_duration = 15 s. "
        "Fix: shorten it or play fewer loops; ad servers allow 30 s at most, the IAB 15 s."
    )
    path.write_text(base + 'product = "p.png"\nsubline = "s"\ncta = "Go"\nlogo = "l.svg"\nloops = 2\n' + FRAMES)
    banner = load_banner(path, "banners/f.toml")
    assert (banner.cycle, banner.total, [f.effect for f in banner.frames]) == (7, 14, ["fade", "slide", "scale"])
