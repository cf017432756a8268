"""`crossmedia deliver` (#16): channel presets against corpus media, each platform limit tripped,
packages whole and never repeated, --approved-only, targets.

Media: corpus photos (images/orient-6.jpg, images/large-4032.jpg) and the corpus's rotated phone
clip (video/phone-rotated-90.mov, MIT, streamio-ffmpeg), also looped four times by stream copy
(same bytes per frame, display matrix kept) so that it is long enough for a story; a 65 s video
made here with ffmpeg's lavfi test source, since the corpus has no long one.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from pipeline.deliver.channels import load_channels
from pipeline.deliver.make import broken_image, broken_video, measure_video

CHANNELS = [
    "instagram-feed",
    "instagram-story",
    "facebook-link",
    "linkedin-link",
    "x-post",
    "youtube-thumbnail",
    "og-image",
]
IMAGE_CHANNELS = [c for c in CHANNELS if c != "instagram-story"] + ["instagram-story"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def packages(ws, channel: str) -> list[Path]:
    return sorted((ws.root / "out" / "deliveries" / channel).glob("*-*"))


def manifest(package: Path) -> dict:
    return json.loads((package / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rotated4(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("media") / "phone-rotated-x4.mov"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", "3", "-i", str(corpus / "video/phone-rotated-90.mov")]
        + ["-c", "copy", str(out)],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("media") / "long-65s.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=65"]
        + ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=65"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-c:a", "aac", "-b:a", "64k", str(out)],
        check=True,
    )
    return out


def test_list_names_every_channel_with_limits_and_sources(ws):
    result = ws.cli("deliver", "--list", expect=0)
    for name in CHANNELS:
        assert f"{name}: " in result.output
    assert "1080x1350, 1080x1080, JPEG, <= 8 MB" in result.output
    assert "3-60 s, 23-60 fps, <= 100 MB" in result.output
    assert "YouTube Help, 'Add video thumbnails'" in result.output
    # Each built-in preset cites where its limits come from, in the file itself.
    for channel in load_channels(None).values():
        text = channel.path.read_text(encoding="utf-8")
        assert "https://" in text and "Sources" in text, channel.name
        for rules in (channel.image, channel.video):
            assert rules is None or rules.source, channel.name


def test_photos_every_image_preset(ws, corpus):
    photo = ws.drop("images/orient-6.jpg", "inbox/social")  # 1800x1200 after EXIF rotation
    big = ws.drop("images/large-4032.jpg", "inbox/web")
    before = {p: sha(p) for p in (photo, big)}
    ws.run(expect=0)
    ws.cli("deliver", "-w", str(ws.root), *IMAGE_CHANNELS, expect=0)
    channels = load_channels(None)
    for name in IMAGE_CHANNELS:
        (package,) = packages(ws, name)
        m = manifest(package)
        rules = channels[name].image
        assert {f["input"] for f in m["files"]} == {"inbox/social/orient-6.jpg", "inbox/web/large-4032.jpg"}
        assert len(m["files"]) == 2 * len(rules.sizes)
        for f in m["files"]:
            path = package / f["file"]
            assert f["file"].startswith(name + "_")
            assert sha(path) == f["sha256"] and path.stat().st_size == f["bytes"]
            with Image.open(path) as im:
                assert (im.width, im.height) == (f["width"], f["height"]) and im.format == "JPEG"
            assert not broken_image(name, rules, {**f, "format": "jpeg"})
            assert f["review"] == "pending"
        # The big source fills every size exactly; the smaller one is never upscaled.
        big_sizes = {f"{f['width']}x{f['height']}" for f in m["files"] if f["input"].endswith("large-4032.jpg")}
        assert big_sizes == set(rules.sizes)
        for f in m["files"]:
            assert f["width"] <= 1800 and f["height"] <= 1200 or f["input"].endswith("large-4032.jpg")
        with zipfile.ZipFile(package / f"{name}-{package.name}.zip") as z:
            assert sorted(z.namelist()) == sorted(
                f"{package.name}/{f['file']}" for f in [*m["files"], {"file": "manifest.json"}]
            )
            assert z.testzip() is None
    # The 1200x630 share picture the run made is what og-image ships, byte for byte.
    (og,) = packages(ws, "og-image")
    shipped = [f for f in manifest(og)["files"] if f["input"].endswith("orient-6.jpg")][0]
    assert shipped["from"].endswith("orient-6.share.jpg")
    assert shipped["sha256"] == sha(ws.root / shipped["from"])
    assert {p: sha(p) for p in before} == before  # originals only read
    assert not list((ws.root / "out" / ".tmp").glob("deliver-*"))  # no build folder left


def test_rotated_phone_video_for_a_story(ws, corpus, rotated4):
    ws.drop(rotated4, "inbox/social")
    ws.drop("video/phone-rotated-90.mov", "inbox/web")  # 1.0 s: too short for a story
    ws.run(expect=0)
    result = ws.cli("deliver", "-w", str(ws.root), "instagram-story", expect=1)
    assert (
        "failed: inbox/web/phone-rotated-90.mov: video is 1.0 s: instagram-story takes at least 3 s "
        "(Meta for Developers, IG User Media reference, 'Story video specifications')" in result.output
    )
    (package,) = packages(ws, "instagram-story")
    (f,) = manifest(package)["files"]
    assert f["input"] == "inbox/social/phone-rotated-x4.mov" and f["file"].endswith(".mp4")
    m = measure_video(package / f["file"], loudness=True, timeout=120)
    # Upright portrait 9:16 (the display matrix applied), not the stored 640x480 landscape.
    assert m["height"] > m["width"] and abs(m["width"] / m["height"] - 9 / 16) < 0.01
    assert (m["video_codec"], m["audio_codec"]) == ("h264", "aac")
    assert abs(m["duration"] - 4.137) < 1 / 24
    assert -16 <= m["lufs"] <= -12 and m["true_peak"] <= -1
    assert manifest(package)["failed"] == [
        {
            "input": "inbox/web/phone-rotated-90.mov",
            "rule": result.output.split("phone-rotated-90.mov: ")[1].splitlines()[0],
        }
    ]


def test_long_video_refused_then_cut(ws, long_video):
    ws.drop(long_video, "inbox/social")
    ws.run(expect=0)
    result = ws.cli("deliver", "-w", str(ws.root), "instagram-story", expect=1)
    assert "video is 65.0 s: instagram-story takes at most 60 s" in result.output
    assert "cut_long = true" in result.output
    assert packages(ws, "instagram-story") == []
    config = ws.root / "crossmedia.toml"
    config.write_text(config.read_text() + "\n[deliver.instagram-story]\ncut_long = true\n")
    ws.cli("deliver", "-w", str(ws.root), "instagram-story", expect=0)
    (package,) = packages(ws, "instagram-story")
    (f,) = manifest(package)["files"]
    assert abs(f["duration"] - 60.0) <= 1 / 30 + 0.03  # one frame, plus the AAC frame the muxer rounds to
    assert "cut to 60 s" in f["from"]


STRICT_IMAGE = {
    "max_bytes = 1000": r"file is 0\.\d MB: strict takes at most 0\.0 MB \(test rules\)",
    "min_width = 2000": r"picture is 1080x1080: strict takes at least 2000 px wide",
    "max_width = 1000": r"picture is 1080x1080: strict takes at most 1000 px wide",
    "min_height = 1200": r"picture is 1080x1080: strict takes at least 1200 px high",
    'min_aspect = "2:1"': r"picture is 1080x1080: strict takes shapes no narrower than 2:1",
    'max_aspect = "4:5"': r"picture is 1080x1080: strict takes shapes no wider than 4:5",
}


@pytest.mark.parametrize("rule", STRICT_IMAGE)
def test_each_image_limit_tripped(ws, rule):
    import re

    ws.drop("images/orient-6.jpg", "inbox/social")
    ws.run(expect=0)
    ws.write(
        "profiles/channels/strict.toml",
        f'description = "test"\n[image]\nsource = "test rules"\nsizes = ["1080x1080"]\n{rule}\n',
    )
    result = ws.cli("deliver", "-w", str(ws.root), "strict", expect=1)
    assert re.search(r"strict: failed: inbox/social/orient-6\.jpg: " + STRICT_IMAGE[rule], result.output), result.output
    assert packages(ws, "strict") == []  # nothing the platform would refuse is shipped


STRICT_VIDEO = {
    'video_codecs = ["hevc"]': "video codec h264: strict takes hevc",
    'audio_codecs = ["opus"]': "audio codec aac: strict takes opus",
    "max_sample_rate = 44100": "audio at 48000 Hz: strict takes at most 44100 Hz",
    "min_fps = 50.0": "frame rate 24.174 fps: strict takes 50 to 60 fps",
    "max_width = 200": "picture is 360x640: strict takes at most 200 px wide",
    "max_seconds = 2.0": "video is 4.1 s: strict takes at most 2 s",
    "min_seconds = 10.0": "video is 4.1 s: strict takes at least 10 s",
    "max_bytes = 1000": "file is 0.",
}


@pytest.mark.parametrize("rule", STRICT_VIDEO)
def test_each_video_limit_tripped(ws, rotated4, rule):
    ws.drop(rotated4, "inbox/social")
    ws.run(expect=0)
    ws.write("profiles/channels/strict.toml", f'[video]\nsource = "test rules"\nsize = "1080x1920"\n{rule}\n')
    result = ws.cli("deliver", "-w", str(ws.root), "strict", expect=1)
    assert f"strict: failed: inbox/social/phone-rotated-x4.mov: {STRICT_VIDEO[rule]}" in result.output, result.output
    assert packages(ws, "strict") == []


def test_channel_count_limit(ws, corpus):
    ws.drop("video/h264-aac.mp4", "inbox/social")  # stereo
    ws.run(expect=0)
    ws.write("profiles/channels/strict.toml", '[video]\nsize = "1080x1920"\nmax_channels = 1\n')
    result = ws.cli("deliver", "-w", str(ws.root), "strict", expect=1)
    assert "strict: failed: inbox/social/h264-aac.mp4: audio has 2 channels: strict takes at most 1\n" in result.output


def test_loudness_and_true_peak_limits(ws, corpus):
    """A -16 LUFS web rendition held to a -14 +-1 LUFS rule, peaks to -3 dBTP: both rules named.
    (A file delivery renders is levelled into the range, so these trip on a file as it was made.)"""
    ws.drop("video/h264-aac.mp4", "inbox/web")
    ws.run(expect=0)
    rendition = ws.root / ws.item("inbox/web/h264-aac.mp4")["outputs"][0]
    m = measure_video(rendition, loudness=True, timeout=120)
    channel = load_channels(None)["instagram-story"]
    from dataclasses import replace

    strict = replace(channel.video, lufs=[-15.0, -13.0], max_true_peak=-20.0)
    broken = broken_video("instagram-story", strict, m)
    assert f"loudness {m['lufs']:g} LUFS: instagram-story holds to -15 to -13 LUFS" in broken[-2]
    assert broken[-1].startswith(f"true peak {m['true_peak']:g} dBTP: instagram-story holds to at most -20 dBTP")
    assert broken[0].startswith("video is 2.3 s: instagram-story takes at least 3 s")
    # A container or picture format the platform does not take is named too.
    assert broken_video("x", strict, {**m, "format": "matroska,webm", "lufs": -14.0, "true_peak": -21.0})[0] == (
        "container matroska,webm: x takes MP4 (Meta for Developers, IG User Media reference, "
        "'Story video specifications')"
    )
    rules = channel.image
    assert broken_image("x", rules, {"format": "png", "width": 1080, "height": 1920, "bytes": 10})[0].startswith(
        "format PNG: x takes JPEG"
    )


def test_deliver_twice_delivers_nothing_new(ws, corpus):
    ws.drop("images/orient-6.jpg", "inbox/social")
    ws.run(expect=0)
    ws.cli("deliver", "-w", str(ws.root), "og-image", expect=0)
    first = packages(ws, "og-image")
    again = ws.cli("deliver", "-w", str(ws.root), "og-image", expect=0)
    assert "og-image: nothing new to deliver" in again.output
    assert packages(ws, "og-image") == first
    # New bytes for the input: delivered again, in the next package of the day.
    ws.drop("images/orient-1.jpg", "inbox/social", name="orient-6.jpg")
    ws.run(expect=0)
    ws.cli("deliver", "-w", str(ws.root), "og-image", expect=0)
    after = packages(ws, "og-image")
    assert len(after) == 2 and after[1].name.endswith("-2") and after[0] == first[0]


def test_approved_only(ws, corpus):
    from pipeline.config.workspace import Workspace
    from pipeline.review.decisions import decide

    ws.drop("images/orient-6.jpg", "inbox/social")
    ws.drop("images/orient-1.jpg", "inbox/social")
    ws.run(expect=0)
    result = ws.cli("deliver", "-w", str(ws.root), "og-image", "--approved-only", expect=0)
    assert "no input is approved (2 processed, none with an approved review): nothing delivered" in result.output
    assert packages(ws, "og-image") == []
    decide(Workspace.open(ws.root), ["inbox/social/orient-1.jpg"], "approved", "ada")
    ws.cli("deliver", "-w", str(ws.root), "og-image", "--approved-only", expect=0)
    (package,) = packages(ws, "og-image")
    files = manifest(package)["files"]
    assert [(f["input"], f["review"]) for f in files] == [("inbox/social/orient-1.jpg", "approved")]


def test_targets_folder_and_command(ws, corpus, tmp_path):
    ws.drop("images/orient-6.jpg", "inbox/social")
    ws.run(expect=0)
    config = ws.root / "crossmedia.toml"
    command = '["sh", "-c", "echo nope >&2; exit 3", "{zip}"]'
    config.write_text(config.read_text() + f'\n[deliver.og-image]\nto = "{tmp_path / "share"}"\ncommand = {command}\n')
    result = ws.cli("deliver", "-w", str(ws.root), "og-image", expect=1)
    (package,) = packages(ws, "og-image")
    copied = tmp_path / "share" / f"og-image-{package.name}"
    assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in package.iterdir())
    assert "og-image: sending failed (exit 3): nope; the package stays in out/" in result.output
    state = json.loads((ws.root / ".crossmedia" / "deliveries.json").read_text())
    assert state["og-image"]["packages"][0]["target"]["exit_code"] == 3


def test_bad_preset_and_unknown_channel(ws):
    ws.write("profiles/channels/shop.toml", '[image]\nsizes = ["1080"]\nmax_byte = 5\n')
    result = ws.cli("deliver", "-w", str(ws.root), "shop", expect=2)
    assert 'profiles/channels/shop.toml [image] sizes = ["1080"]' in result.output
    assert "'1080' is not a size like \"1080x1350\"" in result.output
    assert "max_byte = 5\n  unknown key; did you mean 'max_bytes'?" in result.output
    (ws.root / "profiles/channels/shop.toml").unlink()
    result = ws.cli("deliver", "-w", str(ws.root), "tiktok", expect=2)
    assert "error: there is no channel 'tiktok'" in result.output and "og-image" in result.output
    config = ws.root / "crossmedia.toml"
    config.write_text(config.read_text() + '\n[deliver.og-image]\nto = "sftp://host/x"\n')
    result = ws.cli("deliver", "-w", str(ws.root), "og-image", expect=2)
    assert '[deliver.og-image] to = "sftp://host/x"' in result.output and "rclone" in result.output
