"""Audio or video? For containers that hold either (MP4, Matroska, Ogg), the streams decide."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

from pipeline.errors import InputError
from pipeline.media.ffmpeg_run import DEMUXERS, PLAYLIST, label, plain_reason
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
    cmd = [
        exe,
        "-v",
        "error",
        "-protocol_whitelist",
        PROTOCOLS,
        "-format_whitelist",
        DEMUXERS,
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "file:" + str(path),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"ffprobe took longer than {timeout:g} s to read the file") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace")
        if "not on whitelist" in stderr:
            raise InputError(PLAYLIST, details=one_line(stderr, 2000))
        # The file's own name is not ffprobe's words about it (a file may be called "truncated.mp4").
        reason = plain_reason(stderr.replace(str(path), ""), label(path))
        raise InputError(reason, details=one_line(stderr, 2000) or "ffprobe failed")
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


# Length from the packets (#12) -------------------------------------------------------------------
# A browser's MediaRecorder (screen recordings, web voice memos) writes WebM live: the header is
# written before the length is known, so it has no Duration, and no Cues either. The length is
# where the last packet ends. Reading every packet costs a pass over the whole file (a one-hour
# 1 GB screen recording: ~1 GB read); Matroska starts every Cluster with its absolute time, so the
# file's head (EBML header, Info, Tracks) followed by its last megabytes is a valid stream that
# ffprobe resyncs on at the next Cluster: a few MB read, whatever the length.
_EBML, _SEGMENT, _CLUSTER = 0x1A45DFA3, 0x18538067, 0x1F43B675
_HEAD_LIMIT = 1 << 20  # Info and Tracks come first and are small; a head longer than this is not read
_TAIL_FIRST, _TAIL_LAST = 1 << 20, 64 << 20  # tail sizes tried, doubling; then the whole file


def _vint(data: bytes, pos: int, marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length number at `pos`: (value, next position). IDs keep their length
    marker; sizes drop it, and a size of all ones (unknown, as live writers leave it) is -1."""
    if pos >= len(data) or data[pos] == 0:
        return None
    length = 9 - data[pos].bit_length()
    if pos + length > len(data):
        return None
    value = int.from_bytes(data[pos : pos + length], "big")
    if marker:
        return value, pos + length
    value &= (1 << (7 * length)) - 1
    return (-1 if value == (1 << (7 * length)) - 1 else value), pos + length


def _matroska_head(data: bytes) -> bytes | None:
    """The bytes of a Matroska/WebM file before its first Cluster, or None if they are not
    plainly there (then the caller reads every packet instead)."""
    pos, parents = 0, (_EBML, _SEGMENT)
    while True:
        got = _vint(data, pos, marker=True)
        size = _vint(data, got[1], marker=False) if got else None
        if got is None or size is None:
            return None
        element, (length, body) = got[0], size
        if parents:  # the EBML header is skipped whole; the Segment is entered
            if element != parents[0]:
                return None
            if element == _EBML:
                if length < 0:
                    return None
                body += length
            parents = parents[1:]
        elif element == _CLUSTER:
            return data[:pos]
        elif length < 0:
            return None
        else:
            body += length
        pos = body


def _ends(lines: str, frame: dict[int, float]) -> dict[int, float]:
    """ffprobe's compact packet lines -> stream index: where its last packet ends (seconds)."""
    ends: dict[int, float] = {}
    for line in lines.splitlines():
        fields = dict(part.split("=", 1) for part in line.split("|")[1:] if "=" in part)
        try:
            index = int(fields["stream_index"])
            at = float(fields["pts_time"] if fields.get("pts_time") not in (None, "N/A") else fields["dts_time"])
        except (KeyError, ValueError):
            continue
        try:
            length = float(fields.get("duration_time", ""))
        except ValueError:
            length = 0.0
        end = at + (length if length > 0 else frame.get(index, 0.0))
        ends[index] = max(ends.get(index, end), end)
    return ends


def _packets(exe: str, source: str, protocols: str, timeout: float, data: bytes | None = None) -> str:
    cmd = [
        exe,
        "-v",
        "error",
        "-protocol_whitelist",
        protocols,
        "-format_whitelist",
        DEMUXERS,
        "-show_entries",
        "packet=stream_index,pts_time,dts_time,duration_time",
        "-of",
        "compact",
        source,
    ]
    try:
        done = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"ffprobe took longer than {timeout:g} s to find where the file ends") from None
    return done.stdout.decode(errors="replace")


def packet_ends(path: Path, info: dict, timeout: float = 60) -> dict[int, float]:
    """Stream index -> where its last packet ends, in seconds, for a file whose header does not
    say how long it is. Matroska/WebM: from the head and the last few MB; else (or when the tail
    has no packet of some stream, which may have ended early) from every packet."""
    exe = shutil.which("ffprobe")
    if exe is None:
        raise InputError("ffprobe is not installed; run `crossmedia doctor` for the fix")
    streams = info.get("streams", [])
    wanted = {int(s["index"]) for s in streams if "index" in s}
    # A video packet without a duration (browsers write none) lasts one frame at the stream's base rate.
    frame = {}
    for s in streams:
        try:
            rate = Fraction(s.get("r_frame_rate") or "0")
        except (ValueError, ZeroDivisionError):
            rate = Fraction(0)
        if s.get("codec_type") == "video" and rate > 0:
            frame[int(s["index"])] = float(1 / rate)
    if "matroska" in info.get("format", {}).get("format_name", ""):
        size = path.stat().st_size
        with path.open("rb") as f:
            head = _matroska_head(f.read(_HEAD_LIMIT))
            tail = _TAIL_FIRST
            while head is not None and tail < min(size, _TAIL_LAST + 1):
                f.seek(size - tail)
                # The bytes go in through a pipe, read here from the local file: ffprobe opens nothing.
                ends = _ends(_packets(exe, "pipe:0", "pipe", timeout, head + f.read(tail)), frame)
                if ends and wanted <= set(ends):
                    return ends
                tail *= 2
    return _ends(_packets(exe, "file:" + str(path), PROTOCOLS, timeout), frame)


def duration_from_packets(path: Path, info: dict, timeout: float = 60) -> tuple[float, dict[int, float]]:
    """(length of the file, where each stream ends) from its packets: where the last packet
    ends, counted from the first timestamp when that is late. An early one is the audio codec's
    delay (Opus starts a few ms before 0, and the decoder drops those samples): counted from 0,
    as the Matroska muxer does when it writes a Duration, so that a file written live and the
    same packets written to a file gives the same length."""
    ends = packet_ends(path, info, timeout)
    if not ends:
        return 0.0, {}
    try:
        start = max(0.0, float(info.get("format", {}).get("start_time", 0) or 0))
    except ValueError:
        start = 0.0
    return max(0.0, max(ends.values()) - start), {i: max(0.0, end - start) for i, end in ends.items()}
