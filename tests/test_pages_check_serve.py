"""Page files, the post-build checker, `crossmedia serve`, and the audio/video contract (issue #6).

Media: tiny-128.jpg (Pillow's hopper, public domain), video/h264-aac.mp4 (MIT, pydub),
audio/voice-mono-16bit.wav (BSD-3-Clause, speech_recognition); see ../shared/corpus/SOURCES.md.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import WAIT, screenshot, settle
from pipeline.batch.engine import run
from pipeline.commands.publish import publish


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


PAGE = 'title = "Hello"\n[[blocks]]\nasset = "inbox/web/tiny-128.jpg"\nalt = "Grace Hopper"\n'


# The checker ---------------------------------------------------------------------------------
BAD = """<!DOCTYPE html><html><head>
<link rel="stylesheet" href="https://cdn.example.com/x.css">
<link rel="stylesheet" href="ok.css">
<link rel="canonical" href="https://example.com/page">
<style>body { background: url(//evil.example/bg.png) }</style>
</head><body>
<img src="ok.png" width="1" height="1" alt="">
<img src="ok.png" alt="no size">
<img src="ok.png" width="1" height="1">
<img src="missing.png" width="1" height="1" alt="">
<img src="/abs.png" width="1" height="1" alt="">
<img src="../../outside.png" width="1" height="1" alt="">
<picture><source srcset="ok.png 1w, gone.png 2w"><img src="ok.png" width="1" height="1" alt=""></picture>
<video poster="http://example.com/p.jpg" src="ok.png"></video>
<div style="background-image: url('nope.png')"></div>
<a href="javascript:alert(1)">x</a>
<a href="https://example.com/shop">shop</a> <a href="mailto:a@example.com">mail</a> <a href="#top">top</a>
<a href="sub/">folder</a> <a href="elsewhere.html">gone</a>
</body></html>"""


def test_checker_finds_every_kind_of_problem(tmp_path):
    from pipeline.site.check import check_out

    out = tmp_path / "out"
    (out / "site/sub").mkdir(parents=True)
    (out / "site/ok.png").write_bytes(b"png")
    (out / "site/sub/index.html").write_text("<!DOCTYPE html><title>sub</title>")
    (out / "site/ok.css").write_text("@import 'https://fonts.example.com/f.css'; a { background: url(missing.woff2) }")
    (out / "site/bad.html").write_text(BAD)
    result = check_out(out)
    found = "\n".join(str(p) for p in result.problems)
    expected = [
        "site/bad.html: <link href='https://cdn.example.com/x.css'> is an external request",
        "site/bad.html: url('//evil.example/bg.png') in <style> is an external request",
        "site/bad.html: <img src='ok.png'> has no width or height",
        "site/bad.html: <img src='ok.png'> has no alt attribute",
        "site/bad.html: <img src='missing.png'> is broken: out/site/missing.png does not exist",
        "site/bad.html: <img src='/abs.png'> is an absolute path",
        "site/bad.html: <img src='../../outside.png'> points outside out/",
        "site/bad.html: <source srcset='gone.png'> is broken",
        "site/bad.html: <video poster='http://example.com/p.jpg'> is an external request",
        "site/bad.html: url('nope.png') in style attribute of <div> is broken",
        "site/bad.html: <a href='javascript:alert(1)'> is a javascript: URL",
        "site/bad.html: <a href='elsewhere.html'> is broken",
        "site/ok.css: url('https://fonts.example.com/f.css') in stylesheet is an external request",
        "site/ok.css: url('missing.woff2') in stylesheet is broken",
    ]
    for line in expected:
        assert line in found, f"{line}\nnot in:\n{found}"
    assert len(result.problems) == len(expected), found
    assert result.external_links == {"https://example.com/shop", "mailto:a@example.com", "https://example.com/page"}
    assert result.pages == 2


def test_check_command_exit_codes(ws):
    ws.cli("check", "-w", str(ws.root), expect=1)  # nothing built yet
    ws.drop("images/tiny-128.jpg")
    ws.write("pages/hello.toml", PAGE)
    ws.run(expect=0)
    done = ws.cli("check", "-w", str(ws.root), expect=0)
    assert "0 problem(s)" in done.output
    (ws.root / "out/site/static/page.css").unlink()
    done = ws.cli("check", "-w", str(ws.root), expect=1)
    assert "site/pages/hello.html: <link href='../static/page.css'> is broken" in done.output


# Page files ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('title = "x"\ncolour = "red"\n', 'pages/p.toml colour = "red": unknown key; known keys: blocks, byline, date'),
        ('title = "x"\n[[blocks]]\nasset = 3\n', "pages/p.toml [blocks.1] asset = 3: asset must be text."),
        (
            'title = "x"\n[[blocks]]\nlink = { text = "x", href = "javascript:alert(1)" }\n',
            '[blocks.1.link] href = "javascript:alert(1)": href must be an https://',
        ),
        ('template = "landing"\n', "pages/p.toml title: the page has no title. Fix: add title"),
        ('title = "x"\n[[blocks]\n', "pages/p.toml is not valid TOML"),
        ('title = "x"\n[[blocks]]\nasset = "inbox/print/tiny-128.jpg"\n', "has no renditions a browser can show"),
        (
            'title = "x"\n[[blocks]]\nasset = "tiny-128.jpg"\n',
            "asset 'tiny-128.jpg' is ambiguous: inbox/print/tiny-128.jpg, inbox/web/tiny-128.jpg",
        ),
        (
            'title = "x"\n[[blocks]]\nasset = "inbox/web/tiny-128.jpg"\naspect = "1:1"\n',
            "has no 1:1 crop (made: original)",
        ),
    ],
)
def test_a_page_that_does_not_validate_fails_with_file_key_and_fix(ws, text, message):
    ws.drop("images/tiny-128.jpg")
    ws.drop("images/tiny-128.jpg", "inbox/print")
    ws.write("pages/p.toml", text)
    ws.run(expect=1)
    item = ws.item("pages/p.toml")
    assert item["status"] == "failed" and "\n" not in item["error"]
    assert message in item["error"], item["error"]


def test_editing_a_page_rebuilds_it_without_reprocessing_and_deleting_removes_it(ws):
    ws.drop("images/tiny-128.jpg")
    ws.write("pages/hello.toml", PAGE)
    ws.run(expect=0)
    html = ws.root / "out/site/pages/hello.html"
    assert soup(html).h1.text == "Hello"
    ws.run(expect=0)
    assert ws.report()["counts"] == {"processed": 0, "failed": 0, "skipped": 2}
    ws.write("pages/hello.toml", PAGE.replace("Hello", "Hello again"))
    ws.run(expect=0)
    report = ws.report()
    assert report["counts"] == {"processed": 1, "failed": 0, "skipped": 1}  # the page, not the image
    assert ws.item("pages/hello.toml")["status"] == "processed"
    assert soup(html).h1.text == "Hello again"
    share = [o for o in ws.item("pages/hello.toml")["outputs"] if o.endswith(".jpg")]
    assert share == ["out/web/tiny-128.jpg/tiny-128.share.jpg"]  # the input's share rendition
    (ws.root / "pages/hello.toml").unlink()
    ws.run(expect=0)
    # the page goes; the share picture belongs to the input, which stays
    assert not html.exists() and (ws.root / share[0]).exists()
    assert [i for i in ws.report()["items"] if i["media"] == "page"] == []
    # an input that disappears takes its preview page with it
    page = next((ws.root / "out/site/asset").glob("tiny-128.jpg-*.html"))
    (ws.root / "inbox/web/tiny-128.jpg").unlink()
    ws.run(expect=0)
    assert not page.exists() and list((ws.root / "out/site/media").glob("*")) == []


def test_a_missing_asset_fails_until_it_arrives(ws):
    ws.write("pages/hello.toml", PAGE)
    ws.run(expect=1)
    assert "asset 'inbox/web/tiny-128.jpg' is not a processed input" in ws.item("pages/hello.toml")["error"]
    ws.run(expect=1)  # still failed: the report keeps saying so
    ws.drop("images/tiny-128.jpg")
    ws.run(expect=0)
    assert ws.item("pages/hello.toml")["status"] == "processed"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('accent = "red"', '[site] accent = "red"'),
        ('heading_font = "x; } body { display: none"', "heading_font must be a CSS font-family list"),
        ('base_url = "https://example.com"', "base_url must be empty or an http(s) address ending in /"),
    ],
)
def test_bad_house_style_is_a_config_error(ws, line, message):
    config = ws.root / "crossmedia.toml"
    config.write_text(config.read_text().replace('# accent = "#0b6e4f"', line))
    done = ws.run(expect=2)
    assert message in done.output


def test_base_url_makes_share_tags_absolute(ws):
    config = ws.root / "crossmedia.toml"
    config.write_text(config.read_text().replace('# accent = "#0b6e4f"', 'base_url = "https://campaign.example.com/"'))
    ws.drop("images/tiny-128.jpg")
    ws.write("pages/hello.toml", PAGE)
    ws.run(expect=0)
    page = soup(ws.root / "out/site/pages/hello.html")
    image = page.find("meta", property="og:image")["content"]
    assert image == "https://campaign.example.com/web/tiny-128.jpg/tiny-128.share.jpg"
    assert page.find("meta", property="og:url")["content"] == "https://campaign.example.com/site/pages/hello.html"
    assert any("share image enlarged" in w for w in ws.item("pages/hello.toml")["warnings"])
    ws.cli("check", "-w", str(ws.root), expect=0)


# Audio and video: the contract the AV stages write to ----------------------------------------
def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture
def av_workspace(ws):
    """Store rows as the audio/video stages record them (README, "What the preview site reads"),
    with real media made by ffmpeg from corpus files."""
    if not shutil.which("ffmpeg"):
        pytest.skip("needs ffmpeg (Debian package ffmpeg)")
    from pipeline.batch.store import Row, Store

    clip, voice = ws.drop("video/h264-aac.mp4"), ws.drop("audio/voice-mono-16bit.wav")
    vdir, adir = ws.root / "out/web/h264-aac.mp4", ws.root / "out/web/voice-mono-16bit.wav"
    vdir.mkdir(parents=True)
    adir.mkdir(parents=True)
    shutil.copyfile(clip, vdir / "h264-aac-640.mp4")
    _ffmpeg(
        "-i",
        str(clip),
        "-t",
        "1",
        "-c:v",
        "libvpx-vp9",
        "-b:v",
        "200k",
        "-c:a",
        "libopus",
        str(vdir / "h264-aac-640.webm"),
    )
    _ffmpeg("-ss", "0.5", "-i", str(clip), "-frames:v", "1", str(vdir / "h264-aac-poster.jpg"))
    _ffmpeg("-i", str(voice), "-c:a", "libmp3lame", "-b:a", "96k", str(adir / "voice-mono-16bit.mp3"))
    _ffmpeg(
        "-i",
        str(voice),
        "-filter_complex",
        "showwavespic=s=1200x200:colors=0b6e4f",
        "-frames:v",
        "1",
        str(adir / "voice-mono-16bit-waveform.png"),
    )

    def rendition(path: Path, **facts) -> dict:
        return {"path": path.relative_to(ws.root).as_posix(), "bytes": path.stat().st_size, **facts}

    video_out = [
        rendition(vdir / "h264-aac-640.mp4", format="mp4", width=640, height=480),
        rendition(vdir / "h264-aac-640.webm", format="webm", width=640, height=480),
        rendition(vdir / "h264-aac-poster.jpg", format="jpeg", width=640, height=480, role="poster"),
    ]
    audio_out = [
        rendition(adir / "voice-mono-16bit.mp3", format="mp3"),
        rendition(adir / "voice-mono-16bit-waveform.png", format="png", width=1200, height=200, role="waveform"),
    ]
    store = Store(ws.root / ".crossmedia/state.db")
    for rel, media, outs, facts in [
        ("inbox/web/h264-aac.mp4", "video", video_out, {"duration": 2.32, "video_codec": "h264", "audio_codec": "aac"}),
        (
            "inbox/web/voice-mono-16bit.wav",
            "audio",
            audio_out,
            {
                "duration": 33.5,
                "sample_rate": 44100,
                "loudness": {"before": {"integrated": -27.4}, "after": {"integrated": -16.0}},
            },
        ),
    ]:
        store.record(
            Row(
                rel,
                "web",
                media,
                "processed",
                1,
                1,
                "0" * 64,
                "r",
                [o["path"] for o in outs],
                [],
                None,
                {**facts, "renditions": outs},
            )
        )
    store.close()
    return ws


def test_audio_and_video_get_players_with_waveform_and_poster(av_workspace):
    from pipeline.batch.store import Store
    from pipeline.config.workspace import Workspace
    from pipeline.site.build import build
    from pipeline.site.check import check
    from pipeline.site.preview import asset_page_path

    ws = av_workspace
    ws.write(
        "pages/listen.toml",
        'title = "Listen"\n[[blocks]]\nasset = "h264-aac.mp4"\n[[blocks]]\nasset = "voice-mono-16bit.wav"\n',
    )
    workspace = Workspace.open(ws.root)
    assert build(workspace) == []
    rows = Store(ws.root / ".crossmedia/state.db").items()
    video = soup(ws.root / "out" / asset_page_path(rows["inbox/web/h264-aac.mp4"]))
    player = video.select_one(".player video")
    assert player["poster"].endswith("h264-aac-poster.jpg") and (player["width"], player["height"]) == ("640", "480")
    assert [s["type"] for s in player.select("source")] == ["video/mp4", "video/webm"]
    audio = soup(ws.root / "out" / asset_page_path(rows["inbox/web/voice-mono-16bit.wav"]))
    assert audio.select_one(".player img.waveform")["src"].endswith("-waveform.png")
    assert audio.select_one(".player audio source")["type"] == "audio/mpeg"
    facts = {dt.text: dd.text for dt, dd in zip(audio.select(".facts dt"), audio.select(".facts dd"), strict=True)}
    assert facts["Duration"] == "0:33.5 (33.50 s)" and facts["Loudness › before › integrated"] == "-27.4"
    index = soup(ws.root / "out/site/index.html")
    thumbs = {c["data-media"]: c.select_one(".thumb img")["src"] for c in index.select(".card")}
    assert thumbs["video"].endswith("poster.jpg") and thumbs["audio"].endswith("waveform.png")
    page = soup(ws.root / "out/site/pages/listen.html")
    assert page.select_one("main video")["poster"].endswith("poster.jpg")
    assert page.select_one("main audio source")["src"].endswith(".mp3")
    assert check(workspace).problems == []


# serve ---------------------------------------------------------------------------------------
@pytest.fixture
def served(ws):
    from pipeline.config.workspace import Workspace
    from pipeline.site.serve import Watcher, make_server

    ws.drop("images/tiny-128.jpg")
    ws.write("pages/hello.toml", PAGE)
    watcher = Watcher(ws.root, lambda w: run(w, jobs=1, command="serve", after=(publish,)), echo=lambda _: None)
    assert watcher.tick()  # the first look runs the pipeline
    server = make_server(Workspace.open(ws.root), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ws.port, ws.watcher = server.server_address[1], watcher
    try:
        yield ws
    finally:
        server.shutdown()
        server.server_close()


def _get(port: int, path: str, host: str | None = None) -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
    response = conn.getresponse()
    body = response.read().decode("utf-8", "replace")
    conn.close()
    return response.status, dict(response.getheaders()), body


def test_serve_serves_out_with_a_reload_script_that_is_not_on_disk(served):
    port = served.port
    status, headers, _ = _get(port, "/")
    assert status == 302 and headers["Location"] == "/site/index.html"
    status, _, body = _get(port, "/site/pages/hello.html")
    assert status == 200 and "/__crossmedia/version" in body and "<h1>Hello</h1>" in body
    assert "__crossmedia" not in (served.root / "out/site/pages/hello.html").read_text()
    status, _, first = _get(port, "/__crossmedia/version")
    assert status == 200 and first != "none"
    assert _get(port, "/web/tiny-128.jpg/tiny-128-128.jpg")[0] == 200
    assert _get(port, "/site/index.html", host="evil.example")[0] == 403  # DNS rebinding
    assert _get(port, "/../crossmedia.toml")[0] == 404
    assert _get(port, "/.tmp/")[0] == 404
    assert not served.watcher.tick()  # nothing changed
    served.write("pages/hello.toml", PAGE.replace("Hello", "Changed"))
    assert served.watcher.tick()
    assert _get(port, "/__crossmedia/version")[2] != first
    assert "<h1>Changed</h1>" in _get(port, "/site/pages/hello.html")[2]


@pytest.mark.browser
def test_serve_reloads_the_browser_after_a_rebuild(served, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"http://127.0.0.1:{served.port}/site/pages/hello.html")
    assert browser.title.startswith("Hello")
    served.write("pages/hello.toml", PAGE.replace("Hello", "Reloaded"))
    assert served.watcher.tick()
    WebDriverWait(browser, WAIT).until(
        lambda d: d.title.startswith("Reloaded")
    )  # the page polls; a busy machine polls late
    settle(browser)
    console = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert console == []
    screenshot(browser, "serve-reloaded")


def test_serve_command_stays_on_loopback():
    from click.testing import CliRunner

    from pipeline.commands.cli import cli

    text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "127.0.0.1" in text


def test_the_demo_page_validates_and_names_only_demo_samples(tmp_path):
    from pipeline.commands.demo import PAGE, SIDECARS
    from pipeline.site.page_files import load_page

    path = tmp_path / "harbour.toml"
    path.write_text(PAGE)
    page, blocks = load_page(path, "pages/harbour.toml")
    names = {a for b in blocks for a in ([b.asset] if b.asset else []) + b.assets}
    assert page.template == "landing" and names <= {k.removesuffix(".toml") for k in SIDECARS} | {
        "inbox/web/poster-cmyk.jpg",
        "inbox/web/badge.png",
    }
