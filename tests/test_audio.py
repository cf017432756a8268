"""The audio chain on real corpus files through the real CLI, judged by measurement (#4).

Loudness is measured on the outputs by ffmpeg's ebur128 called here directly (not through the
module under test), durations and tags by ffprobe, the waveform by decoding the PNG. Media:
../shared/corpus/audio (origin and licence in its SOURCES.md); the hostile playlists are made
here. One workspace is run once for most tests (module fixture) to keep CI time down.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from PIL import Image

from conftest import CORPUS, Workspace

PODCAST = {  # corpus file -> (sidecar or None)
    "audio/voice-mono-16bit.wav": None,
    "audio/aac-silence-edges.m4a": None,
    "audio/tagged-stereo.flac": None,
    "audio/speech.opus": None,
    # the last 19.7 s: music, then ~7 s of silence that trim_silence cuts
    "audio/music-id3-trailing-silence.mp3": 'trim = { start = 120 }\ntitle = "Siesta (outro)"\n',
}
WEB = {
    "audio/loud-whitenoise.mp3": None,
    "broken/non ascii äää – café crème.mp3": None,  # 5 s of digital silence
    "audio/voice-mono.aiff": 'trim = { start = 0.5, end = "00:00:02.000" }\n',
}
MUSIC = "inbox/podcast/music-id3-trailing-silence.mp3"
SILENT = "café crème.mp3"


def ebur128(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) as ffmpeg's ebur128 filter reports them."""
    done = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = done.stderr[done.stderr.rindex("Summary:") :]
    lufs = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return lufs, peak


def ffprobe(path: Path) -> dict:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def decoded_seconds(path: Path) -> float:
    """Length as a player decodes it (encoder delay and padding removed), from the sample count."""
    rate = int(ffprobe(path)["streams"][0]["sample_rate"])
    done = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "astats=measure_perchannel=none:measure_overall=Number_of_samples",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(re.findall(r"Number of samples: (\d+)", done.stderr)[-1]) / rate


def tags(path: Path) -> dict[str, str]:
    info = ffprobe(path)
    found = {**info["format"].get("tags", {}), **info["streams"][0].get("tags", {})}
    return {k.lower(): v for k, v in found.items()}


def audio_outputs(ws: Workspace, rel: str) -> list[Path]:
    item = ws.item(rel)
    assert item["status"] == "processed", item
    return [ws.root / o for o in item["outputs"] if not o.endswith(".png")]


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Workspace:
    """One workspace, podcast and web inputs, run once with two workers."""
    from pipeline.config.workspace import init_workspace

    root = tmp_path_factory.mktemp("audio") / "ws"
    init_workspace(root, "audio")
    ws = Workspace(root)
    for folder, files in (("inbox/podcast", PODCAST), ("inbox/web", WEB)):
        for rel, sidecar in files.items():
            dest = ws.drop(rel, folder)
            if sidecar:
                dest.with_name(dest.name + ".toml").write_text(sidecar, encoding="utf-8")
    ws.run("--jobs", "2", expect=0)
    return ws


def test_every_output_is_levelled_to_its_target_mono_to_the_mono_one(done):
    """podcast: stereo -16 LUFS, mono -19 LUFS; web: -16 for both; all under -1 dBTP (+0.2)."""
    seen = 0
    for folder, files in (("inbox/podcast", PODCAST), ("inbox/web", WEB)):
        for rel in files:
            item_rel = f"{folder}/{Path(rel).name}"
            if item_rel.endswith(SILENT):
                continue  # nothing to level: see the silence test
            mono = done.item(item_rel)["facts"]["channels"] == 1
            target = -19.0 if mono and folder == "inbox/podcast" else -16.0
            for out in audio_outputs(done, item_rel):
                lufs, peak = ebur128(out)
                assert abs(lufs - target) <= 0.5, (out.name, lufs, target)
                assert peak <= -1.0 + 0.2, (out.name, peak)
                assert ffprobe(out)["streams"][0]["channels"] == (1 if mono else 2), out
                seen += 1
    assert seen == 2 * (len(PODCAST) + len(WEB) - 1)


def test_formats_and_containers_are_what_the_profiles_say(done):
    def codecs(rel):
        return sorted((p.suffix, ffprobe(p)["streams"][0]["codec_name"]) for p in audio_outputs(done, rel))

    assert codecs("inbox/podcast/tagged-stereo.flac") == [(".m4a", "aac"), (".mp3", "mp3")]
    assert codecs("inbox/web/loud-whitenoise.mp3") == [(".mp3", "mp3"), (".opus", "opus")]
    m4a = next(p for p in audio_outputs(done, "inbox/podcast/tagged-stereo.flac") if p.suffix == ".m4a")
    head = m4a.read_bytes()[:4096]
    assert head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head  # +faststart: index first
    for p in audio_outputs(done, "inbox/podcast/speech.opus"):
        assert int(ffprobe(p)["streams"][0]["sample_rate"]) == 44100  # podcast sample_rate


def test_sidecar_trim_is_kept_to_the_sample(done):
    for out in audio_outputs(done, "inbox/web/voice-mono.aiff"):
        duration = decoded_seconds(out)
        assert abs(duration - 1.5) <= 0.01, (out.name, duration)  # issue #4: within 10 ms
        assert abs(duration - done.item("inbox/web/voice-mono.aiff")["facts"]["renditions"][0]["duration"]) < 0.03
    facts = done.item("inbox/web/voice-mono.aiff")["facts"]
    assert facts["trim"]["start"] == 0.5 and facts["trim"]["end"] == 2.0
    assert abs(facts["kept_duration"] - 1.5) < 0.001


def test_silence_trim_cuts_the_trailing_silence_of_the_music(done):
    facts = done.item(MUSIC)["facts"]
    window = 139.7 - 120  # what the sidecar keeps
    assert "silence" in facts["trim"]["by"] and facts["silence_tail"] > 6
    cut = window - facts["kept_duration"]
    assert 6.0 <= cut <= 9.0, facts["trim"]
    for out in audio_outputs(done, MUSIC):
        duration = decoded_seconds(out)
        assert abs(duration - facts["kept_duration"]) <= 0.01, (out.name, duration)
    # what is left ends in sound, not in silence
    last = audio_outputs(done, MUSIC)[0]
    lufs, _ = ebur128(last)
    assert lufs > -30


def test_tags_are_carried_and_the_sidecar_title_wins(done):
    for out in audio_outputs(done, MUSIC):
        t = tags(out)
        assert t["title"] == "Siesta (outro)", (out.name, t)
        assert t["artist"] == "Jahzzar"
        assert t["album"] == "Traveller's Guide (Excerpt)"
        assert "creativecommons.org" in t.get("copyright", ""), (out.name, t)
        written = {k.lower() for k in ffprobe(out)["format"].get("tags", {})}  # the tags, not codec headers
        assert not written & {"encoder", "comment", "tdat"}, (out.name, written)
    for out in audio_outputs(done, "inbox/podcast/tagged-stereo.flac"):
        t = tags(out)
        assert (t["title"], t["artist"], t["album"]) == ("track", "art", "alb"), (out.name, t)


def test_each_input_gets_a_real_png_waveform_of_the_profile_size(done):
    for folder, files in (("inbox/podcast", PODCAST), ("inbox/web", WEB)):
        for rel in files:
            item = done.item(f"{folder}/{Path(rel).name}")
            waves = [r for r in item["facts"]["renditions"] if r.get("role") == "waveform"]
            assert len(waves) == 1, item["outputs"]
            with Image.open(done.root / waves[0]["path"]) as im:
                assert im.format == "PNG" and im.size == (1200, 240)
                drawn = im.getextrema()[3][1] > 0  # alpha channel not all clear
                assert drawn != rel.endswith(SILENT), rel


def test_report_has_probe_facts_and_loudness_before_and_after(done):
    facts = done.item("inbox/podcast/tagged-stereo.flac")["facts"]
    assert (facts["codec"], facts["sample_rate"], facts["channels"]) == ("flac", 44100, 2)
    assert abs(facts["duration"] - 1.5) < 0.01 and facts["bitrate"] > 0 and facts["tags"]["artist"] == "art"
    loud = facts["loudness"]
    assert set(loud["before"]) == {"lufs", "true_peak", "lra", "threshold"}
    assert set(loud["after"]) == {"mp3", "m4a"}
    assert abs(loud["after"]["mp3"]["lufs"] + 16) <= 0.5
    rendition = next(r for r in facts["renditions"] if r["format"] == "mp3")
    assert {"bytes", "duration", "lufs", "true_peak", "sample_rate", "channels", "bitrate"} <= set(rendition)
    json.dumps(done.report(), allow_nan=False)  # strict JSON: no inf or nan anywhere


def test_warnings_say_clipping_and_mono_in_stereo_in_plain_words(done):
    noise = done.item("inbox/web/loud-whitenoise.mp3")["warnings"]
    assert any("clips" in w and "dBTP" in w for w in noise), noise
    assert any("very loud" in w for w in noise), noise
    flac = done.item("inbox/podcast/tagged-stereo.flac")["warnings"]
    assert any("same signal" in w for w in flac), flac
    voice = done.item("inbox/podcast/voice-mono-16bit.wav")["warnings"]
    assert not any("clips" in w for w in voice), voice


def test_silence_is_encoded_as_silence_with_a_warning(done):
    item = done.item("inbox/web/non ascii äää – café crème.mp3")
    assert item["status"] == "processed" and any("silent" in w for w in item["warnings"]), item
    for out in audio_outputs(done, item["input"]):
        assert ebur128(out)[0] <= -69  # not pumped up to the target


def test_a_profile_can_upmix_to_stereo_and_warn_about_length(ws):
    ws.profile(
        "voice",
        'extends = "podcast"\n[audio]\nchannels = "stereo"\nformats = ["wav"]\nmax_duration = 2\n'
        "trim_silence = false\n",
    )
    ws.write("crossmedia.toml", 'name = "t"\n[folders]\n"inbox/voice" = "voice"\n')
    ws.drop("audio/voice-mono.aiff", "inbox/voice")
    ws.run(expect=0)
    item = ws.item("inbox/voice/voice-mono.aiff")
    (out,) = audio_outputs(ws, item["input"])
    stream = ffprobe(out)["streams"][0]
    assert (out.suffix, stream["codec_name"], stream["channels"], int(stream["sample_rate"])) == (
        ".wav",
        "pcm_s24le",
        2,
        44100,
    )
    lufs, peak = ebur128(out)
    assert abs(lufs + 16) <= 0.5 and peak <= -1.0 + 0.2, (lufs, peak)  # stereo out: the stereo target
    assert any("max_duration = 2" in w for w in item["warnings"]), item["warnings"]


def test_a_browser_voice_memo_webm_without_a_length_is_processed(ws, tmp_path):
    """#12: a web voice memo (MediaRecorder: Opus in WebM written live) has no length in its
    header. Made here from the corpus speech by ffmpeg's webm muxer in live mode."""
    memo = tmp_path / "memo.webm"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(CORPUS / "audio/speech.opus"),
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
            "-f",
            "webm",
            "-live",
            "1",
            str(memo),
        ],
        check=True,
    )
    assert "duration" not in ffprobe(memo)["format"] and "duration" not in ffprobe(memo)["streams"][0]
    muxed = tmp_path / "muxed.webm"  # the same packets, written the usual way: Duration in the header
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(memo), "-c", "copy", str(muxed)], check=True)
    ws.profile("voice", 'extends = "podcast"\n[audio]\nformats = ["mp3"]\ntrim_silence = false\n')
    ws.write("crossmedia.toml", 'name = "t"\n[folders]\n"inbox/voice" = "voice"\n')
    ws.drop(memo, "inbox/voice")
    ws.run(expect=0)
    item = ws.item("inbox/voice/memo.webm")
    assert item["facts"]["duration_from"] == "packets" and item["facts"]["codec"] == "opus"
    assert abs(item["facts"]["duration"] - float(ffprobe(muxed)["format"]["duration"])) <= 0.02  # one Opus packet
    (out,) = audio_outputs(ws, item["input"])
    assert abs(decoded_seconds(out) - decoded_seconds(memo)) <= 0.03  # all of it, not a cut


def test_a_rerun_processes_nothing(done):
    before = {p: p.stat().st_mtime_ns for p in done.files()}
    done.run(expect=0)
    counts = done.report()["counts"]
    assert counts["processed"] == 0 and counts["failed"] == 0, counts
    # The run's report (report.json, and its page report.html) says when this run ran; nothing else moves.
    run_reports = ("report.json", "report.html")
    assert {p: p.stat().st_mtime_ns for p in done.files() if p.name not in run_reports} == {
        p: t for p, t in before.items() if p.name not in run_reports
    }


def test_truncated_audio_and_hostile_playlists_fail_cleanly_and_read_nothing_else(ws, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    fifo = outside / "secret.mp3"
    os.mkfifo(fifo)  # anything that opens it to read is seen by the watcher below
    opened = threading.Event()
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # succeeds only while a reader has it open
            except OSError:
                stop.wait(0.005)
                continue
            opened.set()
            os.close(fd)

    ws.drop("broken/truncated.mp3")
    ws.write("inbox/web/passwd.m3u8", "#EXTM3U\n#EXTINF:10,\n/etc/passwd\n#EXTINF:10,\nhttp://127.0.0.1:9/x.mp3\n")
    ws.write("inbox/web/local.m3u8", f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{fifo}\n#EXT-X-ENDLIST\n")
    ws.write("inbox/web/list.mp3", f"ffconcat version 1.0\nfile '{fifo}'\nfile '../../../etc/passwd'\n")
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        result = ws.run(expect=1)
    finally:
        stop.set()
        thread.join()
    assert not opened.is_set(), "a playlist made something open the file it points at"
    from pipeline.batch.quarantine import quarantine_name

    for name in ("truncated.mp3", "passwd.m3u8", "local.m3u8", "list.mp3"):
        item = ws.item(f"inbox/web/{name}")
        assert item["status"] == "failed" and item["outputs"] == [], item
        assert "\n" not in item["error"] and len(item["error"]) < 300 and "internal error" not in item["error"], item
        assert (ws.root / "quarantine" / quarantine_name(f"inbox/web/{name}")).is_file()
        assert f"failed inbox/web/{name}" in result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_bad_audio_key_stops_the_run_naming_file_key_and_fix(ws):
    ws.profile("podcast", 'extends = "podcast"\n[audio]\nlufs = -3\nchanels = "mono"\nformats = ["mp3", "wma"]\n')
    ws.drop("audio/voice-mono.aiff", "inbox/podcast")
    result = ws.run(expect=2)
    assert "profiles/podcast.toml [audio] lufs = -3" in result.output
    assert "must be between -40 and -5" in result.output
    assert "did you mean 'channels'" in result.output
    assert "[audio] formats" in result.output and "Fix:" in result.output
    assert not (ws.root / "out" / "podcast").exists() or not any((ws.root / "out" / "podcast").rglob("*.mp3"))


def test_loudnorm_second_pass_stays_linear_on_a_short_mono_clip(tmp_path):
    """The filter the video chain levels soundtracks with: loudnorm's dynamic mode misses clips of a
    few seconds by 10+ LU; kept linear, it lands on the target."""
    from pipeline.media import ffmpeg_run, loudness

    src = CORPUS / "audio/voice-mono-16bit.wav"
    measured = loudness.measure(src, timeout=60)
    out = tmp_path / "levelled.wav"
    flt = loudness.loudnorm_filter(measured, lufs=-24.0, true_peak=-2.0, lra=7.0)
    ffmpeg_run.run(
        [
            *ffmpeg_run.input_args(src),
            "-af",
            f"{flt},aresample=44100,aformat=channel_layouts=mono",
            "-c:a",
            "pcm_s16le",
            str(out),
        ],
        timeout=60,
    )
    lufs, peak = ebur128(out)
    assert abs(lufs + 24) <= 0.5 and peak <= -2.0 + 0.2, (lufs, peak)


def test_generated_sources_print_skips_and_a_bad_trim_fails_alone(ws, tmp_path):
    """Media made by ffmpeg itself (lavfi): a 16 kHz, 24 kbit/s MP3 (and a WAV twin of the same stem),
    a 5.1 WAV; audio dropped into print is skipped; a sidecar trim that is no time fails that input."""
    low, surround = ws.root / "inbox/web/phone-call.mp3", ws.root / "inbox/web/surround.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=3:r=16000,volume=0.3",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "24k",
            str(low),
        ],
        check=True,
    )
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anoisesrc=d=3:c=pink:a=0.2:r=48000,pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0",
            "-c:a",
            "pcm_s16le",
            str(surround),
        ],
        check=True,
    )
    twin = ws.root / "inbox/web/phone-call.wav"  # the same stem as the MP3
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(low), "-t", "2", str(twin)], check=True)
    ws.drop("audio/tone-tagged.ogg", "inbox/print")  # print has no [audio]
    ws.drop("audio/tone-tagged.ogg", "inbox/web", name="bad-trim.ogg")
    ws.write("inbox/web/bad-trim.ogg.toml", 'trim = { start = "1:75", end = 0.5 }\n')
    ws.run(expect=1)
    skipped = ws.item("inbox/print/tone-tagged.ogg")
    assert skipped["status"] == "skipped" and "[audio]" in skipped["warnings"][0], skipped
    bad = ws.item("inbox/web/bad-trim.ogg")
    assert bad["status"] == "failed" and "[trim] start" in bad["error"] and "\n" not in bad["error"], bad
    outs = [set(ws.item(f"inbox/web/{n}")["outputs"]) for n in ("phone-call.mp3", "phone-call.wav")]
    assert outs[0] and outs[1] and not outs[0] & outs[1], outs
    assert all((ws.root / o).is_file() for o in outs[0] | outs[1])
    warnings = ws.item("inbox/web/phone-call.mp3")["warnings"]
    assert any("24 kbit/s" in w for w in warnings) and any("16000 Hz" in w for w in warnings), warnings
    item = ws.item("inbox/web/surround.wav")
    assert any("6 channels" in w and "stereo" in w for w in item["warnings"]), item["warnings"]
    for out in audio_outputs(ws, item["input"]):
        assert ffprobe(out)["streams"][0]["channels"] == 2
        lufs, peak = ebur128(out)
        assert abs(lufs + 16) <= 0.5 and peak <= -0.8, (out.name, lufs, peak)
