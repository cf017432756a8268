"""Screenshots of the preview site for the docs (issue #14): the index, an image, a video and an
audio page, at a desktop (1440x900) and a phone (375x812) viewport: what a designer sees first.

    python -m pipeline.commands.screenshots     (or ./dev screenshots)

Runs the demo into a temporary workspace, opens its pages from disk (file://, as a designer
opening out/site/index.html would) in headless Chromium and writes docs/img/site-<page>-<width>.png.
A development tool run from a checkout, like docgen; tests/test_docs.py checks that every
screenshot docs/site.md shows exists at its size.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

from pipeline.atomic import write_bytes_atomic
from pipeline.banners.browser import Browser, settle
from pipeline.batch.store import Store
from pipeline.commands.demo import run_demo
from pipeline.commands.docgen import repository_root
from pipeline.site.preview import asset_page_path

VIEWPORTS = ((1440, 900), (375, 812))

# The demo's inputs shown: one of each kind a designer reviews (the podcast jingle has its
# trailing silence cut, so its waveform shows the trim).
PAGES = {
    "image": "inbox/web/harbour.jpg",
    "video": "inbox/web/harbour-clip.mp4",
    "audio": "inbox/podcast/jingle.wav",
}


def pages(root: Path) -> dict[str, Path]:
    store = Store(root / ".crossmedia" / "state.db")
    try:
        rows = store.items()
    finally:
        store.close()
    found = {"index": root / "out" / "site" / "index.html"}
    for name, given in PAGES.items():
        if given not in rows:
            raise SystemExit(f"the demo has no input {given}: was a demo input renamed? Fix PAGES in {__file__}")
        found[name] = root / "out" / asset_page_path(rows[given])
    return found


def main(argv: list[str]) -> int:
    out = repository_root() / "docs" / "img"
    with tempfile.TemporaryDirectory(prefix="crossmedia-shots-") as tmp:
        root = Path(tmp) / "demo"
        run_demo(root, echo=lambda _: None)
        shown = pages(root)
        with Browser() as browser:
            for width, height in VIEWPORTS:
                for name, page in shown.items():
                    browser.open(page, width, height)
                    settle(browser.driver)
                    png = browser.screenshot(width, height)
                    Image.open(io.BytesIO(png)).verify()
                    target = out / f"site-{name}-{width}.png"
                    write_bytes_atomic(target, out, png)
                    print(f"wrote {target.relative_to(out.parent.parent)} ({len(png) // 1024} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
