"""A first end-to-end pass: real corpus files through the real CLI."""

from __future__ import annotations

from PIL import Image


def test_run_processes_a_photo_and_reports_it(ws):
    ws.drop("images/orient-6.jpg")
    ws.run(expect=0)
    item = ws.item("inbox/web/orient-6.jpg")
    assert item["status"] == "processed" and item["media"] == "image"
    jpeg = ws.root / next(o for o in item["outputs"] if o.endswith("-1280.jpg"))
    with Image.open(jpeg) as im:
        assert im.size == (1280, 853)  # upright: stored 1200x1800 with orientation 6
