"""Headless Chromium for what only a browser can tell about a banner (issue #7).

Text overflow depends on real font metrics, request counts on real loading, the final frame
on real rendering, so banners are measured in Debian's Chromium, driven by chromium-driver
through selenium: one browser for a whole publish step (started once, about 2 s), the
viewport set to exactly WxH through the DevTools protocol, animations jumped to their end
with the Web Animations API (`finish()`, so the backup is the true last frame without waiting
15 s), requests and console read from the browser's logs. The Chromium command line alone
(`--screenshot`, `--dump-dom`) would need two browser starts per size and cannot report
requests or click behaviour.

Pages load from file:// with every http(s) URL blocked: building never fetches anything, and a
request that would have left the machine is seen and refused.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import MissingTool

# A headless page counts as hidden: without the last three flags Chromium may throttle its timers
# and frames, so that a busy machine slows a page down far more than the load alone would (#12).
STEADY = [
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--force-color-profile=srgb",
    "--force-device-scale-factor=1",
    *STEADY,
]
# Page loads and scripts may take this long: a loaded machine (CI, other builds) is slow, not
# broken, and what is waited for is always a condition (load, fonts, decoded images), never a time.
PAGE_TIMEOUT = 300
START_TRIES = 2  # chromedriver gives Chromium a deadline to start; a loaded machine can miss it once
INSTALL = "sudo apt-get install chromium chromium-driver (or ./dev setup); `crossmedia doctor` checks it"

# Largest font scale (<= 1) at which every [data-fit] box holds its text, found by bisection; no
# font goes below min_font_px (a line already at the minimum stays there while the others shrink).
_FIT = """
const [slack, minPx, done] = arguments;
document.fonts.ready.then(() => {
  const still = document.createElement('style');
  still.textContent = '#ad *{animation:none!important;transition:none!important}';
  document.head.appendChild(still);
  const out = {};
  for (const box of document.querySelectorAll('[data-fit]')) {
    const targets = box.hasAttribute('data-base') ? [box] : [...box.querySelectorAll('[data-base]')];
    const rect = box.getBoundingClientRect();
    box.style.width = (rect.width * (1 - slack)) + 'px';
    box.style.height = (rect.height * (1 - slack / 2)) + 'px';
    const fits = (s) => {
      targets.forEach(t => {
        const b = parseFloat(t.dataset.base);
        t.style.fontSize = Math.max(Math.min(minPx, b), b * s) + 'px';
      });
      return box.scrollWidth <= box.clientWidth + 0.5 && box.scrollHeight <= box.clientHeight + 0.5 &&
             targets.every(t => t.scrollWidth <= t.clientWidth + 0.5);
    };
    const lo = Math.min(1, ...targets.map(t => minPx / parseFloat(t.dataset.base)));
    let scale = 1, ok = true;
    if (!fits(1)) {
      if (!fits(lo)) { ok = false; scale = lo; }
      else {
        let a = lo, b = 1;
        for (let i = 0; i < 12; i++) { const m = (a + b) / 2; if (fits(m)) a = m; else b = m; }
        scale = a;
      }
    }
    fits(scale);
    out[box.id] = {scale: scale, fits: ok, box: [Math.round(rect.width), Math.round(rect.height)],
                   content: [box.scrollWidth, box.scrollHeight]};
    targets.forEach(t => { t.style.fontSize = ''; });
    box.style.width = ''; box.style.height = '';
  }
  still.remove();
  done(out);
});
"""

# Every picture decoded (the end frame is the backup image), then the timing of every animation,
# then (at the end state) sizes and overflow.
_INSPECT = """
const [done] = arguments;
Promise.all([document.fonts.ready, ...[...document.images].map(i => i.decode().catch(() => null))]).then(() => {
  const anims = document.getAnimations().map(a => {
    const t = a.effect.getComputedTiming();
    return {target: a.effect.target ? (a.effect.target.id || a.effect.target.tagName) : '',
            iterations: Number.isFinite(t.iterations) ? t.iterations : -1,
            end: Number.isFinite(t.endTime) ? t.endTime : -1};
  });
  document.getAnimations().forEach(a => { if (Number.isFinite(a.effect.getComputedTiming().endTime)) a.finish(); });
  requestAnimationFrame(() => requestAnimationFrame(() => {
    const ad = document.getElementById('ad');
    const r = ad ? ad.getBoundingClientRect() : {width: 0, height: 0};
    const de = document.documentElement;
    const overflow = [...document.querySelectorAll('[data-fit]')]
      .filter(b => b.scrollWidth > b.clientWidth + 0.5 || b.scrollHeight > b.clientHeight + 0.5)
      .map(b => ({id: b.id, box: [b.clientWidth, b.clientHeight], content: [b.scrollWidth, b.scrollHeight]}));
    done({ad: [r.width, r.height], view: [innerWidth, innerHeight], scroll: [de.scrollWidth, de.scrollHeight],
          overflow: overflow, anims: anims});
  }));
});
"""

_STORAGE = """
let n = 0; try { n = localStorage.length + sessionStorage.length; } catch (e) {}
return {storage: n, cookie: document.cookie.length};
"""


@dataclass
class PageLoad:
    """What the browser saw while loading a page."""

    requests: list[str] = field(default_factory=list)  # every URL requested (document included)
    before_dcl: int = 0  # requests made before DOMContentLoaded
    errors: list[str] = field(default_factory=list)  # console errors (not failed loads)


def tools() -> tuple[str, str]:
    """(chromium, chromedriver) paths, or MissingTool naming what is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [
        name for name, path in (("chromium", chromium), ("chromedriver (package chromium-driver)", driver)) if not path
    ]
    if missing:
        raise MissingTool(
            f"{' and '.join(missing)} not installed; banners are measured and rendered in headless Chromium. "
            f"Fix: {INSTALL}"
        )
    return chromium, driver


# Settled: the document loaded, its fonts ready, every picture decoded (or failed: the tests look
# at naturalWidth themselves), then two frames, so that what was decoded has been painted. A lazy
# picture that has not started loading (out of view) is not waited for: it would never come.
_SETTLED = """
const done = arguments[arguments.length - 1];
const loaded = document.readyState === 'complete' ? Promise.resolve()
  : new Promise(r => addEventListener('load', r, {once: true}));
const decoded = () => [...document.images].filter(i => i.complete || i.loading !== 'lazy')
  .map(i => i.decode().catch(() => null));
loaded.then(() => Promise.all([document.fonts.ready, ...decoded()]))
  .then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));
"""


def settle(driver) -> None:
    """Wait until the page has loaded, its fonts are ready and its pictures decoded and painted
    (the tests, the docs' screenshots)."""
    driver.execute_async_script(_SETTLED)


def start(flags: Sequence[str], new_profile: Callable[[], str]):
    """A selenium driver of headless Chromium (chromedriver), performance and console logs on,
    generous page and script timeouts. Each try gets a fresh profile folder from `new_profile`
    (a browser that failed to start may still hold the last one); after the second failure,
    MissingTool says why. The tests' browser fixture starts Chromium here too."""
    chromium, driver = tools()
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    why = ""
    for _ in range(START_TRIES):
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in [*flags, f"--user-data-dir={new_profile()}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        try:
            drv = webdriver.Chrome(service=Service(driver), options=options)
        except WebDriverException as e:  # selenium has stopped chromedriver and its browser
            why = str(e.msg or e).splitlines()[0] if str(e.msg or e) else type(e).__name__
            continue
        drv.set_page_load_timeout(PAGE_TIMEOUT)
        drv.set_script_timeout(PAGE_TIMEOUT)
        return drv
    raise MissingTool(f"headless Chromium did not start, twice ({why}). Fix: {INSTALL}")


class Browser:
    """One headless Chromium with a fresh profile; use as a context manager."""

    def __init__(self):
        self.driver = None
        self.profiles: list[str] = []

    def _new_profile(self) -> str:
        self.profiles.append(tempfile.mkdtemp(prefix="crossmedia-chromium-"))
        return self.profiles[-1]

    def __enter__(self) -> Browser:
        try:
            self.driver = start(FLAGS, self._new_profile)
        except MissingTool:
            self._remove_profiles()
            raise
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
        return self

    def __exit__(self, *exc) -> None:
        if self.driver is not None:
            self.driver.quit()
        self._remove_profiles()

    def _remove_profiles(self) -> None:
        for profile in self.profiles:
            shutil.rmtree(profile, ignore_errors=True)
        self.profiles = []

    def open(self, page: Path, width: int, height: int) -> PageLoad:
        """Load page at a WxH viewport; what it requested and logged on the way."""
        d = self.driver
        d.get("about:blank")
        d.get_log("performance")
        d.get_log("browser")
        d.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        d.get(page.resolve().as_uri())
        load = PageLoad()
        sent: list[tuple[float, str]] = []
        dcl = None
        for entry in d.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            params = msg.get("params", {})
            if msg["method"] == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("data:", "blob:", "about:", "chrome:", "devtools:")):
                    sent.append((params["timestamp"], url))
            elif msg["method"] == "Page.domContentEventFired" and dcl is None:
                dcl = params["timestamp"]
        load.requests = [url for _, url in sent]
        load.before_dcl = sum(1 for t, _ in sent if dcl is None or t <= dcl)
        load.errors = [
            e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"
        ]
        return load

    def fit(self, slack: float, min_px: float) -> dict[str, dict]:
        return self.driver.execute_async_script(_FIT, slack, min_px)

    def inspect(self) -> dict:
        """Animation timings; then, at the end state, the ad's size, scroll size and text overflow."""
        return self.driver.execute_async_script(_INSPECT)

    def click(self) -> list | None:
        """Click the middle of the ad with window.open stubbed; the (url, target) it was called with."""
        d = self.driver
        d.execute_script(
            "window.__opened = null; window.open = function (u, t) { window.__opened = [String(u), String(t)]; "
            "return null; };"
        )
        d.find_element("id", "ad").click()
        return d.execute_script("return window.__opened;")

    def storage(self) -> dict:
        return self.driver.execute_script(_STORAGE)

    def screenshot(self, width: int, height: int) -> bytes:
        """PNG of the viewport, exactly WxH."""
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
        )
        return base64.b64decode(shot["data"])


class LazyBrowser:
    """Chromium is started for the first banner that needs it, once per publish step."""

    def __init__(self):
        self.browser: Browser | None = None
        self.missing: MissingTool | None = None

    def get(self) -> Browser:
        if self.missing:
            raise self.missing
        if self.browser is None:
            try:
                self.browser = Browser().__enter__()
            except MissingTool as e:
                self.missing = e
                raise
        return self.browser

    def close(self) -> None:
        if self.browser is not None:
            self.browser.__exit__(None, None, None)
