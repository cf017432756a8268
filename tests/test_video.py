"""The video chain (#4) through the real CLI, real ffmpeg, on corpus clips and clips ffmpeg makes.

Corpus files (../shared/corpus/video, see SOURCES.md): h264-aac.mp4 (pydub, MIT), phone-rotated-90.mov
(streamio-ffmpeg, MIT), no-audio.mp4 (moviepy, MIT), vp8-vorbis.webm (moviepy, MIT; Big Buck Bunny
(c) Blender Foundation, CC BY 3.0). Generated here with lavfi: a testsrc2 clip with one keyframe
(a cut that snapped to it would show), and one that starts with a second of black.

Everything is measured (ffprobe, decoded pixels, EBU R128), never compared byte for byte. One
workspace is processed once for the module; the tests read its outputs. Profiles are overridden
to small sizes so that the whole module stays well under two minutes on two cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import Workspace

pytestmark = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("ffprobe")), reason="needs ffmpeg and ffprobe (Debian package ffmpeg)"
)

FPS = 25
TRIM = (1.52, 3.0)  # seconds: frames 38..74 of the counter clip; its only keyframe is frame 0

WEB = """extends = "web"
[video]
aspects = ["original"]
max_width = 480
max_height = 480
loop = true
loop_seconds = 1
poster_formats = ["jpeg", "webp"]
"""
CROPS = """description = "Every aspect, small."
[video]
aspects = ["original", "16:9", "1:1", "4:5", "9:16"]
max_width = 480
max_height = 480
"""
WEBM = """description = "VP9 WebM only, with an animated preview."
[video]
formats = ["webm"]
max_width = 320
max_height = 320
preview = true
preview_seconds = 0.8
preview_width = 160
poster = "00:00:00.5"
"""


# Helpers: measure with ffprobe/ffmpeg directly, never through the code under test -----------------
def probe(path: Path) -> dict:
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-count_frames",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def video_stream(info: dict) -> dict:
    return next(s for s in info["streams"] if s["codec_type"] == "video")


def frames_gray(path: Path, width: int, height: int) -> np.ndarray:
    """Every frame of the first video stream, decoded to 8-bit grey (frames, height, width)."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
    )
    return np.frombuffer(done.stdout, np.uint8).reshape(-1, height, width).astype(np.float32)


def lufs(path: Path) -> float:
    done = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0", "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", done.stderr)[-1])


def atoms(path: Path) -> list[str]:
    names, data = [], path.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        names.append(name.decode("latin-1"))
        if size < 8:
            break
        pos += size
    return names


def make_clips(folder: Path) -> dict[str, Path]:
    counter = folder / "counter.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=320x240:r={FPS}:d=4",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=4:sample_rate=48000",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "1000",
            "-keyint_min",
            "1000",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(counter),
        ],
        check=True,
    )
    black = folder / "black-lead.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"color=black:s=320x240:r={FPS}:d=1",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=320x240:r={FPS}:d=1.5",
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1,format=yuv420p[v]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(black),
        ],
        check=True,
    )
    still = folder / "interlaced-still.mp4"  # 25i, top field first; the last 1.5 s stand still
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:r=50:d=1",
            "-vf",
            "tpad=stop_mode=clone:stop_duration=1.5,interlace=scan=tff,format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-flags",
            "+ildct+ilme",
            "-x264opts",
            "tff=1",
            str(still),
        ],
        check=True,
    )
    short = folder / "short-audio.mp4"  # 3 s of picture, 1 s of sound
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=320x240:r={FPS}:d=3",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=1:sample_rate=48000",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(short),
        ],
        check=True,
    )
    hdr = folder / "hdr-pq.mp4"  # 10-bit, tagged BT.2020 PQ (HDR10)
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=320x240:r={FPS}:d=1",
            "-vf",
            "format=yuv420p10le",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-profile:v",
            "high10",
            "-color_primaries",
            "bt2020",
            "-color_trc",
            "smpte2084",
            "-colorspace",
            "bt2020nc",
            str(hdr),
        ],
        check=True,
    )
    pal = folder / "anamorphic.mp4"  # 720x576 stored, pixels 16:15 wide: shown 768x576 (4:3)
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=720x576:r={FPS}:d=1",
            "-vf",
            "setsar=16/15,format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(pal),
        ],
        check=True,
    )
    return {"counter": counter, "black": black, "still": still, "short": short, "hdr": hdr, "pal": pal}


@pytest.fixture(scope="module")
def done(tmp_path_factory, corpus) -> Workspace:
    from pipeline.config.workspace import init_workspace

    root = tmp_path_factory.mktemp("video") / "ws"
    init_workspace(root, "video")
    ws = Workspace(root)
    config = root / "crossmedia.toml"
    config.write_text(
        config.read_text().replace("[folders]\n", '[folders]\n"inbox/crops" = "crops"\n"inbox/webm" = "webm"\n')
    )
    ws.profile("web", WEB)
    ws.profile("crops", CROPS)
    ws.profile("webm", WEBM)
    clips = make_clips(tmp_path_factory.mktemp("clips"))
    ws.drop(clips["counter"])
    ws.write("inbox/web/counter.mp4.toml", f'trim = {{start = {TRIM[0]}, end = "00:00:0{TRIM[1]:.3f}"}}\n')
    ws.drop(clips["black"])
    ws.drop(clips["still"])
    ws.drop(clips["short"])
    ws.drop(clips["hdr"])
    ws.drop(clips["pal"])
    ws.write("inbox/web/short-audio.mp4.toml", "trim = {start = 2}\n")  # after the sound has ended
    ws.drop("video/h264-aac.mov")  # shares its stem with h264-aac.mp4
    for rel in ("video/h264-aac.mp4", "video/phone-rotated-90.mov", "video/no-audio.mp4"):
        ws.drop(rel)
    ws.drop("video/h264-aac.mp4", "inbox/crops")
    ws.write("inbox/crops/h264-aac.mp4.toml", "focus = [0.0, 0.5]\n")  # crops hug the left edge
    ws.drop("video/vp8-vorbis.webm", "inbox/social")
    ws.drop("video/vp8-vorbis.webm", "inbox/webm")
    ws.run(expect=0)
    return ws


def outputs(ws: Workspace, rel: str) -> dict[str, dict]:
    """Output file name -> its rendition facts."""
    item = ws.item(rel)
    assert item["status"] == "processed", item
    return {Path(r["path"]).name: r for r in item["facts"]["renditions"]}


# Geometry ----------------------------------------------------------------------------------------
def test_every_aspect_has_exact_even_dimensions_never_above_the_source(done):
    # 640x480 source, caps 480x480: crops 640x480, 640x360, 480x480, 384x480, 270x480, then down to fit
    expected = {"original": (480, 360), "16:9": (480, 270), "1:1": (480, 480), "4:5": (384, 480), "9:16": (270, 480)}
    outs = outputs(done, "inbox/crops/h264-aac.mp4")
    videos = {r["aspect"]: (name, r) for name, r in outs.items() if name.endswith(".mp4")}
    assert set(videos) == set(expected)
    for aspect, (name, facts) in videos.items():
        s = video_stream(probe(done.root / facts["path"]))
        size = (s["width"], s["height"])
        assert size == expected[aspect] == (facts["width"], facts["height"]), (name, size)
        assert size[0] % 2 == 0 and size[1] % 2 == 0 and size[0] <= 640 and size[1] <= 480
        assert s["pix_fmt"] == "yuv420p" and s.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1")
    posters = {r["aspect"]: (r["width"], r["height"]) for r in outs.values() if r.get("role") == "poster"}
    assert posters == expected


def test_crops_centre_on_the_sidecar_focus(done):
    outs = outputs(done, "inbox/crops/h264-aac.mp4")
    tall = outs["h264-aac-9x16-270.mp4"]
    assert tall["crop"] == [0.0, 0.0, round(270 / 640, 4), 1.0] and tall["focus_from"] == "sidecar"
    source = frames_gray(done.root / "inbox/crops/h264-aac.mp4", 640, 480)[0]
    first = frames_gray(done.root / tall["path"], 270, 480)[0]
    assert float(np.abs(first - source[:, :270]).mean()) < 4.0  # the left 270 columns, unscaled
    assert float(np.abs(first - source[:, 185:455]).mean()) > 8.0  # not the centre


@settings(max_examples=500, deadline=None)
@given(
    st.integers(2, 8000),
    st.integers(2, 8000),
    st.sampled_from([0, 320, 720, 1080, 1920]),
    st.sampled_from([0, 320, 720, 1080, 1920]),
)
def test_fit_is_even_never_larger_than_crop_or_caps_and_keeps_the_shape(width, height, max_width, max_height):
    from pipeline.media.video_geometry import fit

    w, h = fit(width, height, max_width, max_height)
    assert w % 2 == 0 and h % 2 == 0 and w >= 2 and h >= 2
    assert w <= max(2, width) and h <= max(2, height)
    assert (not max_width or w <= max(2, max_width)) and (not max_height or h <= max(2, max_height))
    if min(w, h) >= 16:  # tiny sizes cannot hold a shape to a pixel
        assert abs(w / h - width / height) * h <= 1.5, (w, h)


def test_social_profile_crops_1_1_4_5_9_16_from_the_720p_source_and_warns_instead_of_upscaling(done):
    item = done.item("inbox/social/vp8-vorbis.webm")
    sizes = {r["aspect"]: (r["width"], r["height"]) for r in item["facts"]["renditions"] if r["path"].endswith(".mp4")}
    # the source is 1280x720: every crop is 720 high, under social's 1080-wide caps; 9:16 is a
    # 405x720 crop, and 404x718 the even size closest to 9:16 within it (404x720 would be 0.3 % off)
    assert sizes == {"1:1": (720, 720), "4:5": (576, 720), "9:16": (404, 718)}
    for aspect, (w, h) in sizes.items():
        a, b = map(int, aspect.split(":"))
        assert abs(w / h - a / b) * h < 1.0, aspect
    assert any("never upscaled" in w and "1:1" in w for w in item["warnings"])


def test_rotated_phone_clip_comes_out_portrait_without_rotation_metadata(done):
    outs = outputs(done, "inbox/web/phone-rotated-90.mov")
    for name, facts in outs.items():
        if not name.endswith(".mp4"):
            continue
        s = video_stream(probe(done.root / facts["path"]))
        assert (s["width"], s["height"]) == (360, 480), name  # 640x480 stored, turned 90 degrees, fit in 480
        assert not [d for d in s.get("side_data_list", []) if "rotation" in d], name
        assert "rotate" not in s.get("tags", {}), name
    facts = done.item("inbox/web/phone-rotated-90.mov")["facts"]
    assert (facts["rotation"], facts["display_width"], facts["display_height"]) == (90, 480, 640)


def test_non_square_pixels_come_out_square_at_the_shown_aspect(done):
    item = done.item("inbox/web/anamorphic.mp4")
    assert (item["facts"]["sar"], item["facts"]["display_width"], item["facts"]["display_height"]) == (
        "16:15",
        768,
        576,
    )
    main = next(r for r in item["facts"]["renditions"] if r["path"].endswith(".mp4"))
    s = video_stream(probe(done.root / main["path"]))
    assert (s["width"], s["height"], s.get("sample_aspect_ratio", "1:1")) == (480, 360, "1:1")


# Time ----------------------------------------------------------------------------------------------
def test_trim_is_frame_accurate_in_length_and_first_frame(done, tmp_path):
    outs = outputs(done, "inbox/web/counter.mp4")
    name = "counter-320.mp4"
    out = done.root / outs[name]["path"]
    s = video_stream(probe(out))
    frames = int(s["nb_read_frames"])
    assert abs(frames / FPS - (TRIM[1] - TRIM[0])) <= 1 / FPS + 1e-6, frames
    assert abs(float(s["duration"]) - (TRIM[1] - TRIM[0])) <= 1 / FPS + 1e-6
    source = frames_gray(done.root / "inbox/web/counter.mp4", 320, 240)
    first = frames_gray(out, 320, 240)[0]
    wanted = round(TRIM[0] * FPS)
    diff = {i: float(np.abs(first - source[i]).mean()) for i in (0, wanted - 1, wanted, wanted + 1)}
    assert diff[wanted] < 2.0, diff  # the same picture, give or take the encoder
    assert diff[wanted] < min(diff[0], diff[wanted - 1], diff[wanted + 1]) / 2, (
        diff
    )  # not the keyframe, not a neighbour
    facts = done.item("inbox/web/counter.mp4")["facts"]
    assert facts["trim"] == {"start": TRIM[0], "end": TRIM[1]}


# Delivery ------------------------------------------------------------------------------------------
def test_mp4_is_faststart_h264_aac_and_the_loop_is_muted(done):
    outs = outputs(done, "inbox/web/h264-aac.mp4")
    main, loop = outs["h264-aac-480.mp4"], outs["h264-aac-480-loop.mp4"]
    order = atoms(done.root / main["path"])
    assert order.index("moov") < order.index("mdat"), order
    info = probe(done.root / main["path"])
    assert {s["codec_type"]: s["codec_name"] for s in info["streams"]} == {"video": "h264", "audio": "aac"}
    looped = probe(done.root / loop["path"])
    assert [s["codec_type"] for s in looped["streams"]] == ["video"]
    assert float(video_stream(looped)["duration"]) <= 1.0 + 1 / 29.97 + 1e-6
    assert loop["muted"] is True and loop["role"] == "loop" and main["muted"] is False
    # the loop is the start of the main picture, every frame whole (copied up to a forced keyframe)
    looped_frames = frames_gray(done.root / loop["path"], 480, 360)
    main_frames = frames_gray(done.root / main["path"], 480, 360)
    assert len(looped_frames) == 30 and float(np.abs(looped_frames - main_frames[:30]).max()) == 0.0


def test_webm_is_vp9_opus_with_an_animated_preview(done):
    outs = outputs(done, "inbox/webm/vp8-vorbis.webm")
    webm = outs["vp8-vorbis-320.webm"]
    info = probe(done.root / webm["path"])
    assert {s["codec_type"]: s["codec_name"] for s in info["streams"]} == {"video": "vp9", "audio": "opus"}
    assert (webm["width"], webm["height"]) == (320, 180)
    item = done.item("inbox/webm/vp8-vorbis.webm")
    assert (item["facts"]["poster_time"], item["facts"]["poster_from"]) == (0.5, "profile")
    preview = next(r for r in outs.values() if r.get("role") == "preview")
    with Image.open(done.root / preview["path"]) as im:
        assert im.format == "WEBP" and getattr(im, "n_frames", 1) >= 5 and im.size == (160, 90)


def test_poster_is_not_black_and_auto_skips_a_black_lead_in(done):
    outs = outputs(done, "inbox/web/black-lead.mp4")
    posters = [r for r in outs.values() if r.get("role") == "poster"]
    assert {r["format"] for r in posters} == {"jpeg", "webp"}
    for r in posters:
        with Image.open(done.root / r["path"]) as im:
            assert im.size == (r["width"], r["height"]) == (320, 240)
            assert np.asarray(im.convert("L"), np.float32).mean() > 40, r["path"]
    item = done.item("inbox/web/black-lead.mp4")
    assert 0.96 <= item["facts"]["poster_time"] <= 1.1
    assert any("starts with 1.0 s of black" in w for w in item["warnings"]), item["warnings"]


def test_soundtrack_is_levelled_to_the_profile_target(done):
    for rel, name, target in (
        ("inbox/web/h264-aac.mp4", "h264-aac-480.mp4", -16.0),
        ("inbox/social/vp8-vorbis.webm", "vp8-vorbis-1x1-720.mp4", -14.0),
    ):
        outs = outputs(done, rel)
        measured = lufs(done.root / outs[name]["path"])
        assert abs(measured - target) <= 0.5, (rel, measured)
        loud = done.item(rel)["facts"]["loudness"]
        assert abs(loud["after"]["lufs"] - target) <= 0.5 and loud["before"]["lufs"] != loud["after"]["lufs"]
        assert loud["target"]["lufs"] == target


def test_report_carries_probe_facts_and_warns_about_missing_audio(done):
    facts = done.item("inbox/web/h264-aac.mp4")["facts"]
    assert facts["container"].startswith("mov,mp4") and facts["video_codec"] == "h264"
    assert (facts["width"], facts["height"], facts["fps"]) == (640, 480, 29.97)
    assert facts["has_audio"] and facts["audio_codec"] == "aac" and facts["channels"] == 2
    assert facts["interlaced"] is False and facts["variable_fps"] is False
    json.dumps(facts)
    silent = done.item("inbox/web/no-audio.mp4")
    assert any("no soundtrack" in w for w in silent["warnings"]), silent["warnings"]
    assert all(r["muted"] for r in silent["facts"]["renditions"] if r["path"].endswith(".mp4"))


def test_interlaced_and_frozen_sources_are_named_and_deinterlaced(done):
    item = done.item("inbox/web/interlaced-still.mp4")
    assert item["facts"]["interlaced"] is True and item["facts"]["field_order"] == "tt"
    assert any("interlaced" in w for w in item["warnings"]), item["warnings"]
    # 1.5 s of cloned frames; the encoder settles on the still picture a few frames in
    assert any(re.search(r"stands still for the last 1\.[2-5] s", w) for w in item["warnings"]), item["warnings"]
    assert any("interlaced (top field first)" in w for w in item["warnings"]), item["warnings"]
    out = next(r for r in item["facts"]["renditions"] if r["path"].endswith("-320.mp4"))
    assert video_stream(probe(done.root / out["path"])).get("field_order", "progressive") == "progressive"


def test_inputs_sharing_a_stem_keep_their_own_outputs_and_small_sources_are_named(done):
    mp4, mov = done.item("inbox/web/h264-aac.mp4"), done.item("inbox/web/h264-aac.mov")
    assert mp4["outputs"] and mov["outputs"] and not set(mp4["outputs"]) & set(mov["outputs"])
    assert all((done.root / o).is_file() for o in mp4["outputs"] + mov["outputs"])
    assert any("very low resolution: 320x180" in w for w in mov["warnings"]), mov["warnings"]
    assert any("nearly silent" in w for w in mov["warnings"]), mov["warnings"]


def test_a_small_clip_has_each_rendition_once(ws):
    """#12: video has one size per aspect (the caps), so a rendition can only repeat when an
    aspect or format is listed twice; the 320x180 clip used to be written and listed again for
    each repeat (h264-aac-320.mp4 four times, its poster four times)."""
    ws.profile(
        "small",
        '[video]\naspects = ["original", "16:9", "original"]\nmax_width = 1920\nmax_height = 1080\n'
        'formats = ["mp4", "mp4"]\nloop = true\nloop_seconds = 1\nposter_formats = ["jpeg", "jpeg"]\n',
    )
    ws.write("crossmedia.toml", 'name = "t"\n[folders]\n"inbox/small" = "small"\n')
    ws.drop("video/h264-aac.mov", "inbox/small")
    ws.run(expect=0)
    item = ws.item("inbox/small/h264-aac.mov")
    expected = sorted(
        f"h264-aac{label}-320{end}" for label in ("", "-16x9") for end in (".mp4", "-loop.mp4", "-poster.jpg")
    )
    assert sorted(Path(rel).name for rel in item["outputs"]) == expected  # each once: a list, not a set
    assert sorted(Path(r["path"]).name for r in item["facts"]["renditions"]) == expected
    assert sorted(p.name for p in (ws.root / "out/small/h264-aac.mov").iterdir()) == expected
    for r in item["facts"]["renditions"]:
        if r["path"].endswith(".mp4"):
            assert (video_stream(probe(ws.root / r["path"]))["width"], r["width"]) == (320, 320)


def test_a_soundtrack_that_ends_before_the_kept_part_gives_silent_outputs_and_a_warning(done):
    item = done.item("inbox/web/short-audio.mp4")
    assert item["status"] == "processed"
    assert any("soundtrack cannot be used" in w for w in item["warnings"]), item["warnings"]
    main = next(r for r in item["facts"]["renditions"] if r["path"].endswith("-320.mp4"))
    assert main["muted"] and [s["codec_type"] for s in probe(done.root / main["path"])["streams"]] == ["video"]


def test_hdr_is_tone_mapped_to_8_bit_sdr_bt709_with_a_warning(done):
    item = done.item("inbox/web/hdr-pq.mp4")
    assert item["facts"]["hdr"] == "PQ"
    assert any("HDR source (PQ" in w for w in item["warnings"]), item["warnings"]
    main = next(r for r in item["facts"]["renditions"] if r["path"].endswith("-320.mp4"))
    s = video_stream(probe(done.root / main["path"]))
    assert (s["pix_fmt"], s.get("color_transfer"), s.get("color_primaries")) == ("yuv420p", "bt709", "bt709")
    poster = next(r for r in item["facts"]["renditions"] if r.get("role") == "poster")
    with Image.open(done.root / poster["path"]) as im:
        assert 30 < np.asarray(im.convert("L"), np.float32).mean() < 220


def test_rerun_processes_nothing(done):
    before = {p: p.stat().st_mtime_ns for p in done.files("out") if p.suffix in (".mp4", ".webm", ".jpg")}
    done.run(expect=0)
    counts = done.report()["counts"]
    assert counts["processed"] == 0 and counts["failed"] == 0, counts
    assert {p: p.stat().st_mtime_ns for p in before} == before


# Safety and configuration -------------------------------------------------------------------------------
class Listener:
    """A local HTTP port and a FIFO that record whether anything ever opened them."""

    def __init__(self, folder: Path):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.fifo = folder / "secret.ts"
        os.mkfifo(self.fifo)
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._wait_for_reader, daemon=True)
        self.thread.start()

    def _wait_for_reader(self):
        with open(self.fifo, "wb"):  # blocks until something opens the FIFO for reading
            self.opened.set()

    def connected(self) -> bool:
        try:
            conn, _ = self.server.accept()
        except TimeoutError:
            return False
        conn.close()
        return True

    def close(self):
        if not self.opened.is_set():
            fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)  # release the writer thread
            self.thread.join(timeout=5)
            os.close(fd)
        self.server.close()


@pytest.fixture
def listener(tmp_path):
    it = Listener(tmp_path)
    yield it
    it.close()


def playlists(listener: Listener, corpus_file: Path, beside: Path) -> dict[str, str]:
    """One playlist per target, each of which ffmpeg opens when unguarded (tried: the FIFO
    opens, the port is connected to). Playlists written to `beside` name the FIFO relatively
    when it is there too, as concat's `-safe 1` allows."""
    url = f"http://127.0.0.1:{listener.port}/segment.ts"
    fifo = listener.fifo.name if listener.fifo.parent == beside else str(listener.fifo)

    def hls(target: str) -> str:
        return f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:2,\n{target}\n#EXT-X-ENDLIST\n"

    return {
        "fifo.m3u8": hls(fifo),
        "http.m3u8": hls(url),
        "passwd.m3u8": hls("/etc/passwd"),
        "media.m3u8": hls(str(corpus_file)),
        "fifo.ffconcat": f"ffconcat version 1.0\nfile '{fifo}'\n",
        "http.ffconcat": f"ffconcat version 1.0\nfile '{url}'\n",
    }


def test_a_playlist_input_is_refused_without_reading_what_it_names(ws, listener, corpus):
    lists = playlists(listener, corpus / "video/h264-aac.mp4", ws.root / "inbox/web")
    for name, text in lists.items():
        ws.write(f"inbox/web/{name}", text)
    ws.run(expect=1)
    for name in lists:
        item = ws.item(f"inbox/web/{name}")
        assert item["status"] == "failed" and "playlist" in item["error"] and item["outputs"] == [], item
    assert not listener.opened.is_set() and not listener.connected()


def test_ffprobe_and_ffmpeg_refuse_playlists_themselves(tmp_path, listener, corpus):
    """Below the sniffer: the demuxer whitelist stops HLS and concat before they open anything,
    even where the protocol whitelist allows it (a local file: the HLS demuxer plays one)."""
    from pipeline.errors import InputError
    from pipeline.media import ffmpeg_run
    from pipeline.media.avprobe import ffprobe

    for name, text in playlists(listener, corpus / "video/h264-aac.mp4", tmp_path).items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(InputError, match="playlist"):
            ffprobe(path, timeout=20)
        with pytest.raises(InputError, match="playlist") as refused:
            ffmpeg_run.run([*ffmpeg_run.input_args(path), "-f", "null", "-"], timeout=20, what="test")
        assert "not on whitelist" in refused.value.details  # ffmpeg's own words, kept as details (#17)
        assert not listener.opened.is_set() and not listener.connected(), name


def test_a_clip_cut_short_fails_with_a_clear_error_and_is_quarantined(ws, tmp_path):
    whole = tmp_path / "whole.mp4"  # faststart: the header survives the cut, half the picture does not
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:r=25:d=4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            str(whole),
        ],
        check=True,
    )
    data = whole.read_bytes()
    (ws.root / "inbox/web").mkdir(parents=True, exist_ok=True)
    (ws.root / "inbox/web/cut.mp4").write_bytes(data[: len(data) // 2])
    ws.run(expect=1)
    item = ws.item("inbox/web/cut.mp4")
    assert item["status"] == "failed" and "cut short" in item["error"] and item["outputs"] == [], item
    assert (ws.root / "quarantine").is_dir() and any((ws.root / "quarantine").iterdir())
    assert not (ws.root / "out/web/cut.mp4").exists()


# WebM written live, as a browser's MediaRecorder writes screen recordings (#12) -------------------
def live_webm(source: Path, dest: Path, video: str | None) -> Path:
    """`source` encoded as MediaRecorder does (VP8 or VP9 + Opus, or Opus alone), by ffmpeg's webm
    muxer in live mode: header first, so no Duration and no Cues."""
    picture = ["-c:v", video, "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k"] if video else ["-vn"]
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(source),
            *picture,
            "-c:a",
            "libopus",
            "-b:a",
            "48k",
            "-f",
            "webm",
            "-live",
            "1",
            str(dest),
        ],
        check=True,
    )
    assert "duration" not in probe(dest)["format"]  # what made these fail: no length in the header
    return dest


def header_length(live: Path, tmp: Path) -> float:
    """The length the same packets get when written to a file the usual way (Duration in the header)."""
    copy = tmp / f"{live.stem}-muxed.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(live), "-c", "copy", str(copy)], check=True)
    return float(probe(copy)["format"]["duration"])


@pytest.mark.parametrize("codec", ["libvpx", "libvpx-vp9"])
def test_a_browser_screen_recording_without_a_length_is_processed(ws, corpus, tmp_path, codec):
    clip = live_webm(corpus / "video/h264-aac.mp4", tmp_path / "screen.webm", codec)
    length = header_length(clip, tmp_path)
    frame = 100 / 2997
    ws.profile("web", WEB)
    ws.drop(clip)
    ws.run(expect=0)
    item = ws.item("inbox/web/screen.webm")
    assert item["status"] == "processed", item
    facts = item["facts"]
    assert facts["duration_from"] == "packets" and facts["audio_codec"] == "opus"
    assert abs(facts["duration"] - length) <= frame, (facts["duration"], length)
    main = next(r for r in facts["renditions"] if r["path"].endswith("-480.mp4"))
    info = probe(ws.root / main["path"])
    assert abs(float(info["format"]["duration"]) - length) <= frame  # the whole recording, not a cut
    assert int(video_stream(info)["nb_read_frames"]) == int(video_stream(probe(clip))["nb_read_frames"])


def test_a_long_live_webm_is_measured_from_its_head_and_last_megabyte(tmp_path, corpus, monkeypatch):
    """Thirty copies of a live clip in one live file (~5 MB, a Cluster a second): the length comes
    from the head and the last MB, and agrees with a read of every packet."""
    from pipeline.media import avprobe

    clip = live_webm(corpus / "video/h264-aac.mp4", tmp_path / "one.webm", "libvpx")
    (tmp_path / "list.txt").write_text("".join(f"file '{clip}'\n" for _ in range(30)))
    long = tmp_path / "long.webm"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(tmp_path / "list.txt"),
            "-c",
            "copy",
            "-f",
            "webm",
            "-live",
            "1",
            str(long),
        ],
        check=True,
    )
    info = avprobe.ffprobe(long)
    assert "duration" not in info["format"] and long.stat().st_size > 3 * 2**20
    read = []
    real_packets = avprobe._packets

    def spy(exe, source, protocols, timeout, data=None):  # the real ffprobe, with what it was given noted
        read.append((source, len(data) if data is not None else long.stat().st_size))
        return real_packets(exe, source, protocols, timeout, data)

    monkeypatch.setattr(avprobe, "_packets", spy)
    length, ends = avprobe.duration_from_packets(long, info)
    assert read == [("pipe:0", read[0][1])] and read[0][1] < 2 * 2**20, read  # one look, at the tail
    every = avprobe._ends(real_packets(shutil.which("ffprobe"), f"file:{long}", "file", 60), {})
    assert ends.keys() == every.keys() and all(abs(ends[i] - every[i]) < 1e-6 for i in every), (ends, every)
    assert abs(length - 30 * header_length(clip, tmp_path)) <= 0.1, length


def test_print_has_no_video_section_so_video_is_skipped_with_a_warning(ws):
    ws.drop("video/no-audio.mp4", "inbox/print")
    ws.run(expect=0)
    item = ws.item("inbox/print/no-audio.mp4")
    assert item["status"] == "skipped" and item["media"] == "video" and item["outputs"] == []
    assert "no [video] section" in item["warnings"][0]


def test_a_bad_video_key_fails_at_load_naming_file_key_and_fix(ws):
    ws.drop("video/no-audio.mp4")
    path = ws.profile("web", 'extends = "web"\n[video]\nmax_widht = 720\ncrf = {mp4 = 70}\nposter = "soon"\n')
    result = ws.run(expect=2)
    text = result.output
    assert str(path) in text or "profiles/web.toml" in text
    assert "[video] max_widht" in text and "did you mean 'max_width'" in text
    assert "[video] crf" in text and "between 0 and 51" in text
    assert "[video] poster" in text and '"auto"' in text
    assert text.count("Fix:") >= 3
    assert not (ws.root / "out" / "web").exists()


# Preview site and pages ----------------------------------------------------------------------------
def test_each_crop_is_its_own_player_with_its_own_poster_and_pages_play_the_asked_crop(done, tmp_path):
    from bs4 import BeautifulSoup

    from pipeline.batch.store import Store
    from pipeline.site.preview import asset_page_path

    def soup(path: Path) -> BeautifulSoup:
        return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")

    rows = Store(
        done.root / ".crossmedia/state.db"
    ).items()  # the store, not the last report: a re-run may have come first
    renditions = rows["inbox/crops/h264-aac.mp4"].facts["renditions"]
    crops = soup(done.root / "out" / asset_page_path(rows["inbox/crops/h264-aac.mp4"]))
    players = crops.select(".player-video video")
    made = {r["aspect"]: r for r in renditions if r.get("role") is None and r["path"].endswith(".mp4")}
    assert len(players) == len(made) == 5  # original, 16:9, 1:1, 4:5, 9:16: five films, not five sources of one
    for video in players:
        sources = [s["src"] for s in video.select("source")]
        assert len(sources) == 1
        rendition = next(r for r in made.values() if r["path"].endswith(Path(sources[0]).name))
        assert (int(video["width"]), int(video["height"])) == (rendition["width"], rendition["height"])
        poster = next(r for r in renditions if r["path"].endswith(Path(video["poster"]).name))
        assert poster["role"] == "poster" and poster["aspect"] == rendition["aspect"]
    web = soup(done.root / "out" / asset_page_path(rows["inbox/web/h264-aac.mp4"]))
    loop = [v for v in web.select(".player-video video") if v.has_attr("loop")]
    assert len(loop) == 1 and loop[0].has_attr("muted") and loop[0].select_one("source")["src"].endswith("-loop.mp4")

    copy = tmp_path / "ws"
    shutil.copytree(done.root, copy, symlinks=True)
    (copy / "pages").mkdir(exist_ok=True)
    reel = Workspace(copy)
    reel.write("pages/reel.toml", 'title = "Reel"\n[[blocks]]\nasset = "inbox/crops/h264-aac.mp4"\naspect = "9:16"\n')
    reel.run(expect=0)
    video = soup(copy / "out/site/pages/reel.html").select_one("main video")
    nine = made["9:16"]
    assert [s["src"] for s in video.select("source")][0].endswith(Path(nine["path"]).name)
    assert (int(video["width"]), int(video["height"])) == (nine["width"], nine["height"]) and "9x16" in video["poster"]
    reel.write("pages/reel.toml", 'title = "Reel"\n[[blocks]]\nasset = "inbox/crops/h264-aac.mp4"\naspect = "2:1"\n')
    reel.run(expect=1)
    assert "has no 2:1 crop (made: 16:9, 1:1, 4:5, 9:16, original)" in reel.item("pages/reel.toml")["error"]
