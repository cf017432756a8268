"""The commands a user types, end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import CORPUS, crossmedia


def test_probe_says_what_a_file_is_and_why_it_does_not_fit(ws):
    done = ws.cli("probe", str(CORPUS / "images/cmyk-icc.jpg"), expect=0)
    assert "cmyk-icc.jpg: image" in done.output
    assert "source icc: U.S. Web Coated (SWOP) v2" in done.output
    assert "web: usable, with" in done.output and "source is CMYK" in done.output
    assert "print:" in done.output and "prints at 60 ppi" in done.output


def test_probe_json_and_unusable_files(ws):
    done = ws.cli("probe", "--json", "-p", "web", str(CORPUS / "images/tiny-128.jpg"), expect=0)
    data = json.loads(done.stdout)
    assert data["media"] == "image" and data["facts"]["width"] == 128
    assert list(data["profiles"]) == ["web"]
    assert any("too small" in w for w in data["profiles"]["web"]["warnings"])
    bad = ws.cli("probe", str(CORPUS / "broken/truncated.png"), expect=1)
    assert "unusable: image file is truncated" in bad.output
    unknown = ws.cli("probe", "-p", "nope", str(CORPUS / "images/tiny-128.jpg"), expect=2)
    assert "no profile 'nope'" in unknown.output


def test_probe_of_video_and_audio_says_what_they_are(ws):
    done = ws.cli("probe", "--json", str(CORPUS / "video/phone-rotated-90.mov"), expect=0)
    data = json.loads(done.stdout)
    f = data["facts"]
    assert (data["media"], f["rotation"], f["display_width"], f["display_height"]) == ("video", 90, 480, 640)
    assert f["video_codec"] == "h264" and f["audio_codec"] == "aac" and -40 < f["lufs"] < -30
    assert data["profiles"]["web"]["usable"] and not data["profiles"]["print"]["usable"]
    loud = json.loads(
        ws.cli("probe", "--json", "-p", "podcast", str(CORPUS / "audio/loud-whitenoise.mp3"), expect=0).stdout
    )
    assert loud["facts"]["true_peak"] > 0 and any("clips" in w for w in loud["profiles"]["podcast"]["warnings"])


def test_status_lists_failures_and_pending(ws):
    ws.drop("broken/empty.png")
    ws.run(expect=1)
    ws.drop("images/tiny-128.jpg")
    done = ws.cli("status", "-w", str(ws.root), expect=0)
    assert "0 processed, 1 failed, 0 skipped, 1 pending" in done.output
    assert "inbox/web/empty.png: file is empty" in done.output
    assert "inbox/web/tiny-128.jpg" in done.output and "idle" in done.output


def test_doctor_reports_every_tool(ws):
    done = ws.cli("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(done.stdout)}
    for name in (
        "ffmpeg",
        "ffprobe",
        "Pillow AVIF",
        "Pillow littleCMS colour management",
        "pillow-heif",
        "CMYK ICC profile",
        "rsvg-convert",
        "chromium",
    ):
        assert name in checks, name
        assert checks[name]["ok"] or checks[name]["fix"], name
    assert done.exit_code == (0 if all(c["ok"] or not c["required"] for c in checks.values()) else 1)


def test_run_json_keeps_stdout_for_the_document(ws):
    ws.drop("images/tiny-128.jpg")
    done = crossmedia("run", "-w", str(ws.root), "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["counts"]["processed"] == 1
    assert "processed inbox/web/tiny-128.jpg" in done.stderr


def test_demo_makes_its_samples_and_says_where_the_results_are(tmp_path):
    root = tmp_path / "demo"
    done = crossmedia("demo", "-w", str(root), timeout=900)
    assert done.returncode == 0, done.stderr
    report = json.loads((root / "out/report.json").read_text())
    assert report["counts"]["failed"] == 0 and report["counts"]["processed"] >= 8
    warnings = {i["input"]: i["warnings"] for i in report["items"]}
    assert any("CMYK" in w for w in warnings["inbox/web/poster-cmyk.jpg"])
    assert any("prints at" in w for w in warnings["inbox/print/harbour-small.jpg"])
    assert "report:" in done.stderr and str(root / "out/report.json") in done.stderr
    # The summary counts what the progress lines count: inputs, pages and banners said apart (#17).
    total = re.findall(r"^\[\d+/(\d+)\]", done.stderr, re.M)[-1]
    assert re.search(rf"^{total} processed, 0 failed, 0 unchanged; 1 page and 1 banner built$", done.stderr, re.M)
    # the preview site and the landing page (#6)
    assert str(root / "out/site/index.html") in done.stderr and str(root / "out/site/pages/harbour.html") in done.stderr
    assert {i["input"]: i["status"] for i in report["items"]}["pages/harbour.toml"] == "processed"
    assert not [n for n in report["notes"] if n.startswith("check:")]
    again = crossmedia("demo", "-w", str(root), timeout=900)
    assert again.returncode == 0 and "0 processed" in again.stderr


def test_run_from_inside_a_workspace_reads_the_built_in_profiles_not_its_profiles_folder(ws):
    """A workspace's profiles/ folder has the name of the built-in profiles package: with the
    current folder on the import path (`python -c` of the fork server, or an empty PYTHONPATH
    entry), it shadowed the built-in profiles and every folder's profile was "unknown" (#12)."""
    ws.drop("images/tiny-128.jpg")
    assert (ws.root / "profiles").is_dir() and not (ws.root / "profiles" / "__init__.py").exists()
    command = Path(sys.executable).parent / "crossmedia"  # the console script pip installed
    for env in ({}, {"PYTHONPATH": ""}):
        done = subprocess.run(
            [str(command), "run"], cwd=ws.root, capture_output=True, text=True, timeout=600, env={**os.environ, **env}
        )
        assert done.returncode == 0, done.stderr
    assert ws.item("inbox/web/tiny-128.jpg")["status"] == "skipped"  # processed by the first run
