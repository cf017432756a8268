"""The ad-server checks on zips made by hand, as designers and other tools deliver them (#7).

Each case breaks one rule the way real uploads do, and must be refused with the ad server's own
rule name; a clean zip passes. No browser needed: this is what the ad servers check statically.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pipeline.banners.spec import Banner, load_banner

CLICK = "https://example.com/landing"


def banner(tmp_path: Path, platform: str = "google", extra: str = "") -> Banner:
    path = tmp_path / "ad.toml"
    path.write_text(f'platform = "{platform}"\nsizes = ["300x250"]\nclick_url = "{CLICK}"\nheadline = "Hi"\n{extra}')
    return load_banner(path, "banners/ad.toml")


def page(head: str = "", body: str = '<img src="a.png" alt="">', clicktag: bool = True, size: str = "300x250") -> bytes:
    w, h = size.split("x")
    tag = f'<script>var clickTag = "{CLICK}";</script>' if clicktag else ""
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><meta name="ad.size" content="width={w},height={h}">'
        f'{tag}{head}</head><body><div id="ad">{body}</div>'
        "<script>document.getElementById('ad').onclick = function () { window.open(window.clickTag); };</script>"
        "</body></html>"
    ).encode()


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def make_zip(tmp_path: Path, files: dict[str, bytes], name: str = "ad-300x250.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    return path


def rules(tmp_path: Path, files: dict[str, bytes], platform: str = "google", **kw) -> set[str]:
    from pipeline.banners.check import check_zip

    return {v.rule for v in check_zip(make_zip(tmp_path, files, **kw), banner(tmp_path, platform), "300x250")}


def test_a_clean_zip_passes(tmp_path):
    assert rules(tmp_path, {"index.html": page(), "a.png": PNG}) == set()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"a.png": PNG}, {"PRIMARY_HTML_MISSING"}),
        ({"index.html": page(), "a.png": PNG, ".DS_Store": b"x"}, {"FILE_NAME_INVALID"}),
        ({"index.html": page(), "a.png": PNG, "__MACOSX/._a.png": b"x"}, {"FILE_NAME_INVALID"}),
        ({"index.html": page(body='<img src="my photo.png">'), "my photo.png": PNG}, {"FILE_NAME_INVALID"}),
        ({"index.html": page(), "a.png": PNG, "unused.png": PNG}, {"ORPHANED_ASSET"}),
        ({"index.html": page(body='<img src="b.png">')}, {"LINKED_FILE_NOT_FOUND"}),
        (
            {
                "index.html": page(head='<link rel="stylesheet" href="s.css">'),
                "a.png": PNG,
                "s.css": b"#ad{background:url(bg.png)}",
            },
            {"LINKED_FILE_NOT_FOUND"},
        ),
        ({"index.html": page(body='<img src="/a.png">'), "a.png": PNG}, {"ABSOLUTE_PATH_REFERENCED", "ORPHANED_ASSET"}),
        (
            {"index.html": page(head='<script src="https://cdn.example.net/gsap.min.js"></script>'), "a.png": PNG},
            {"EXTERNAL_FILE_REFERENCED"},
        ),
        (
            {"index.html": page(head="<style>#ad{background:url(//cdn.example.net/bg.jpg)}</style>"), "a.png": PNG},
            {"EXTERNAL_FILE_REFERENCED"},
        ),
        (
            {"index.html": page(body='<img src="http://cdn.example.net/a.png">')},
            {"EXTERNAL_FILE_REFERENCED", "NOT_SSL_COMPLIANT"},
        ),
        (
            {"index.html": page(head="<script>fetch('https://tracker.example.net/pixel');</script>"), "a.png": PNG},
            {"EXTERNAL_FILE_REFERENCED"},
        ),
        (
            {"index.html": page(body='<video src="a.mp4"></video><img src="a.png">'), "a.png": PNG, "a.mp4": b"x"},
            {"FILE_TYPE_INVALID"},
        ),
        ({"index.html": page(body='<img src="a.webp">'), "a.webp": b"RIFF"}, {"FILE_TYPE_INVALID"}),
        ({"index.html": page(clicktag=False), "a.png": PNG}, {"CLICK_TAG_MISSING"}),
        (
            {
                "index.html": page(
                    clicktag=False, head=f'<script>function init() {{ var clickTag = "{CLICK}"; }}</script>'
                ),
                "a.png": PNG,
            },
            {"CLICK_TAG_NON_TOP_LEVEL"},
        ),
        ({"index.html": page(body=f'<a href="{CLICK}"><img src="a.png"></a>'), "a.png": PNG}, {"CLICK_TAG_HARD_CODED"}),
        (
            {
                "index.html": page(clicktag=False, head='<script>var clickTag = "http://example.com/";</script>'),
                "a.png": PNG,
            },
            {"NOT_SSL_COMPLIANT"},
        ),
        (
            {"index.html": page(head="<script>localStorage.setItem('seen', 1);</script>"), "a.png": PNG},
            {"LOCAL_STORAGE_USED"},
        ),
        (
            {"index.html": page(head="<script>document.cookie = 'seen=1';</script>"), "a.png": PNG},
            {"LOCAL_STORAGE_USED"},
        ),
        (
            {"index.html": page(head="<style>#ad{animation:pulse 1s infinite}</style>"), "a.png": PNG},
            {"ANIMATION_INFINITE"},
        ),
        ({"index.html": page(size="728x90"), "a.png": PNG}, {"AD_SIZE_MISMATCH"}),
        (
            {
                "index.html": b"<div>no document</div><img src='a.png'>" + page()[page().index(b"<script>var") :],
                "a.png": PNG,
            },
            {"HTML_MALFORMED", "AD_SIZE_MISMATCH", "CLICK_TAG_NON_TOP_LEVEL"},
        ),
        (
            {
                "index.html": page(body="".join(f'<img src="i{i}.png">' for i in range(40))),
                **{f"i{i}.png": PNG for i in range(40)},
            },
            {"FILES_TOO_MANY"},
        ),
    ],
)
def test_broken_zips_are_refused_by_rule_name(tmp_path, files, expected):
    assert rules(tmp_path, files) == expected


def test_weight_over_the_google_cap(tmp_path):
    import os

    heavy = os.urandom(160_000)  # random bytes do not compress
    assert rules(tmp_path, {"index.html": page(), "a.png": heavy}) == {"FILE_SIZE_TOO_LARGE"}


def test_zip_name_over_50_characters(tmp_path):
    assert rules(tmp_path, {"index.html": page(), "a.png": PNG}, name="x" * 44 + "-300x250.zip") == {
        "FILE_NAME_TOO_LONG"
    }


def test_damaged_and_escaping_zips(tmp_path):
    bad = tmp_path / "bad-300x250.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    from pipeline.banners.check import check_zip

    assert {v.rule for v in check_zip(bad, banner(tmp_path), "300x250")} == {"ZIP_INVALID"}
    assert "ZIP_INVALID" in rules(tmp_path, {"index.html": page(), "a.png": PNG, "../evil.js": b"x"})


def test_the_loader_is_allowed_only_for_its_platform(tmp_path):
    adform_head = (
        "<script>document.write('<script src=\"' + (window.API_URL || "
        "'https://s1.adform.net/banners/scripts/rmb/Adform.DHTML.js?bv=' + Math.random()) + '\"><\\/script>');</script>"
    )
    body = f"<img src=\"a.png\"><script>var u = dhtml.getVar('clickTAG', '{CLICK}');</script>"
    manifest = (
        b'{"version": "1.0", "title": "t", "description": "", "width": "300", "height": "250", "events": {"enabled": '
        b"1, "
        b'"list": {}}, "clicktags": {"clickTAG": "' + CLICK.encode() + b'"}, "source": "index.html"}'
    )
    files = {"index.html": page(head=adform_head, body=body, clicktag=False), "a.png": PNG, "manifest.json": manifest}
    assert rules(tmp_path, files, platform="adform") == set()
    assert "EXTERNAL_FILE_REFERENCED" in rules(tmp_path, files, platform="google")
    assert rules(tmp_path, {**files, "manifest.json": b"{}"}, platform="adform") == {"MANIFEST_INVALID"}
    ft = {
        "index.html": page(
            head='<script src="https://cdn.flashtalking.com/frameworks/js/api/v2/10/html5API.js"></script>',
            body='<img src="a.png"><script>var myFT = new FT(); myFT.clickTag(1);</script>',
            clicktag=False,
        ),
        "a.png": PNG,
    }
    assert rules(tmp_path, ft, platform="flashtalking") == {"MANIFEST_INVALID"}
    ft["manifest.js"] = b'FT.manifest({"filename": "index.html", "width": 300, "height": 250, "clickTagCount": 1});'
    assert rules(tmp_path, ft, platform="flashtalking") == set()


def test_a_heavy_zip_is_measured_against_a_budget_named_for_whose_it_is(tmp_path):
    """#12: the IAB's 2017 table has figures for 300x250 and 320x50, none for 336x280, 300x600
    or 320x100: a refusal says "its IAB initial-load budget" only where the figure is the IAB's."""
    import os

    from pipeline.banners.check import check_zip

    heavy = os.urandom(270_000)  # random bytes do not compress: over every budget and cap
    said = {}
    for size in ("300x250", "320x50", "336x280", "300x600", "320x100"):
        path = make_zip(tmp_path, {"index.html": page(size=size), "a.png": heavy}, name=f"ad-{size}.zip")
        for platform in ("generic", "google"):
            (refusal,) = check_zip(path, banner(tmp_path, platform), size)
            assert refusal.rule == "FILE_SIZE_TOO_LARGE"
            said[size, platform] = refusal.what
    for size, kb in (("300x250", 150), ("320x50", 50)):
        assert f"over its IAB initial-load budget of {kb} KB." in said[size, "generic"], said[size, "generic"]
    for size, kb, figure in (
        ("336x280", 150, "300x250"),
        ("300x600", 250, "970x250, 300x1050"),
        ("320x100", 50, "320x50"),
    ):
        text = said[size, "generic"]
        assert f"over our budget of {kb} KB (the IAB lists no {size}; ours is the IAB's " in text and figure in text, (
            text
        )
        assert "IAB initial-load" not in text
    assert "over google's cap of 150 KB." in said["300x600", "google"]  # the platform's cap, under our 250 KB
    own = banner(tmp_path, "generic", extra='[budgets]\n"large-rectangle" = 100\n')
    path = make_zip(tmp_path, {"index.html": page(size="336x280"), "a.png": heavy}, name="ad-336x280.zip")
    (refusal,) = check_zip(path, own, "336x280")
    assert "over its budget ([budgets]) of 100 KB." in refusal.what, refusal.what
