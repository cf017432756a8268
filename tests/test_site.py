"""The preview site and template pages (issue #6), built by a real run over corpus files.

One workspace is built once for the module (real CLI, real stages); the structure tests read
its HTML with BeautifulSoup, the browser tests load it in headless Chromium. Media: corpus files
(see ../shared/corpus/SOURCES.md): orient-1/orient-6.jpg (MIT, photo by Pierre Bouillot),
cmyk-icc.jpg and alpha.png (Apache-2.0, sharp fixtures), logo.svg (LGPL, libvips), the hostile
file name `<img src=x onerror=alert(1)>.jpg` (Apache-2.0, sharp 320x240 test pattern),
truncated.jpg (sharp), tiny-128.jpg (Pillow's hopper, public domain).
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from PIL import Image, ImageOps

from conftest import CORPUS, WAIT, Workspace, published, screenshot, settle

HOSTILE = "<img src=x onerror=alert(1)>.jpg"
MARKUP_ALT = '"><script>alert("alt")</script>'
MARKUP_TEXT = "Sails & <b>boats</b> <script>alert('text')</script>"

LANDING = f'''
template = "landing"
title = "Harbour <days>"
description = "Boats & sails"

[[blocks]]
heading = "Welcome"
text = """{MARKUP_TEXT}

Second paragraph."""
asset = "inbox/web/orient-6.jpg"
link = {{ text = "Book", href = "https://example.com/book" }}

[[blocks]]
heading = "Print colours"
text = "Converted from CMYK."
asset = "inbox/web/cmyk-icc.jpg"

[[blocks]]
heading = "Bug"
asset = "alpha.png"

[[blocks]]
heading = "Gallery"
assets = ["inbox/web/logo.svg", "inbox/web/{HOSTILE}"]
alt = "gallery item"
'''

ARTICLE = """
template = "article"
title = "A square crop"
byline = "The desk"
date = "23 November"

[[blocks]]
asset = "inbox/social/orient-1.jpg"
aspect = "1:1"
text = "The square crop centres on the focal point."
"""


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Workspace:
    from pipeline.config.workspace import init_workspace

    root = tmp_path_factory.mktemp("site") / "ws"
    init_workspace(root, "Test & <Co>")
    ws = Workspace(root)
    config = root / "crossmedia.toml"
    config.write_text(
        config.read_text().replace('# logo = "inbox/web/logo.svg"', 'logo = "inbox/web/logo.svg"\naccent = "#123456"')
    )
    # Smaller renditions keep the module fast; the markup does not depend on the widths.
    ws.profile("web", 'extends = "web"\n[image]\nwidths = [1280, 640]\n')
    ws.profile("social", 'extends = "social"\n[image]\naspects = ["1:1", "16:9"]\nwidths = [640]\n')
    for name in ("orient-6.jpg", "cmyk-icc.jpg", "alpha.png", "logo.svg"):
        ws.drop(f"images/{name}")
    ws.drop(f"broken/{HOSTILE}")
    ws.drop("broken/truncated.jpg")
    ws.drop("images/orient-1.jpg", "inbox/social")
    ws.drop("images/tiny-128.jpg", "inbox/print")
    ws.write(
        "inbox/web/orient-6.jpg.toml",
        f'alt = \'{MARKUP_ALT}\'\ntitle = "<i>Title</i>"\ncredit = "Photo: P. Bouillot"\n',
    )
    ws.write("inbox/web/alpha.png.toml", "decorative = true\n")
    ws.write("inbox/web/logo.svg.toml", 'alt = "libvips logo"\n')
    ws.write("inbox/social/orient-1.jpg.toml", 'alt = "A road"\nfocus = [0.8, 0.3]\n')
    ws.write("pages/landing.toml", LANDING)
    ws.write("pages/article.toml", ARTICLE)
    ws.write("pages/broken.toml", 'title = "Broken"\n[[blocks]]\nasset = "inbox/web/nope.jpg"\n')
    ws.result = ws.run("-j", "2")
    return ws


def out(ws: Workspace, rel: str) -> Path:
    return ws.root / "out" / rel


def asset_page(ws: Workspace, input_rel: str, profile: str = "web") -> Path:
    from pipeline.batch.store import Row
    from pipeline.site.preview import asset_page_path

    return ws.root / "out" / asset_page_path(Row(input_rel, profile, "image", "processed", 0, 0, "", ""))


# Report and exit code ------------------------------------------------------------------------
def test_pages_are_report_items_and_a_missing_asset_fails_the_run(site):
    assert site.result.exit_code == 1
    report = site.report()
    pages = {i["input"]: i for i in report["items"] if i["media"] == "page"}
    assert set(pages) == {"pages/landing.toml", "pages/article.toml", "pages/broken.toml"}
    broken = pages["pages/broken.toml"]
    assert broken["status"] == "failed" and broken["outputs"] == []
    assert "pages/broken.toml" in broken["error"] and "inbox/web/nope.jpg" in broken["error"]
    assert not out(site, "site/pages/broken.html").exists()
    landing = pages["pages/landing.toml"]
    assert landing["status"] == "processed" and "out/site/pages/landing.html" in landing["outputs"]
    assert any("inbox/web/cmyk-icc.jpg has no alt text" in w for w in landing["warnings"])  # no sidecar
    assert not any("alpha.png" in w for w in landing["warnings"])  # decorative
    assert report["counts"]["failed"] == 2  # truncated.jpg and the broken page
    assert not [n for n in report["notes"] if n.startswith("check:")], report["notes"]


def test_an_unchanged_rerun_keeps_the_failed_page_and_builds_nothing(site):
    # out/site/report.html is the production report of the last run (#15): rewritten by every run
    before = {p: p.stat().st_mtime_ns for p in (site.root / "out/site").rglob("*") if p.name != "report.html"}
    again = site.run()
    assert again.exit_code == 1  # the broken page is still broken
    report = site.report()
    assert report["counts"]["processed"] == 0
    assert {i["input"]: i["status"] for i in report["items"] if i["media"] == "page"} == {
        "pages/landing.toml": "skipped",
        "pages/article.toml": "skipped",
        "pages/broken.toml": "failed",
    }
    assert {p: p.stat().st_mtime_ns for p in (site.root / "out/site").rglob("*") if p.name != "report.html"} == before


# Preview site --------------------------------------------------------------------------------
def test_index_counts_filters_and_failures(site):
    page = soup(out(site, "site/index.html"))
    cards = page.select("#assets .card")
    assert len(cards) == 8
    by_input = {c["data-search"].split()[0]: c for c in cards}
    assert by_input["inbox/web/orient-6.jpg"]["data-profile"] == "web"
    assert by_input["inbox/print/tiny-128.jpg"]["data-profile"] == "print"
    assert by_input["inbox/web/truncated.jpg"]["data-status"] == "failed"
    assert by_input["inbox/web/cmyk-icc.jpg"]["data-warnings"] != "0"
    counts = {li.button["data-filter"]: int(li.strong.text) for li in page.select(".counts li")}
    assert counts == {"total": 8, "processed": 7, "warnings": counts["warnings"], "failed": 1, "skipped": 0}
    assert counts["warnings"] >= 3
    failed = page.select_one(".failed").get_text(" ", strip=True)
    assert "inbox/web/truncated.jpg" in failed and "truncated or damaged" in failed
    assert [o.text for o in page.select("select[name=profile] option")] == ["all", "print", "social", "web"]
    assert [o.text for o in page.select("select[name=media] option")] == ["all", "image"]
    # every processed image has a thumbnail with its size; the print one comes from the site's own preview
    for card in cards:
        if card["data-status"] == "processed":
            img = card.select_one(".thumb img")
            assert img and img["width"] and img["height"], card
    pages = page.select_one(".built-pages").get_text(" ", strip=True)
    assert "Harbour <days>" in pages and "failed" in pages and "nope.jpg" in pages


def test_asset_page_shows_source_facts_renditions_crops_and_comparison(site):
    page = soup(asset_page(site, "inbox/social/orient-1.jpg", "social"))
    facts = dict(
        zip([d.text for d in page.select(".facts dt")], [d.text for d in page.select(".facts dd")], strict=True)
    )
    assert facts["Pixels"] == "1800 × 1200" and facts["Profile"] == "social"
    rows = page.select("table.renditions tbody tr")
    assert len(rows) == 4  # 2 aspects x jpeg, webp at 640
    assert all("% smaller" in r.select("td")[-1].text for r in rows)
    crops = {c.span.text: c["style"] for c in page.select(".crop")}
    assert set(crops) == {"1:1", "16:9"}
    # 1:1 of 1800x1200 is 1200 wide; centred on x = 0.8 it hits the right edge: 600..1800 px
    assert "left:33.33%" in crops["1:1"] and "width:66.67%" in crops["1:1"]
    assert len(page.select(".focus")) == 2
    compares = page.select(".compare")
    assert len(compares) == 2
    for c in compares:
        before, after = c.select_one("img.before"), c.select_one("img.after")
        assert (asset_page(site, "inbox/social/orient-1.jpg", "social").parent / before["src"]).is_file()
        assert after["src"].endswith(".webp")  # what browsers get: webp over jpeg
        with Image.open(asset_page(site, "inbox/social/orient-1.jpg", "social").parent / before["src"]) as b:
            assert b.size == (int(after["width"]), int(after["height"]))


def test_print_renditions_are_compared_as_a_soft_proof(site):
    page = soup(asset_page(site, "inbox/print/tiny-128.jpg", "print"))
    label = page.select_one(".compare figcaption").text
    assert "soft proof" in label and "TIFF" in label
    assert any("ppi" in li.text for li in page.select(".warnings li"))
    # the picture first, then the warnings in full, then the summary; raw facts folded at the end
    picture, warnings, summary = (
        page.select_one(".source .crop-frame"),
        page.select_one(".warnings"),
        page.select_one(".summary"),
    )
    assert _before(page, picture, warnings) and _before(page, warnings, summary)
    assert _facts_of(summary)["Pixels"] == "128 × 128" and "Input" not in _facts_of(summary)
    assert _facts_of(page.select_one("details.details"))["Input"] == "inbox/print/tiny-128.jpg"


def test_a_small_source_is_shown_at_its_own_size_and_is_the_before_of_its_comparison(site):
    page = asset_page(site, "inbox/print/tiny-128.jpg", "print")  # a small sRGB JPEG, upright
    doc = soup(page)
    src = doc.select_one(".crop-frame img")["src"]
    # Drawn from the decoded pixels by the worker (never a copy of the file, which could be
    # damaged past what the decoder read), at the source's own size.
    assert src.endswith("tiny-128.preview.jpg"), src
    with Image.open(page.parent / src) as shown, Image.open(CORPUS / "images/tiny-128.jpg") as source:
        shown.load()
        assert shown.size == source.size
    assert doc.select_one(".compare img.before")["src"] == src  # uncropped: the preview is the "before"


def test_failed_input_page_says_why(site):
    page = soup(asset_page(site, "inbox/web/truncated.jpg"))
    assert "truncated or damaged" in page.select_one(".problem .error").text
    assert "quarantine/" in page.select_one(".problem").text


def test_hostile_names_and_sidecar_text_stay_text(site):
    pages = sorted((site.root / "out/site").rglob("*.html"))
    assert len(pages) >= 10
    for path in pages:
        doc = soup(path)
        scripts = doc.find_all("script")
        assert all(s.get("src") and not s.string for s in scripts), path  # only our site.js
        for tag in doc.find_all(True):
            assert not [a for a in tag.attrs if a.lower().startswith("on")], (path, tag)
            assert tag.name != "img" or tag.get("src") != "x", path
    text = asset_page(site, f"inbox/web/{HOSTILE}").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in text
    download = soup(asset_page(site, f"inbox/web/{HOSTILE}")).select_one(".download a")
    assert re.fullmatch(r"\.\./zip/[\w.-]+\.zip", download["href"]) and "<" not in download["download"]
    landing = soup(out(site, "site/pages/landing.html"))
    assert MARKUP_TEXT in landing.get_text()  # shown as typed
    assert landing.find("img", alt=MARKUP_ALT) is not None  # escaped into the attribute, intact
    assert "Photo: P. Bouillot" in landing.get_text() and "<i>Title</i>" in landing.get_text()
    assert "Test & <Co>" in soup(out(site, "site/index.html")).select_one(".brand img")["alt"]


# Pages ---------------------------------------------------------------------------------------
def test_landing_page_pictures(site):
    page = soup(out(site, "site/pages/landing.html"))
    imgs = page.select("main img")
    assert len(imgs) == 5
    first, *rest = imgs
    assert first.get("fetchpriority") == "high" and "loading" not in first.attrs
    assert all(i.get("loading") == "lazy" and i.get("decoding") == "async" for i in rest)
    for img in imgs:
        assert img["width"].isdigit() and img["height"].isdigit() and img.has_attr("alt")
    picture = first.find_parent("picture")
    types = [s["type"] for s in picture.select("source")]
    assert types == ["image/avif", "image/webp"]
    for s in picture.select("source"):
        assert re.fullmatch(r"\S+-640\.\w+ 640w, \S+-1280\.\w+ 1280w", s["srcset"]), s["srcset"]
        assert s["sizes"] == "100vw"
    assert first["src"].endswith("-1280.jpg") and (first["width"], first["height"]) == ("1280", "853")
    assert first["srcset"].endswith("1280w") and first["src"].startswith("../../web/")
    decorative = page.find("img", src=re.compile(r"alpha"))
    assert decorative["alt"] == ""
    svg = page.main.find("img", src=re.compile(r"\.svg$"))
    assert svg["alt"] == "gallery item" and svg.find_parent("picture") is None
    hero = page.select_one(".hero")
    assert hero.h1.text == "Welcome" and hero.select_one("a.cta")["href"] == "https://example.com/book"
    assert [p.text for p in hero.select("p")] == [MARKUP_TEXT, "Second paragraph."]
    assert page.select_one(".band-split") is not None and page.select_one(".gallery") is not None
    assert page.select_one("header .logo")["src"].endswith(".svg")


def test_article_uses_the_crop_asked_for(site):
    page = soup(out(site, "site/pages/article.html"))
    img = page.select_one("main img")
    assert "-1x1-640." in img["src"] and img["width"] == img["height"] == "640"
    assert page.select_one(".byline").text == "The desk · 23 November"
    assert page.find("meta", property="og:type")["content"] == "article"


def test_share_tags_and_a_1200x630_image_around_the_focal_point(site):
    page = soup(out(site, "site/pages/article.html"))
    meta = {(m.get("property") or m.get("name")): m["content"] for m in page.find_all("meta") if m.get("content")}
    assert meta["og:title"] == meta["twitter:title"] == "A square crop"
    assert meta["twitter:card"] == "summary_large_image"
    assert (meta["og:image:width"], meta["og:image:height"]) == ("1200", "630")
    assert meta["og:image:alt"] == "A road" and meta["og:image"] == meta["twitter:image"]
    share = out(site, "site/pages") / meta["og:image"]
    with Image.open(share) as im:
        assert im.format == "JPEG" and im.size == (1200, 630)
        got = np.asarray(im.convert("RGB"), dtype=np.float32)
    # Sidecar focus y = 0.3: the 1800x945 cut starts at the top; a centred cut would start at 127.
    with Image.open(CORPUS / "images/orient-1.jpg") as src:
        upright = ImageOps.exif_transpose(src).convert("RGB")

    def diff(top: int) -> float:
        cut = upright.crop((0, top, 1800, top + 945)).resize((1200, 630), Image.Resampling.LANCZOS)
        return float(np.abs(np.asarray(cut, dtype=np.float32) - got).mean())

    assert diff(0) < 6 < diff(127), (diff(0), diff(127))
    landing = soup(out(site, "site/pages/landing.html"))
    # The share picture is a rendition the worker made and recorded (role "share"), not a file
    # the site drew from the source.
    share_url = landing.find("meta", property="og:image")["content"]
    assert share_url.startswith("../../web/") and share_url.endswith(".share.jpg"), share_url
    assert landing.find("meta", property="og:description")["content"] == "Boats & sails"


def test_house_style_comes_from_the_config(site):
    css = out(site, "site/static/page.css").read_text()
    assert "--accent: #123456;" in css and "--heading: Georgia, 'Times New Roman', serif;" in css
    assert "--accent: #123456;" in out(site, "site/static/site.css").read_text()


def test_checker_passes_the_built_site_and_the_cli_says_so(site):
    done = site.cli("check", "-w", str(site.root), "--json", expect=0)
    data = json.loads(done.stdout)
    assert data["pages"] >= 10 and data["problems"] == []
    assert data["external_links"] == ["https://example.com/book"]


# Browser ------------------------------------------------------------------------------------
# Every picture that is in view (and shown) has loaded, or failed.
_IN_VIEW_LOADED = """return Array.from(document.images).every(function (i) {
  var r = i.getBoundingClientRect();
  return i.complete || !(r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight); });"""


def _scroll_and_settle(driver) -> None:
    """Bring every lazy picture into view, a step at a time, waiting at each step until those in
    view have loaded. Scrolling through without waiting (as this did) depends on the machine's
    speed: on a busy one the page was back at the top before Chromium looked at what had come
    into view, so the pictures further down never loaded and the wait for them timed out (#12)."""
    from selenium.webdriver.support.ui import WebDriverWait

    y = 0
    while True:
        driver.execute_script("window.scrollTo(0, arguments[0])", y)
        WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(_IN_VIEW_LOADED))
        if y + driver.execute_script("return innerHeight") >= driver.execute_script(
            "return document.documentElement.scrollHeight"
        ):
            break
        y += 400
    driver.execute_script("window.scrollTo(0, 0)")
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return Array.from(document.images).every(function (i) { return i.complete; })")
    )
    settle(driver)


def _problems(driver) -> tuple[list[str], list[str]]:
    """(console errors, failed requests) since the last call. Requests of Chromium's own pages
    (chrome://new-tab-page... at start-up, which it cannot resolve offline) are not ours."""
    console = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    failed, urls, own = [], {}, set()
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls[msg["params"]["requestId"]] = msg["params"]["request"]["url"]
            if msg["params"].get("documentURL", "").startswith("chrome://"):
                own.add(msg["params"]["requestId"])
        elif msg["method"] == "Network.loadingFailed" and msg["params"]["requestId"] not in own:
            failed.append(f"{msg['params'].get('errorText')} {urls.get(msg['params']['requestId'], '?')}")
        elif msg["method"] == "Network.responseReceived" and msg["params"]["response"]["status"] >= 400:
            failed.append(f"{msg['params']['response']['status']} {msg['params']['response']['url']}")
    return console, failed


def _undecoded(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.images).filter(function (i) { return !(i.naturalWidth > 0); })"
        ".map(function (i) { return i.src; })"
    )


def _open(driver, url: str, width: int) -> None:
    _viewport(driver, width, 900)
    _problems(driver)  # start clean: what came before (browser start-up) is not this page's
    driver.get(url)
    _scroll_and_settle(driver)


def _until(driver, condition, got) -> None:
    """Wait for the page's scripts to have done what a test asked; on timeout, say what is there."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, WAIT).until(condition)
    except TimeoutException:
        raise AssertionError(f"after {WAIT} s the page shows {got()!r}") from None


def _viewport(driver, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def _full_screenshot(driver, width: int, name: str) -> Path:
    height = min(driver.execute_script("return document.documentElement.scrollHeight"), 6000)
    _viewport(driver, width, height)
    settle(driver)  # laid out and painted at the new size
    return screenshot(driver, name)


@pytest.mark.browser
def test_preview_index_and_asset_page_in_chromium(site, browser):
    from selenium.webdriver.common.by import By

    _open(browser, out(site, "site/index.html").as_uri(), 1280)
    assert _problems(browser) == ([], [])
    assert _undecoded(browser) == []
    search = browser.find_element(By.NAME, "q")
    search.send_keys("orient")
    shown = browser.find_element(By.ID, "shown")
    _until(browser, lambda d: shown.text == "2 of 8 shown", lambda: shown.text)
    search.clear()
    browser.find_element(By.CSS_SELECTOR, ".count-failed button").click()

    def visible() -> list[str]:
        return [
            c.get_attribute("data-status")
            for c in browser.find_elements(By.CSS_SELECTOR, "#assets .card")
            if c.is_displayed()
        ]

    _until(browser, lambda d: visible() == ["failed"], visible)
    browser.find_element(By.CSS_SELECTOR, ".count-total button").click()
    _full_screenshot(browser, 1280, "site-index")

    _open(browser, asset_page(site, "inbox/social/orient-1.jpg", "social").as_uri(), 1280)
    assert _problems(browser) == ([], [])
    assert _undecoded(browser) == []
    slider = browser.find_element(By.CSS_SELECTOR, ".compare input[type=range]")
    browser.execute_script("arguments[0].value = 20; arguments[0].dispatchEvent(new Event('input'));", slider)
    pos = browser.execute_script(
        "return arguments[0].closest('.compare').querySelector('.compare-frame').style.getPropertyValue('--pos')",
        slider,
    )
    assert pos == "20%"
    _full_screenshot(browser, 1280, "site-asset")


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1440])
def test_landing_page_fits_the_screen(site, browser, width):
    _open(browser, out(site, "site/pages/landing.html").as_uri(), width)
    assert _problems(browser) == ([], [])
    assert _undecoded(browser) == []
    scroll, inner = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"horizontal scroll at {width} px: {scroll} > {inner}"
    hero = browser.execute_script("return document.querySelector('main img').currentSrc")
    assert hero.endswith(".avif")  # the <picture> gave Chromium its best format
    _full_screenshot(browser, width, f"landing-{width}")


def test_workspace_templates_override_the_built_in_ones(site, tmp_path):
    """A copy of the built site's workspace with a template of its own."""
    copy = tmp_path / "ws"
    shutil.copytree(site.root, copy)
    ws = Workspace(copy)
    ws.write(
        "site_templates/landing.html",
        '{% extends "builtin/landing.html" %}{% block main %}<p class="mine">{{ page.title }}</p>{{ super() }}{% '
        "endblock %}",
    )
    ws.write(
        "site_templates/teaser.html", "<!DOCTYPE html><title>{{ page.title }}</title><p>{{ page.description }}</p>"
    )
    ws.write("pages/teaser.toml", 'template = "teaser"\ntitle = "Soon"\ndescription = "<soon>"\n')
    ws.write("pages/nope.toml", 'template = "missing"\ntitle = "x"\n')
    ws.run()
    landing = soup(copy / "out/site/pages/landing.html")
    assert landing.select_one("p.mine").text == "Harbour <days>" and landing.select_one(".hero")
    assert "&lt;soon&gt;" in (copy / "out/site/pages/teaser.html").read_text()
    nope = ws.item("pages/nope.toml")
    assert nope["status"] == "failed" and "template 'missing' not found" in nope["error"]
    # Edited again: the next run uses the edit, not the compiled copy in the user's cache.
    ws.write(
        "site_templates/landing.html",
        '{% extends "builtin/landing.html" %}{% block main %}<p class="edited">{{ page.title }}</p>{% endblock %}',
    )
    ws.run()
    landing = soup(copy / "out/site/pages/landing.html")
    assert landing.select_one("p.edited") and not landing.select_one("p.mine")


def test_the_worker_draws_the_source_preview_while_the_pixels_are_in_memory(ws):
    """The publish step must not decode sources again (0.15 s a camera photo on one core)."""
    ws.drop("images/orient-6.jpg")  # rotated: a browser cannot show the file as it is
    ws.run(expect=0)
    item = ws.item("inbox/web/orient-6.jpg")
    recorded = [r for r in item["facts"]["renditions"] if r.get("role") == "preview"]
    assert len(recorded) == 1 and recorded[0]["path"] in item["outputs"]
    preview = ws.root / recorded[0]["path"]
    with Image.open(preview) as im:
        assert im.size == (1200, 800) == (recorded[0]["width"], recorded[0]["height"])  # upright
    pages = "".join(p.read_text() for p in (ws.root / "out/site").rglob("*.html"))
    assert preview.relative_to(ws.root / "out").as_posix() in pages


# Audio and video pages (#14) ----------------------------------------------------------------
GAP = "inbox/podcast/gap.wav"  # 1 s of silence, 2 s of tone, 1.5 s of silence: the podcast profile trims both
CLIP = "inbox/web/h264-aac.mp4"  # 640x480, web made "original" and "1:1"
PHONE = "inbox/web/phone-rotated-90.mov"  # stored 640x480 with a rotation of 90°: shown 480x640
SOCIAL = "inbox/social/h264-aac.mp4"  # social: 1:1, 4:5, 9:16 only, so no poster of the whole frame


def _ffmpeg(*args: str) -> None:
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def av(tmp_path_factory) -> Workspace:
    """A real run over an audio file made here and corpus clips (h264-aac.mp4: MIT, see SOURCES.md;
    phone-rotated-90.mov: MIT, streamio-ffmpeg), in the web, social and podcast profiles."""
    from pipeline.config.workspace import init_workspace

    if not shutil.which("ffmpeg"):
        pytest.skip("needs ffmpeg")
    root = tmp_path_factory.mktemp("av") / "ws"
    init_workspace(root, "av")
    ws = Workspace(root)
    ws.profile("web", 'extends = "web"\n[video]\naspects = ["original", "1:1"]\nloop = false\n')
    (root / "inbox/podcast").mkdir(parents=True, exist_ok=True)
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=2,adelay=1000,apad=pad_dur=1.5",
        "-ac", "1", str(root / GAP),
    )  # fmt: skip
    ws.drop("video/h264-aac.mp4")
    ws.drop("video/phone-rotated-90.mov")
    ws.drop("video/h264-aac.mp4", "inbox/social")
    ws.write(f"{GAP}.toml", 'title = "Gap <jingle>"\ncredit = "Made by ffmpeg"\nalt = "A tone between two silences"\n')
    ws.result = ws.run("-j", "2", expect=0)
    return ws


def _page(ws: Workspace, rel: str) -> tuple[Path, BeautifulSoup]:
    from pipeline.batch.store import Store
    from pipeline.site.preview import asset_page_path

    store = Store(ws.root / ".crossmedia/state.db")
    try:
        path = ws.root / "out" / asset_page_path(store.items()[rel])
    finally:
        store.close()
    return path, soup(path)


def _facts_of(section) -> dict[str, str]:
    return dict(zip([d.text for d in section.select("dt")], [d.text for d in section.select("dd")], strict=True))


def _before(doc: BeautifulSoup, first, second) -> bool:
    """Does `first` come before `second` in the page?"""
    order = {id(tag): n for n, tag in enumerate(doc.find_all(True))}
    return order[id(first)] < order[id(second)]


def test_audio_page_leads_with_the_waveform_its_trim_and_silences_then_a_summary_in_units(av):
    from pipeline.site.facts import clock

    path, page = _page(av, GAP)
    facts = av.item(GAP)["facts"]
    trim, duration = facts["trim"], facts["duration"]
    assert trim["cut_start"] and trim["cut_end"] and "silence" in trim["by"]  # what this page is about
    player = page.select_one(".stage .player audio")
    summary = page.select_one(".summary")
    assert _before(page, player, summary) and _before(page, summary, page.select_one("details.details"))
    assert page.select_one("details.details > summary").text == "Details"
    # The waveform (of the kept part) sits where the kept part is on the source's duration.
    kept = page.select_one(".wave .span-kept")
    assert kept.select_one("img.waveform")["src"].endswith("-waveform.png")
    assert kept["style"] == (
        f"left:{trim['start'] / duration * 100:.2f}%;width:{(trim['end'] - trim['start']) / duration * 100:.2f}%"
    )
    cuts = [s["style"] for s in page.select(".wave .span-cut")]
    assert cuts == [
        f"left:0.00%;width:{trim['start'] / duration * 100:.2f}%",
        f"left:{trim['end'] / duration * 100:.2f}%;width:{(duration - trim['end']) / duration * 100:.2f}%",
    ]
    silences = page.select(".wave .span-silence")
    assert len(silences) == 2 and silences[0]["style"].startswith("left:0.00%;width:2")  # ~1 s of 4.5 s
    assert silences[1]["style"].endswith(f"width:{facts['silence_tail'] / duration * 100:.2f}%")
    assert {li["class"][1] for li in page.select(".legend li")} == {"key-kept", "key-cut", "key-silence"}
    said = _facts_of(summary)
    assert said["Duration"] == "0:04.5" and said["Channels"] == "mono" and said["Sample rate"] == "44.1 kHz"
    assert (
        said["Kept"]
        == f"{clock(facts['kept_duration'])} ({clock(trim['start'])} to {clock(trim['end'])}, cut: silence)"
    )
    before, after = facts["loudness"]["before"]["lufs"], facts["loudness"]["after"]["mp3"]["lufs"]
    assert said["Loudness"].startswith(f"{before:.1f} → {after:.1f}") and "LUFS" in said["Loudness"]
    assert "dBTP" in said["Loudness"] and "gain +" in said["Loudness"]
    assert said["Bitrate"].endswith(("kb/s", "Mb/s")) and said["File size"].endswith("kB")
    assert _facts_of(page.select_one(".sidecar")) == {
        "Title": "Gap <jingle>",
        "Alt text": "A tone between two silences",
        "Credit": "Made by ffmpeg",
    }
    # Every fact in words: no Python dict or list printed, units on the numbers.
    text = page.get_text()
    assert "{" not in text and "}" not in text and not re.search(r"\['|'\]|': |\": ", text), text
    details = _facts_of(page.select_one("details.details"))
    assert details["Loudness › after › mp3 › lufs"].endswith(" LUFS")
    assert details["Sample rate"] == "44.1 kHz" and details["Trim › by"] == "silence"
    assert "Renditions" not in " ".join(details) and "Sidecar" not in " ".join(details)


def test_video_page_leads_with_the_player_and_draws_the_crops_on_the_poster(av):
    path, page = _page(av, CLIP)
    first = page.select_one("main video")
    assert first.find_parent(class_="stage") is not None and "original" in first.find_parent("figure").figcaption.text
    assert _before(page, first, page.select_one(".summary"))
    frame = page.select_one(".crops-video .crop-frame")
    poster = frame.img
    assert "-poster." in poster["src"] and "1x1" not in poster["src"]  # the whole frame
    assert (path.parent / poster["src"]).is_file()
    crops = {c.span.text: c["style"] for c in frame.select(".crop")}
    # 1:1 of a 640x480 frame: 480x480 in the middle, 80 px in from each side
    assert crops == {"1:1": "left:12.50%;top:0.00%;width:75.00%;height:100.00%"}
    said = _facts_of(page.select_one(".summary"))
    assert said["Size"] == "640 × 480 px, landscape" and said["Video"].startswith("H264, ")
    assert said["Video"].endswith(" fps") and said["Sound"].startswith("AAC, ")
    assert re.fullmatch(r"\d+ kb/s|\d\.\d\d Mb/s", said["Bitrate"]) and "LUFS" in said["Loudness"]
    assert "{" not in page.get_text()


def test_a_video_with_crops_only_draws_them_on_its_whole_frame(av):
    path, page = _page(av, SOCIAL)
    frame = page.select_one(".crops-video .crop-frame")
    assert frame.img["src"].endswith(".frame.jpg")  # stages/poster.py: the whole frame, for people
    with Image.open(path.parent / frame.img["src"]) as im:
        assert im.size == (640, 480) == (int(frame.img["width"]), int(frame.img["height"]))
    crops = {c.span.text: c["style"] for c in frame.select(".crop")}
    assert set(crops) == {"1:1", "4:5", "9:16"}
    assert crops["1:1"] == "left:12.50%;top:0.00%;width:75.00%;height:100.00%"
    # a picture for people: not in the renditions table, the zip or a delivery
    assert not [a for a in page.select("table.renditions a") if a["href"].endswith(".frame.jpg")]
    item = av.item(SOCIAL)
    assert not [o for o in published(item) if o.endswith(".frame.jpg")]


def test_a_portrait_clip_is_shown_upright(av):
    facts = av.item(PHONE)["facts"]
    assert (facts["width"], facts["height"], facts["rotation"]) == (640, 480, 90)  # stored sideways
    _, page = _page(av, PHONE)
    said = _facts_of(page.select_one(".summary"))
    assert said["Size"] == "480 × 640 px, portrait (stored 640 × 480, rotated 90°)"
    video = page.select_one(".stage video")
    assert int(video["height"]) > int(video["width"])


def test_the_zip_holds_the_renditions_and_is_made_again_only_when_they_change(av):
    import os
    import zipfile

    from conftest import published
    from pipeline.config.workspace import Workspace as Open
    from pipeline.site.build import build

    path, page = _page(av, CLIP)
    link = page.select_one(".download a")
    item = av.item(CLIP)
    names = sorted(Path(o).name for o in published(item))
    assert link.text == f"Download all ({len(names)} files, {link.text.split(', ')[1]}"
    assert link["download"] == "h264-aac.mp4-web.zip"
    assert sorted(a.text for a in page.select("table.renditions a")) == names
    zipped = path.parent / link["href"]
    with zipfile.ZipFile(zipped) as z:
        assert sorted(z.namelist()) == names
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}  # mp4, jpeg, webp
        for info in z.infolist():
            assert (av.root / "out/web/h264-aac.mp4" / info.filename).read_bytes() == z.read(info)
    before = os.stat(zipped)
    assert build(Open.open(av.root)) == []  # a build that changes nothing keeps every zip as it is
    after = os.stat(zipped)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # An output that changed: a new zip, and the old one is swept away.
    poster = av.root / next(o for o in item["outputs"] if o.endswith("-poster.jpg"))
    os.utime(poster, ns=(before.st_mtime_ns + 10**9, before.st_mtime_ns + 10**9))
    build(Open.open(av.root))
    _, page = _page(av, CLIP)
    again = path.parent / page.select_one(".download a")["href"]
    assert again != zipped and again.is_file() and not zipped.exists()


def test_zip_member_names_are_plain_file_names(tmp_path):
    from pipeline.config.workspace import Workspace as Open
    from pipeline.config.workspace import init_workspace
    from pipeline.site.bundle import members

    init_workspace(tmp_path / "ws", "z")
    ws = Open.open(tmp_path / "ws")
    folder = ws.out / "web" / "x"
    folder.mkdir(parents=True)
    for name in ("a b.mp3", "<img src=x>.jpg", "c.jpg"):
        (folder / name).write_bytes(b"x")
    (ws.root / "secret.txt").write_text("not ours")
    rels = ["out/web/x/a b.mp3", "out/web/x/<img src=x>.jpg", "out/web/x/c.jpg", "out/web/x/../../../secret.txt"]
    got = [name for _, name, _ in members(ws, [*rels, "out/web/x/c.jpg"])]
    assert got[0] == "a-b-7dbde9.mp3" and re.fullmatch(r"img-src-x-\w{6}\.jpg", got[1]) and got[2] == "c.jpg"
    assert got[3] == "c-2.jpg" and len(got) == 4  # the same name twice: made unique; outside out/: left out
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", n) for n in got)


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1440])
def test_asset_pages_lead_with_the_media_and_fit_the_screen(site, av, browser, width):
    """At a phone's and a desktop's width, from file://: no sideways scrolling, and the picture or the
    player starts on the first screen (at 1440x900 the player is whole there)."""
    pages = [asset_page(site, "inbox/social/orient-1.jpg", "social")]
    pages += [_page(av, rel)[0] for rel in (GAP, CLIP, PHONE, SOCIAL)]
    for path in pages:
        _open(browser, path.as_uri(), width)
        console, failed = _problems(browser)
        # preload="metadata": Chromium reads a clip's start and aborts the rest of the request
        aborted = [
            f for f in failed if f.startswith("net::ERR_ABORTED file://") and f.endswith((".mp4", ".mp3", ".m4a"))
        ]
        assert (console, [f for f in failed if f not in aborted]) == ([], []), path.name
        assert all(Path(urllib.parse.unquote(f.split("file://", 1)[1])).is_file() for f in aborted), aborted
        assert _undecoded(browser) == [], path.name
        scroll, inner = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{path.name}: horizontal scroll at {width} px: {scroll} > {inner}"
        top, bottom, screen = browser.execute_script(
            "var m = document.querySelector('.stage video, .stage audio, .stage .crop-frame');"
            "var r = m.getBoundingClientRect(); return [r.top + scrollY, r.bottom + scrollY, innerHeight];"
        )
        assert top < screen * 0.6, f"{path.name} at {width} px: the media starts at {top} px of {screen}"
        if width == 1440:
            assert bottom <= screen, f"{path.name}: the media ends at {bottom} px, below the fold ({screen})"
    _full_screenshot(browser, width, f"site-video-crops-{width}")


@pytest.mark.browser
def test_index_cards_in_a_row_have_one_height(site, browser):
    _open(browser, out(site, "site/index.html").as_uri(), 1440)
    cards = browser.execute_script(
        "return Array.from(document.querySelectorAll('#assets .card')).map(function (c) {"
        "  return [c.offsetTop, c.offsetHeight, !!c.querySelector('.card-warning')]; });"
    )
    rows: dict[int, list[tuple[int, bool]]] = {}
    for top, height, warned in cards:
        rows.setdefault(top, []).append((height, warned))
    assert len(cards) == 8 and max(len(r) for r in rows.values()) >= 4
    # a row mixing cards with a warning (taller content) and without: one height all the same
    assert any(len({w for _, w in r}) == 2 for r in rows.values()), rows
    for top, row in rows.items():
        assert len({h for h, _ in row}) == 1, f"cards at {top} px differ in height: {row}"


def test_compiled_templates_are_shared_by_workspaces_from_the_users_cache(ws, tmp_path, monkeypatch):
    """Jinja's compiled templates live in the user's cache: a second workspace reads them
    instead of compiling the built-in templates again; with no writable cache the site is
    still built (compiled every time)."""
    from pipeline.config.workspace import init_workspace

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    ws.drop(CORPUS / "images" / "tiny-128.jpg", "inbox/web")
    ws.run(expect=0)
    compiled = sorted(cache.glob("crossmedia/templates/*/*.cache"))
    assert len(compiled) >= 3, compiled  # index, asset page, report at least
    before = {p: p.stat().st_mtime_ns for p in compiled}
    assert not (ws.root / ".crossmedia" / "templates").exists()

    init_workspace(tmp_path / "other", "other")
    other = Workspace(tmp_path / "other")
    other.drop(CORPUS / "images" / "tiny-128.jpg", "inbox/web")
    other.run(expect=0)
    assert {p: p.stat().st_mtime_ns for p in compiled} == before  # read, not written again
    assert (other.root / "out" / "site" / "index.html").is_file()

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # a file where the cache folder would go: nothing can be made under it
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    other.drop(CORPUS / "images" / "gray.jpg", "inbox/web")
    other.run(expect=0)
    assert "gray" in (other.root / "out" / "site" / "index.html").read_text()
