"""Audio or video? For containers that hold either (MP4, Matroska, Ogg), the streams decide."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from pipeline.errors import InputError
from pipeline.media.ffmpeg_run import DEMUXERS
from pipeline.media.sniff import Sniffed
from pipeline.names import one_line

# Local files only: a playlist or reference file must never make ffprobe open anything else.
PROTOCOLS = "file"


def ffprobe(path: Path, timeout: float = 60) -> dict:
    exe = shutil.which("ffprobe")
    if exe is None:
        raise InputError("ffprobe is not installed; run `crossmedia doctor` for the fix")
    # The format whitelist, not the protocol one, is what keeps an HLS playlist from reading
    # the local files it names (see stages/ffmpeg_run.py); ffprobe refuses it before opening any.
    cmd = [exe, "-v", "error", "-protocol_whitelist", PROTOCOLS, "-format_whitelist", DEMUXERS, "-print_format", "json",
           "-show_format", "-show_streams", "file:" + str(path)]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"ffprobe took longer than {timeout:g} s to read the file") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace")
        if "not on whitelist" in stderr:
            raise InputError("a playlist or reference file (HLS, concat, DASH...) that points at other files; "
                             "deliver the media file itself")
        raise InputError(f"not a readable audio/video file: {one_line(stderr, 200) or 'ffprobe failed'}")
    return json.loads(done.stdout or b"{}")


def resolve_av(path: Path, sniffed: Sniffed) -> str:
    """'audio' or 'video' from the streams (cover art in an MP3 is not video)."""
    streams = ffprobe(path).get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    if video:
        return "video"
    if any(s.get("codec_type") == "audio" for s in streams):
        return "audio"
    raise InputError(f"{sniffed.description} with no audio or video stream in it")
