"""The assistant's day (#17): plain messages for damaged media, faults of the machine, retry, the
cron digest, the workspace found from a sub-folder, sidecar orientation and a © credit that
survives, warnings listed.

Everything through the real CLI (`crossmedia` in a subprocess, or `ws.run`). Media from the
corpus (SOURCES.md); the damaged MOV and WAV are cut here from the corpus' h264-aac.mov and
voice-mono-16bit.wav, since the corpus' broken/ folder has an MP4 and MP3 but no MOV or WAV.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import CORPUS, crossmedia, published

ASK = "ask the supplier for the file again"
INCOMPLETE = (
    "file is incomplete: it was cut short (an interrupted copy or upload, or a recording that was not finished) "
    f"and cannot be played; {ASK}"
)
NO_SOUND = f"file is damaged: no sound can be read from it (it was probably cut short during the copy or upload); {ASK}"


def damaged_mov(dest: Path) -> Path:
    """A QuickTime file cut short like an interrupted copy: the first 20 kB of a real one (its
    index, the moov atom, is written at the end)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes((CORPUS / "video/h264-aac.mov").read_bytes()[:20000])
    return dest


def damaged_wav(dest: Path) -> Path:
    """A WAV cut right after its header: the 'data' chunk, the sound, never arrived."""
    data = (CORPUS / "audio/voice-mono-16bit.wav").read_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data[: data.index(b"data")])
    return dest


# Plain messages -------------------------------------------------------------------------------
def test_damaged_mp4_mov_mp3_and_wav_say_what_happened_in_plain_words(ws):
    ws.drop("broken/truncated.mp4", "inbox/web")
    ws.drop("broken/truncated.mp3", "inbox/podcast")
    damaged_mov(ws.root / "inbox/web/interview.mov")
    damaged_wav(ws.root / "inbox/podcast/episode.wav")
    done = crossmedia("run", "-w", str(ws.root), "--json")
    assert done.returncode == 1, done.stderr
    expected = {
        "inbox/web/truncated.mp4": f"MP4 {INCOMPLETE}",
        "inbox/web/interview.mov": f"MOV {INCOMPLETE}",
        "inbox/podcast/truncated.mp3": f"MP3 {NO_SOUND}",
        "inbox/podcast/episode.wav": f"WAV {NO_SOUND}",
    }
    items = {i["input"]: i for i in json.loads(done.stdout)["items"]}
    assert {k: items[k]["error"] for k in expected} == expected
    status = crossmedia("status", "-w", str(ws.root)).stdout
    quarantined = {p.name: p.read_text() for p in (ws.root / "quarantine").glob("*.error.txt")}
    assert len(quarantined) == 4
    for rel, message in expected.items():
        # The same words in the terminal, status and quarantine/; the tool's own text only in details.
        assert f"failed {rel}: {message}\n" in done.stderr
        assert f"  {rel}: {message}\n" in status + "\n"
        assert "0x" not in message and "@" not in message and "[" not in message
        assert "ffmpeg" not in items[rel]["error"] and "moov" not in items[rel]["error"]
        details = items[rel]["details"]
        assert "0x" in details and "@" in details, details  # ffprobe's own line, address and all
        text = quarantined[rel.replace("/", "__") + ".error.txt"]
        assert f"error: {message}\n" in text and f"details: {details}\n" in text
    log = (ws.root / ".crossmedia/crossmedia.log").read_text()
    assert "moov atom not found" in log and "no 'data' tag found" in log


# Faults of the machine ------------------------------------------------------------------------
# Root writes through any permission bits (CAP_DAC_OVERRIDE), so `chmod a-w out` does not stop a
# run as root. The immutable attribute does: creating or renaming in the folder fails with EPERM,
# the PermissionError of the report in #17, and `chattr -i` is the fix a user's `chmod` would be.
def _chattr_works(tmp: Path) -> str | None:
    if not shutil.which("chattr"):
        return "needs chattr (e2fsprogs)"
    probe = tmp / "chattr-probe"
    probe.mkdir()
    done = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, text=True)
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
    return None if done.returncode == 0 else f"chattr +i does not work here: {done.stderr.strip()}"


@pytest.fixture
def immutable(tmp_path):
    why = _chattr_works(tmp_path)
    if why:
        pytest.skip(why)
    frozen: list[Path] = []

    def freeze(path: Path) -> None:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        frozen.append(path)

    def thaw() -> None:
        while frozen:
            subprocess.run(["chattr", "-i", str(frozen.pop())], check=True)

    freeze.thaw = thaw
    yield freeze
    thaw()  # tmp_path must stay deletable


def _state(ws) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in (ws.root / "inbox/web").iterdir()}


def test_a_read_only_out_folder_is_exit_2_in_one_line_and_nothing_is_failed(ws, immutable):
    ws.drop("images/orient-1.jpg")
    ws.drop("images/p3.png")
    before = _state(ws)
    immutable(ws.root / "out")
    done = crossmedia("run", "-w", str(ws.root))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: out/ is not writable by this user (Operation not permitted); nothing was processed. "
        "Fix: give the user that runs crossmedia write access (e.g. chmod -R u+w out), then run again"
    ]
    immutable.thaw()  # what `chmod -R u+w out` does for a user who is not root
    again = crossmedia("run", "-w", str(ws.root), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert {i["input"]: i["status"] for i in report["items"] if i["media"] == "image"} == {
        "inbox/web/orient-1.jpg": "processed",
        "inbox/web/p3.png": "processed",
    }
    assert _state(ws) == before  # the same files, not moved out and back
    assert not list((ws.root / "quarantine").iterdir())


def test_inputs_hit_by_an_unwritable_output_folder_are_not_quarantined_and_retried(ws, immutable):
    ws.drop("images/orient-1.jpg")
    (ws.root / "out/web").mkdir(parents=True)
    immutable(ws.root / "out/web")  # out/ is fine; the profile's folder in it is not
    done = crossmedia("run", "-w", str(ws.root), "--json")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    item = next(i for i in json.loads(done.stdout)["items"] if i["input"] == "inbox/web/orient-1.jpg")
    assert item["error"] == (
        "out/web/ is not writable by this user; give the user that runs crossmedia write access to out/ "
        "(e.g. chmod -R u+w out): the next run retries this input"
    )
    assert "[1/1] failed inbox/web/orient-1.jpg: out/web/ is not writable by this user;" in done.stderr
    assert not list((ws.root / "quarantine").iterdir()), "not the input's fault"
    immutable.thaw()
    again = crossmedia("run", "-w", str(ws.root), "--json")
    assert again.returncode == 0, again.stderr
    assert (
        next(i for i in json.loads(again.stdout)["items"] if i["input"] == "inbox/web/orient-1.jpg")["status"]
        == "processed"
    )


# Retry ----------------------------------------------------------------------------------------
def test_retry_requeues_an_input_whose_bytes_did_not_change(ws):
    ws.drop("images/orient-1.jpg")
    config = ws.root / "crossmedia.toml"
    text = config.read_text()
    config.write_text(text.replace("# max_pixels = 268402689", "max_pixels = 1000"))
    first = crossmedia("run", "-w", str(ws.root))
    assert first.returncode == 1, first.stderr
    assert "decompression bomb refused: 1800x1200 is 2.2 megapixels, over the limit of 0.001 " in first.stderr
    config.write_text(text)  # the error said: raise [limits] max_pixels if the file is genuine
    still = crossmedia("run", "-w", str(ws.root))
    assert still.returncode == 3, still.stderr  # nothing new failed; the old failure is still there
    assert "[1/1]" not in still.stderr  # the unchanged file was not tried again

    assert crossmedia("retry", "-w", str(ws.root)).returncode == 2  # neither inputs nor --failed
    unknown = crossmedia("retry", "-w", str(ws.root), "inbox/web/nope.jpg")
    assert unknown.returncode == 2 and "not an input of this workspace: inbox/web/nope.jpg" in unknown.stderr
    queued = crossmedia("retry", "-w", str(ws.root), "inbox/web/orient-1.jpg")
    assert queued.returncode == 0, queued.stderr
    assert queued.stderr == f"1 input(s) will be processed by the next run: `crossmedia run -w {ws.root}`\n"
    fixed = crossmedia("run", "-w", str(ws.root))
    assert fixed.returncode == 0, fixed.stderr
    assert "[1/1] processed inbox/web/orient-1.jpg" in fixed.stderr
    assert not list((ws.root / "quarantine").iterdir())


def test_retry_failed_requeues_every_failed_input(ws):
    ws.drop("broken/truncated.mp4", "inbox/web")
    ws.drop("images/orient-1.jpg")
    assert crossmedia("run", "-w", str(ws.root)).returncode == 1
    queued = crossmedia("retry", "-w", str(ws.root), "--failed")
    assert queued.returncode == 0 and queued.stderr.startswith("1 input(s) will be processed"), queued.stderr
    again = crossmedia("run", "-w", str(ws.root))
    assert again.returncode == 3, again.stderr  # tried again, failed for the same reason: not new
    assert "[1/1] failed inbox/web/truncated.mp4" in again.stderr


# Cron -----------------------------------------------------------------------------------------
def test_cron_digest_of_three_runs_new_failure_then_nothing_then_a_fix(ws):
    ws.drop("images/orient-1.jpg")
    ws.drop("broken/truncated.mp4", "inbox/web", name="clip.mp4")
    ws.write("inbox/web/orient-1.jpg.toml", 'alt = "A landscape"\n')
    first = crossmedia("run", "-w", str(ws.root), "--quiet")
    assert first.returncode == 1, first.stderr
    assert first.stdout == ""
    assert first.stderr.splitlines() == [
        f"new failure: inbox/web/clip.mp4: MP4 {INCOMPLETE}",
        "new warning: inbox/web/orient-1.jpg: source is too small: 1800 px wide, the largest rendition is 1920 px; "
        "not upscaled, ask for a larger original",
        "processed: inbox/web/orient-1.jpg",
        "1 processed, 1 new failure",
    ]

    second = crossmedia("run", "-w", str(ws.root), "--quiet")
    assert (second.returncode, second.stdout, second.stderr) == (3, "", "")  # silent: cron sends no mail

    ws.drop("video/h264-aac.mp4", "inbox/web", name="clip.mp4")  # the supplier sent it again
    third = crossmedia("run", "-w", str(ws.root), "--quiet")
    assert third.returncode == 0, third.stderr
    warnings = json.loads((ws.root / "out/report.json").read_text())
    clip = next(i for i in warnings["items"] if i["input"] == "inbox/web/clip.mp4")
    assert third.stderr.splitlines() == [
        *(f"new warning: inbox/web/clip.mp4: {w}" for w in clip["warnings"]),
        "processed: inbox/web/clip.mp4 (failed before)",
        "1 processed, 0 new failures",
    ]
    assert clip["warnings"], "the 640x480 clip is below what the web profile allows: one warning"


# Where am I -----------------------------------------------------------------------------------
def test_the_workspace_is_found_from_a_sub_folder(ws, tmp_path):
    ws.drop("images/orient-1.jpg")
    inside = ws.root / "inbox/web"
    done = crossmedia("run", cwd=inside)
    assert done.returncode == 0, done.stderr
    assert (ws.root / "out/report.json").is_file() and not (inside / "out").exists()
    assert not (inside / ".crossmedia").exists()
    status = crossmedia("status", cwd=inside)
    assert status.returncode == 0 and status.stdout.splitlines()[0] == f"workspace {ws.root}"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    lost = crossmedia("status", cwd=outside)
    assert lost.returncode == 2
    assert lost.stderr.startswith(
        f"error: {outside}/crossmedia.toml not found: {outside} is not a crossmedia workspace"
    )


# Sidecars -------------------------------------------------------------------------------------
def test_sidecar_orientation_overrides_a_stale_exif_tag(ws, tmp_path):
    # Pixels already upright (orient-1 is a landscape photo), but the tag says "rotate 90": what an
    # editor that turns the pixels and forgets the tag delivers.
    src = tmp_path / "stale.jpg"
    with Image.open(CORPUS / "images/orient-1.jpg") as im:
        exif = Image.Exif()
        exif[0x0112] = 6
        im.save(src, exif=exif, quality=92)
        upright = np.asarray(im.convert("L").resize((320, 213)), dtype=float)
    ws.drop(src, name="as-tagged.jpg")
    ws.drop(src, name="overridden.jpg")
    ws.write("inbox/web/overridden.jpg.toml", 'orientation = 1\nalt = "A landscape"\n')
    ws.run(expect=0)
    tagged = ws.item("inbox/web/as-tagged.jpg")
    fixed = ws.item("inbox/web/overridden.jpg")
    assert (tagged["facts"]["display_width"], tagged["facts"]["display_height"]) == (1200, 1800)  # sideways
    assert (fixed["facts"]["display_width"], fixed["facts"]["display_height"]) == (1800, 1200)
    assert fixed["facts"]["orientation"] == 1 and fixed["facts"]["exif_orientation"] == 6
    out = next(o for o in published(fixed) if o.endswith("-320.jpg"))
    with Image.open(ws.root / out) as im:
        assert im.size == (320, 213)
        assert im.getexif().get(0x0112) is None
        got = np.asarray(im.convert("L"), dtype=float)
    assert np.abs(got - upright).mean() < 6, "the override must keep the pixels as they are"


def test_a_bad_sidecar_orientation_is_one_line(ws):
    ws.drop("images/orient-1.jpg")
    ws.write("inbox/web/orient-1.jpg.toml", "orientation = 9\n")
    ws.run(expect=1)
    assert "orientation" in ws.item("inbox/web/orient-1.jpg")["error"]
    assert "between 1 and 8" in ws.item("inbox/web/orient-1.jpg")["error"]


@pytest.mark.skipif(not shutil.which("exiftool"), reason="needs exiftool (libimage-exiftool-perl)")
def test_a_copyright_credit_survives_whole_in_jpeg_webp_avif_and_tiff(ws):
    credit = "© 2026 Studio Nord"
    ws.drop("images/orient-1.jpg", "inbox/web")
    ws.drop("images/orient-1.jpg", "inbox/print")
    ws.write("inbox/web/orient-1.jpg.toml", f'credit = "{credit}"\nalt = "A landscape"\n')
    ws.write("inbox/print/orient-1.jpg.toml", f'credit = "{credit}"\n')
    ws.run(expect=0)
    outputs = published(ws.item("inbox/web/orient-1.jpg")) + published(ws.item("inbox/print/orient-1.jpg"))
    suffixes = {Path(o).suffix for o in outputs}
    assert suffixes == {".jpg", ".webp", ".avif", ".tif"}
    done = subprocess.run(
        ["exiftool", "-json", "-XMP-dc:Rights", "-EXIF:Copyright", *(str(ws.root / o) for o in outputs)],
        capture_output=True,
        text=True,
        check=True,
    )
    read = {Path(r["SourceFile"]).name: r for r in json.loads(done.stdout)}
    assert len(read) == len(outputs)
    for name, tags in read.items():
        assert tags.get("Rights") == credit, (name, tags)
        assert "Copyright" not in tags, f"{name}: EXIF is ASCII; a lossy copy there contradicts the XMP"


# Warnings -------------------------------------------------------------------------------------
def test_run_and_status_list_warnings_per_input_and_a_small_video_gets_one(ws):
    ws.drop("video/h264-aac.mp4", "inbox/social")
    done = crossmedia("run", "-w", str(ws.root), "--json")
    assert done.returncode == 0, done.stderr
    item = next(i for i in json.loads(done.stdout)["items"] if i["input"] == "inbox/social/h264-aac.mp4")
    small = [w for w in item["warnings"] if "never upscaled" in w]
    assert len(small) == 1, item["warnings"]  # one line for every aspect it cannot fill
    assert "1:1 at" in small[0] and "9:16 at" in small[0]
    lines = done.stderr.splitlines()
    at = lines.index("warnings:")
    assert lines[at + 1] == "  inbox/social/h264-aac.mp4:"
    assert lines[at + 2 : at + 2 + len(item["warnings"])] == [f"    - {w}" for w in item["warnings"]]
    status = crossmedia("status", "-w", str(ws.root), "--warnings")
    assert status.returncode == 0
    out = status.stdout.splitlines()
    at = out.index(f"warnings: {len(item['warnings'])} on 1 input(s)")
    assert out[at + 1 : at + 2 + len(item["warnings"])] == [
        "  inbox/social/h264-aac.mp4:",
        *(f"    - {w}" for w in item["warnings"]),
    ]
    plain = crossmedia("status", "-w", str(ws.root)).stdout
    assert f"warnings: {len(item['warnings'])} on 1 input(s) (crossmedia status --warnings)" in plain


# Smaller --------------------------------------------------------------------------------------
def test_a_profile_named_like_a_built_in_without_extends_warns_and_jpg_means_jpeg(ws):
    ws.profile("web", '[image]\nwidths = [320]\nformats = ["jpg"]\n')
    ws.drop("images/orient-1.jpg")
    ws.write("inbox/web/orient-1.jpg.toml", 'alt = "A landscape"\n')
    done = crossmedia("run", "-w", str(ws.root))
    assert done.returncode == 0, done.stderr
    path = ws.root / "profiles/web.toml"
    assert done.stderr.splitlines()[:2] == [
        f"warning: {path} replaces the built-in profile 'web' without `extends`, so the built-in's [audio] and "
        "[video] are dropped and those files are not processed for 'web'.",
        '  Fix: add extends = "web" at the top to change only the keys given here, or add [audio] and [video].',
    ]
    assert [Path(o).name for o in published(ws.item("inbox/web/orient-1.jpg"))] == ["orient-1-320.jpg"]
    status = crossmedia("status", "-w", str(ws.root)).stdout
    assert f"warning: {path} replaces the built-in profile 'web' without `extends`" in status
    assert crossmedia("run", "-w", str(ws.root), "--quiet").stderr == ""  # cron: news only
    ws.profile("web", 'extends = "web"\n[image]\nwidths = [320]\nformats = ["jpg"]\n')
    quiet = crossmedia("run", "-w", str(ws.root))
    assert "warning:" not in quiet.stderr


def test_a_run_counts_inputs_apart_from_pages(ws):
    ws.drop("images/orient-1.jpg")
    ws.write("inbox/web/orient-1.jpg.toml", 'alt = "A landscape"\n')
    ws.write(
        "pages/hello.toml",
        'title = "Hello"\n[[blocks]]\nheading = "Hello"\ntext = "Hi"\nasset = "inbox/web/orient-1.jpg"\n',
    )
    done = crossmedia("run", "-w", str(ws.root))
    assert done.returncode == 0, done.stderr
    assert "[1/1] processed inbox/web/orient-1.jpg" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("1 processed, 0 failed, 0 unchanged; 1 page built in ")


def test_generated_tables_name_types_in_words():
    root = Path(__file__).resolve().parent.parent
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        assert "<class" not in text and "tuple[" not in text, doc.name
    assert "| `focus` | a list of 2 numbers |" in (root / "docs/sidecars.md").read_text(encoding="utf-8")


# An unreadable folder ---------------------------------------------------------------------------
# Root reads every folder through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH. The run goes without
# them (setpriv drops them from the bounding set, so the exec'd Python never has them): still root,
# so the venv and workspace are its own, but a folder of another user's with mode 700 is closed.
@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv (util-linux)")
def test_an_unreadable_sub_folder_of_an_inbox_is_reported_not_skipped(ws):
    ws.drop("images/orient-1.jpg", name="open.jpg")
    hidden = ws.drop("images/orient-1.jpg", "inbox/web/private", name="hidden.jpg")
    private = hidden.parent
    subprocess.run(["chown", "-R", "nobody", str(private)], check=True)
    private.chmod(0o700)

    def run_without_override() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable, "-m"]
            + ["pipeline.commands.cli", "run", "-w", str(ws.root), "--json"],
            capture_output=True,
            text=True,
            timeout=600,
        )

    done = run_without_override()
    assert done.returncode == 1, done.stderr
    items = {i["input"]: i for i in json.loads(done.stdout)["items"]}
    assert items["inbox/web/private"]["error"] == (
        "folder cannot be read (Permission denied), so its files are not processed; give the user that runs "
        "crossmedia access to it (e.g. chmod -R u+rX inbox/web/private)"
    )
    assert items["inbox/web/open.jpg"]["status"] == "processed"
    assert "failed inbox/web/private: folder cannot be read" in done.stderr
    private.chmod(0o755)
    again = run_without_override()
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["removed"] == ["inbox/web/private"]
    assert {i["input"]: i["status"] for i in report["items"]}["inbox/web/private/hidden.jpg"] == "processed"


def test_a_missing_codec_is_this_machines_fault_and_the_input_is_retried(ws, tmp_path):
    # An ffmpeg built without libopus, as some distributions ship it: the real ffmpeg behind a
    # wrapper that answers a libopus encode as such a build does.
    fake = tmp_path / "bin"
    fake.mkdir()
    wrapper = fake / "ffmpeg"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" libopus "*) echo "Unknown encoder \'libopus\'" >&2; exit 8;; esac\n'
        f'exec {shutil.which("ffmpeg")} "$@"\n'
    )
    wrapper.chmod(0o755)
    ws.drop("audio/voice-mono-16bit.wav")
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    done = crossmedia("run", "-w", str(ws.root), "--json", env=env)
    assert done.returncode == 2, done.stderr
    item = next(i for i in json.loads(done.stdout)["items"] if i["input"] == "inbox/web/voice-mono-16bit.wav")
    assert item["error"] == (
        "this machine's ffmpeg has no libopus codec (its build leaves it out); install a full ffmpeg "
        "(Debian: apt-get install ffmpeg) and check with `crossmedia doctor`: the next run retries this input"
    )
    assert item["fault"] is True and "Unknown encoder 'libopus'" in item["details"]
    assert not list((ws.root / "quarantine").iterdir()), "not the input's fault"
    fixed = crossmedia("run", "-w", str(ws.root), "--json")  # the full ffmpeg again
    assert fixed.returncode == 0, fixed.stderr
    item = next(i for i in json.loads(fixed.stdout)["items"] if i["input"] == "inbox/web/voice-mono-16bit.wav")
    assert item["status"] == "processed" and any(o.endswith(".opus") for o in item["outputs"])
