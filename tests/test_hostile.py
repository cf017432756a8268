"""Bad and hostile input (issue #8): fuzzed variants of good corpus files, crafted decompression
bombs, names, symlinks and sidecars that try to leave the workspace, SVG that tries to read files,
playlists, and HTML injection into the preview site. The real CLI in a subprocess throughout.

What test_engine.py already covers is not repeated here: the corpus' `expect: error` files one by
one (one line, quarantine), its `hazard` files, a PNG named .jpg, an HTML file name's outputs.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path
from xml.etree import ElementTree

from bs4 import BeautifulSoup
from PIL import Image

from conftest import CORPUS, ROOT, corpus_entries

sys.path.insert(0, str(ROOT / "bench"))
from w1 import tree_sample  # noqa: E402  (bench/ is scripts, not a package)

QUICK = '[image]\nwidths = [96]\nformats = ["webp", "jpeg"]\nmetadata = []\n'
SOURCES = [
    "images/orient-1.jpg",
    "images/alpha.png",
    "images/anim.gif",
    "images/still.webp",
    "images/still.heic",
    "images/still.avif",
    "images/rgb.tif",
    "images/palette.png",
]
WRONG_EXT = {
    ".jpg": ".png",
    ".png": ".gif",
    ".gif": ".webp",
    ".webp": ".jpg",
    ".heic": ".jpg",
    ".avif": ".png",
    ".tif": ".jpg",
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def quick_workspace(ws, limits: str = "timeout = 60\nmemory_mb = 1536\n"):
    ws.profile("quick", QUICK)
    ws.write("crossmedia.toml", f'name = "hostile"\n[folders]\n"inbox/q" = "quick"\n[limits]\n{limits}')
    (ws.root / "inbox/q").mkdir(parents=True, exist_ok=True)
    return ws.root / "inbox/q"


def run_measured(ws, *args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, int]:
    """The real `crossmedia run` in a subprocess, and the peak PSS of its process tree (bytes)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.cli", "run", "-w", str(ws.root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak, done = 0, threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_sample(proc.pid, {}))
            done.wait(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        done.set()
        t.join()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), peak


def assert_clean_failure(item: dict) -> None:
    error = item["error"]
    assert error and "\n" not in error and len(error) <= 300, item
    assert "internal error" not in error and "Traceback" not in error, item
    assert "worker process died" not in error, item
    assert item["outputs"] == [], item


def fuzz_variants(data: bytes, suffix: str, seed: int) -> dict[str, bytes]:
    """Damaged copies of one good file: truncations at several offsets, flipped bytes in the header
    and in the body, the same bytes under another format's extension."""
    rnd = random.Random(seed)
    n = len(data)
    out = {f"trunc{at}{suffix}": data[:at] for at in (8, 64)}
    for frac in (0.1, 0.5, 0.9):
        out[f"trunc{int(frac * 100)}pct{suffix}"] = data[: int(n * frac)]
    out[f"trunc-last{suffix}"] = data[:-1]
    for i, (lo, hi, count) in enumerate([(4, 64, 3), (64, n, 16), (n // 2, n, 64), (0, n, 256)]):
        b = bytearray(data)
        for _ in range(count):
            pos = rnd.randrange(lo, max(lo + 1, hi))
            b[pos % n] ^= 1 << rnd.randrange(8)
        out[f"flip{i}{suffix}"] = bytes(b)
    out[f"renamed{WRONG_EXT[suffix]}"] = data
    return out


def test_fuzzed_corpus_files_fail_cleanly_or_process_never_crash_hang_or_blow_up(ws, capsys):
    inbox = quick_workspace(ws)
    expected_ok, cases = set(), 0
    for i, src in enumerate(SOURCES):
        data = (CORPUS / src).read_bytes()
        stem, suffix = Path(src).name.replace(".", "_"), Path(src).suffix
        for name, blob in fuzz_variants(data, suffix, seed=i).items():
            (inbox / f"{stem}-{name}").write_bytes(blob)
            cases += 1
            if name.startswith("renamed"):
                expected_ok.add(f"inbox/q/{stem}-{name}")
    (inbox / "zero.jpg").write_bytes(b"")
    (inbox / "nul-filled.png").write_bytes(b"\x00" * 4096)
    (inbox / "random.jpg").write_bytes(random.Random(1).randbytes(50_000))
    (inbox / "jpeg-magic-only.jpg").write_bytes(b"\xff\xd8\xff")
    for e in corpus_entries(expect="error"):  # the whole broken corpus, in the same batch
        ws.drop(e["path"], "inbox/q")
    cases += 4
    before = {p.name: sha(p) for p in inbox.iterdir()}

    done, peak = run_measured(ws, "--jobs", "2")
    assert done.returncode == 1, done.stderr[-3000:]
    report = ws.report()
    items = {i["input"]: i for i in report["items"]}
    assert set(items) == {f"inbox/q/{n}" for n in before}
    counts = {"processed": 0, "failed": 0}
    for item in items.values():
        assert item["status"] in ("processed", "failed"), item
        counts[item["status"]] += 1
        if item["status"] == "failed":
            assert_clean_failure(item)
        else:
            for o in item["outputs"]:
                with Image.open(ws.root / o) as im:
                    im.load()
    for rel in expected_ok:  # the same bytes under a wrong extension are sniffed, not trusted
        assert items[rel]["status"] == "processed", items[rel]
    for e in corpus_entries(expect="error"):
        assert items[f"inbox/q/{Path(e['path']).name}"]["status"] == "failed"
    log = (ws.root / ".crossmedia/crossmedia.log").read_text(encoding="utf-8")
    assert "Traceback" not in log and "internal error" not in log
    assert "Traceback" not in done.stderr
    # The workers are capped at 1536 MiB of address space each; two workers and the parent
    # stay far below that in resident memory on these small files.
    assert peak < 1536 * 2**20, f"peak PSS {peak / 2**20:.0f} MiB"
    assert {p.name: sha(p) for p in inbox.iterdir()} == before
    with capsys.disabled():
        print(
            f"\nfuzz: {cases} fuzzed + {len(corpus_entries(expect='error'))} broken corpus files: "
            f"{counts['processed']} processed, {counts['failed']} failed cleanly, 0 crashes; "
            f"peak PSS of the run {peak / 2**20:.0f} MiB"
        )


# Decompression bombs -------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_declaring(width: int, height: int, extra: bytes = b"") -> bytes:
    """A PNG whose header declares width x height, with one small compressed row of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + extra + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    )


def gif_declaring(width: int, height: int) -> bytes:
    """A GIF89a whose logical screen and single frame declare width x height."""
    head = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame + b"\x3b"


def webp_declaring(width: int, height: int) -> bytes:
    """An extended WebP (VP8X) whose canvas declares width x height, with a tiny VP8L image."""
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, format="WEBP", lossless=True)
    vp8l = buf.getvalue()[12:]  # the 'VP8L' chunk of a simple file
    vp8x = (
        b"VP8X"
        + struct.pack("<I", 10)
        + b"\x00\x00\x00\x00"
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )
    body = b"WEBP" + vp8x + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF marker is rewritten to declare width x height."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def animated_gif(frames: int, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    images = [Image.new("L", size, 255 * (i % 2)) for i in range(frames)]
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=50, loop=0)
    return buf.getvalue()


def test_decompression_bombs_are_refused_before_decoding(ws):
    inbox = quick_workspace(ws, "timeout = 60\nmemory_mb = 1536\nmax_pixels = 50000000\n")
    # Animated output: the [image] formats include webp, so every frame is decoded and counted.
    bombs = {
        "png-100000x100000.png": png_declaring(100_000, 100_000),
        "png-2^31-wide.png": png_declaring(2**31 - 1, 1),
        "gif-65535x65535.gif": gif_declaring(65535, 65535),
        "webp-16384x16384.webp": webp_declaring(16384, 16384),
        "jpeg-65500x65500.jpg": jpeg_declaring(65500, 65500),
        "gif-400-frames-of-400x400.gif": animated_gif(400, (400, 400)),  # 64 MP together
    }
    # zTXt text that inflates to 64 MB: Pillow's text chunk limit must stop it.
    text = _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * 64_000_000, 9))
    bombs["png-ztxt-64mb.png"] = png_declaring(8, 8, extra=text)
    for name, data in bombs.items():
        (inbox / name).write_bytes(data)
    assert max(len(d) for d in bombs.values()) < 1_000_000  # small files that declare a lot

    done, peak = run_measured(ws, "--jobs", "2")
    assert done.returncode == 1, done.stderr[-2000:]
    for name in bombs:
        item = ws.item(f"inbox/q/{name}")
        assert item["status"] == "failed", item
        assert_clean_failure(item)
    for name in (
        "png-100000x100000.png",
        "gif-65535x65535.gif",
        "jpeg-65500x65500.jpg",
        "gif-400-frames-of-400x400.gif",
    ):
        assert "decompression bomb" in ws.item(f"inbox/q/{name}")["error"], name
    assert "400 frames" in ws.item("inbox/q/gif-400-frames-of-400x400.gif")["error"]
    # Refused from the headers: nothing near the declared gigapixels was ever allocated.
    assert peak < 1024 * 2**20, f"peak PSS {peak / 2**20:.0f} MiB"


def test_time_limit_stops_a_slow_input_and_the_run_goes_on(ws, tmp_path):
    inbox = quick_workspace(ws, "timeout = 1\n")
    ws.profile("quick", '[image]\nwidths = [3000, 2000, 1000]\nformats = ["avif", "png"]\n')
    rng = random.Random(3)  # noise: slow to encode, whatever the machine
    Image.frombytes("RGB", (3000, 2000), rng.randbytes(3000 * 2000 * 3)).save(inbox / "slow.png", compress_level=1)
    ws.drop("images/tiny-128.jpg", "inbox/q")
    done, _ = run_measured(ws, "--jobs", "1")
    assert done.returncode == 1, done.stderr[-2000:]
    item = ws.item("inbox/q/slow.png")
    assert item["status"] == "failed" and "[limits] timeout" in item["error"], item
    assert_clean_failure(item)
    assert ws.item("inbox/q/tiny-128.jpg")["status"] == "processed"
    assert not (ws.root / "out/quick/slow.png").exists() or not list((ws.root / "out/quick/slow.png").iterdir())
    assert not list((ws.root / "out/.tmp").glob("*"))


def test_memory_cap_fails_an_input_that_needs_more(ws):
    inbox = quick_workspace(ws, "timeout = 120\nmemory_mb = 600\n")
    ws.profile("quick", '[image]\nwidths = []\nformats = ["png"]\n')
    # 14000x10000 RGB: 420 MB decoded, plus the worker itself: over a 600 MiB address space.
    Image.new("RGB", (14000, 10000), (10, 20, 30)).save(inbox / "huge.png", compress_level=1)
    ws.drop("images/tiny-128.jpg", "inbox/q")
    done, peak = run_measured(ws, "--jobs", "1")
    assert done.returncode == 1, done.stderr[-2000:]
    item = ws.item("inbox/q/huge.png")
    assert item["status"] == "failed", item
    assert "memory" in item["error"], item
    assert ws.item("inbox/q/tiny-128.jpg")["status"] == "processed"


# Names, symlinks, sidecars -------------------------------------------------------------------
HOSTILE_NAMES = [
    "<img src=x onerror=alert(1)>.jpg",
    '"><script>alert(2)</script>.jpg',
    "a\nb.jpg",
    "tab\there.jpg",
    "ctl\x01\x1b[31mred.jpg",
    "rtl\u202egpj.exe.jpg",
    "x..\\..\\..\\windows.jpg",
    "%2e%2e%2f%2e%2e%2fetc.jpg",
    "' onmouseover='alert(3).jpg",
    "&lt;amp&gt;&amp;.jpg",
    "javascript:alert(4).jpg",
    "x" * 240 + ".jpg",
]


def test_hostile_names_symlinks_and_sidecars_never_escape_the_workspace_or_inject_html(ws, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.jpg"
    secret.write_bytes((CORPUS / "images/tiny-128.jpg").read_bytes())
    (outside / "leak.toml").write_text('alt = "LEAKED-FROM-OUTSIDE"\n')
    inbox = ws.root / "inbox/web"
    for name in HOSTILE_NAMES:
        ws.drop("images/tiny-128.jpg", name=name)
    ws.drop("images/tiny-128.jpg", name="..hidden.jpg")  # dot-files are never inputs
    sub = inbox / "<b>sub</b>" / ".." / "evil\u202e"  # a folder with hostile parts (the '..' is resolved by mkdir)
    sub.mkdir(parents=True)
    ws.drop("images/tiny-128.jpg", str(sub.relative_to(ws.root)), name="in-sub.jpg")
    (inbox / "link-out.jpg").symlink_to(secret)
    (inbox / "link-etc").symlink_to("/etc")
    (inbox / "link-passwd.jpg").symlink_to("/etc/passwd")
    (inbox / "link-state.db").symlink_to(ws.root / ".crossmedia/state.db")
    (inbox / "link-relative.jpg").symlink_to("../../../outside/secret.jpg")
    ws.drop("images/tiny-128.jpg", name="side-link.jpg")
    (inbox / "side-link.jpg.toml").symlink_to(outside / "leak.toml")
    # Sidecars: unknown keys that name paths are refused; text that is HTML stays text.
    ws.drop("images/tiny-128.jpg", name="writes-out.jpg")
    ws.write("inbox/web/writes-out.jpg.toml", 'output = "../../../../tmp/evil.jpg"\nout_dir = "/tmp"\n')
    ws.drop("images/tiny-128.jpg", name="html-sidecar.jpg")
    ws.write(
        "inbox/web/html-sidecar.jpg.toml",
        'alt = "\\"><img src=x onerror=alert(5)>"\ntitle = "<script>alert(6)</script>"\n'
        'credit = "</p><iframe src=javascript:alert(7)>"\n',
    )
    # A page file naming an asset outside the workspace.
    ws.write("pages/escape.toml", 'title = "Escape"\n[[blocks]]\nheading = "x"\nasset = "../../etc/passwd"\n')
    before_outside = {p.name: sha(p) for p in outside.iterdir()}
    done, _ = run_measured(ws, "--jobs", "2")
    assert done.returncode == 1, done.stderr[-2000:]
    report = ws.report()
    items = {i["input"]: i for i in report["items"]}

    for name in HOSTILE_NAMES:
        item = items[f"inbox/web/{name}"]
        assert item["status"] == "processed", item
    assert "inbox/web/..hidden.jpg" not in items
    for name in ("link-out.jpg", "link-etc", "link-passwd.jpg", "link-state.db", "link-relative.jpg"):
        item = items[f"inbox/web/{name}"]
        assert item["status"] == "failed" and "symbolic link" in item["error"], item
    side = items["inbox/web/side-link.jpg"]
    assert side["status"] == "failed" and "sidecar" in side["error"] and "symbolic link" in side["error"], side
    assert items["inbox/web/writes-out.jpg"]["status"] == "failed"
    assert "unknown key" in items["inbox/web/writes-out.jpg"]["error"]
    assert items["pages/escape.toml"]["status"] == "failed"
    assert not Path("/tmp/evil.jpg").exists()

    # Every file written is inside the workspace and named safely.
    for item in items.values():
        for rel in item["outputs"]:
            p = (ws.root / rel).resolve()
            assert p.is_relative_to(ws.root / "out"), rel
            assert all(c.isalnum() or c in "._-/" for c in rel), rel
    for p in (ws.root / "out").rglob("*"):
        assert p.resolve().is_relative_to(ws.root), p
        assert all(c.isalnum() or c in "._-" for c in p.name), p.name
    for p in (ws.root / "quarantine").iterdir():
        assert all(c.isalnum() or c in "._-" for c in p.name), p.name
    assert {p.name: sha(p) for p in outside.iterdir()} == before_outside
    # Nothing read from outside made it into any output or page.
    everything = b"".join(p.read_bytes() for p in (ws.root / "out").rglob("*") if p.is_file())
    assert b"LEAKED-FROM-OUTSIDE" not in everything
    assert b"root:x:0:0" not in everything

    assert_no_injection(ws.root / "out" / "site")
    # Nor into the terminal or the log: escapes, bidi overrides and control characters are shown escaped.
    for text in (done.stderr, (ws.root / ".crossmedia/crossmedia.log").read_text(encoding="utf-8")):
        assert "\x1b" not in text and "\u202e" not in text and "\x01" not in text
    assert "processed inbox/web/a\\nb.jpg" in done.stderr


ALLOWED_SCRIPTS = {"static/site.js", "../static/site.js", "../../static/site.js"}


def assert_no_injection(site: Path) -> None:
    """Parse every generated page: no element or attribute came from a name, sidecar or file."""
    pages = sorted(site.rglob("*.html"))
    assert pages, "no pages were built"
    for page in pages:
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        # Our own charts (report.html) are inline SVG drawn in Python: they and their parts are
        # ours; any other <svg> came from a name, sidecar or file.
        charts = [el for el in soup.find_all("svg") if page.name == "report.html" and "chart" in el.get("class", [])]
        ours = {id(part) for chart in charts for part in [chart, *chart.find_all(True)]}
        for el in soup.find_all(True):
            if id(el) in ours:
                assert not [a for a in el.attrs if a.lower().startswith("on")], (page.name, str(el)[:200])
                continue
            assert el.name not in ("iframe", "object", "embed", "b", "svg", "base"), (page.name, str(el)[:200])
            if el.name == "script":
                assert el.get("src") in ALLOWED_SCRIPTS and not el.string, (page.name, str(el)[:200])
            for attr, value in el.attrs.items():
                assert not attr.lower().startswith("on"), (page.name, el.name, attr)
                if attr in ("src", "href", "srcset", "poster"):
                    text = " ".join(value) if isinstance(value, list) else value
                    assert "javascript:" not in text.lower(), (page.name, el.name, attr, text)
            if el.name == "img":
                assert el.get("src") != "x", (page.name, str(el)[:200])


def test_svg_scripts_entities_and_external_references_are_stripped_or_refused(ws):
    inbox = quick_workspace(ws)
    ws.profile("quick", '[image]\nwidths = [64]\nformats = ["png"]\nsvg = "keep"\n')
    svgs = {
        "xxe-file.svg": '<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&x;</text></svg>',
        "xxe-param.svg": '<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        "laughs.svg": '<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b '
        '"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&c;</text></svg>',
        "active.svg": '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:xi="http://www.w3.org/2001/XInclude" width="40" height="40" onload="alert(1)">'
        '<script>alert(2)</script><xi:include href="/etc/passwd" parse="text"/>'
        '<image href="file:///etc/passwd" width="5" height="5"/><image xlink:href="/etc/hostname" width="5" '
        'height="5"/>'
        '<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>'
        '<a href="javascript:alert(3)"><rect width="20" height="20" fill="red" onclick="alert(4)"/></a>'
        "<style>@import url(http://example.com/x.css); rect { fill: url(http://example.com/p) }</style>"
        '<use href="/etc/passwd#x"/><set attributeName="href" to="javascript:alert(5)"/>'
        '<rect width="10" height="10" style="fill: url(https://example.com/q)"/></svg>',
    }
    for name, text in svgs.items():
        (inbox / name).write_text(text)
    for e in corpus_entries(kind="image"):
        if Path(e["path"]).name.startswith("hostile-"):
            ws.drop(e["path"], "inbox/q")
    for p in (CORPUS / "broken").glob("hostile-*.svg"):
        ws.drop(p, "inbox/q")
    done, _ = run_measured(ws, "--jobs", "2")
    assert done.returncode == 1, done.stderr[-2000:]
    for name in ("xxe-file.svg", "xxe-param.svg", "laughs.svg"):
        item = ws.item(f"inbox/q/{name}")
        assert item["status"] == "failed" and "entities" in item["error"], item
    kept = []
    for name in ["active.svg", *(p.name for p in (CORPUS / "broken").glob("hostile-*.svg"))]:
        item = ws.item(f"inbox/q/{name}")
        assert item["status"] == "processed", item
        kept += [ws.root / o for o in item["outputs"] if o.endswith(".svg")]
    assert len(kept) >= 3
    for path in kept:
        text = path.read_text(encoding="utf-8")
        low = text.lower()
        assert "script" not in low and "foreignobject" not in low and "include" not in low and "<set" not in low
        assert "javascript:" not in low and "@import" not in low and "/etc/" not in low and "example.com" not in low
        for el in ElementTree.fromstring(text).iter():  # our own sanitised output: plain XML
            assert el.tag.startswith("{http://www.w3.org/2000/svg}"), (path.name, el.tag)
            for attr, value in el.attrib.items():
                name = attr.rsplit("}", 1)[-1]
                assert not name.lower().startswith("on"), (path.name, el.tag, attr)
                if name == "href":
                    assert value.startswith(("#", "data:image/")), (path.name, el.tag, value)
    everything = b"".join(p.read_bytes() for p in (ws.root / "out").rglob("*") if p.is_file())
    assert b"root:x:0:0" not in everything


# Playlists -----------------------------------------------------------------------------------
def _id3(payload: bytes) -> bytes:
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + payload


def _playlists(outside: Path) -> dict[str, bytes]:
    hls = (
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{outside / 'secret.mp4'}\n"
        f"#EXTINF:10,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n"
    ).encode()
    concat = f"ffconcat version 1.0\nfile '{outside / 'secret.mp4'}'\nfile secret.mp4\n".encode()
    return {
        "plain.m3u8": hls,
        "named.mp4": hls,
        "concat.ffconcat": concat,
        "concat-named.mov": concat,
        "bom.m3u8": b"\xef\xbb\xbf" + hls,
    }


def _playlist_workspace(ws, tmp_path: Path, files: dict[str, bytes]):
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.mp4").write_bytes((CORPUS / "video/h264-aac.mp4").read_bytes())
    for name, data in files.items():
        (ws.root / "inbox/web" / name).write_bytes(data)
    done, _ = run_measured(ws, "--jobs", "2")
    return done, {i["input"]: i for i in ws.report()["items"]}


def test_hls_and_concat_playlists_are_refused_unread(ws, tmp_path):
    done, items = _playlist_workspace(ws, tmp_path, _playlists(tmp_path / "outside"))
    assert done.returncode == 1, done.stderr[-2000:]
    for name in _playlists(tmp_path / "outside"):
        item = items[f"inbox/web/{name}"]
        # Refused from its first bytes: never handed to ffprobe, which would follow the entries.
        assert item["status"] == "failed" and item["media"] == "unknown", item
        assert "playlist" in item["error"] or "text file" in item["error"], item


def test_a_playlist_disguised_behind_an_id3_tag_is_not_followed(ws, tmp_path):
    outside = tmp_path / "outside"
    hls = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{outside / 'secret.mp4'}\n#EXT-X-ENDLIST\n".encode()
    done, items = _playlist_workspace(ws, tmp_path, {"disguised.m3u8": _id3(hls)})
    item = items["inbox/web/disguised.m3u8"]
    # Followed, ffprobe reports the outside file's video streams: media "video".
    assert item["media"] != "video", item
