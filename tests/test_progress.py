"""Progress of a long input reaches the terminal from inside the worker (#4: ffmpeg's -progress
feeds the same display as images). The real CLI on a real pseudo-terminal, a clip made by ffmpeg."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys

import pytest

from conftest import Workspace


def _on_a_terminal(args: list[str], timeout: float = 300) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal (where the bar is drawn); return (exit code, what the
    terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        code = proc.wait(timeout=timeout)
    return code, b"".join(chunks).decode(errors="replace")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (Debian package ffmpeg)")
def test_a_long_encode_shows_how_far_it_is_on_the_bar(ws: Workspace):
    clip = ws.root / "inbox" / "web" / "rush.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1280x720:r=25:d=12",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=12:sample_rate=48000",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
            str(clip),
        ],
        check=True,
    )
    code, screen = _on_a_terminal(["run", "-w", str(ws.root), "--jobs", "1"])
    assert code == 0, screen
    shown = [int(p) for p in re.findall(r"rush\.mp4: video encoding (\d+)%", screen)]
    # Several distinct figures, climbing: the bar followed the encode, not just its end.
    assert len(set(shown)) >= 2, screen[-2000:]
    assert shown == sorted(shown) and all(0 <= p <= 100 for p in shown), shown
    assert "processed" in ws.report()["items"][0]["status"]
