"""Run ffmpeg for the audio and video stages: local files only, a time limit, one-line errors.

ffmpeg-python builds the command lines (`ffmpeg.input(...).filter(...).output(...)`); this module
runs them, because every run needs the same guard rails (#4):

- `-protocol_whitelist file` on every input, so nothing can make ffmpeg open a URL or a pipe;
- `-format_whitelist` of single-file demuxers (DEMUXERS) on every input: the protocol whitelist
  alone does not stop the HLS demuxer from reading other *local* files a playlist names (tried:
  an .m3u8 naming a local MP4 plays it), so hls, concat, dash and the like are never opened;
- `-nostdin`, so a job never waits on the terminal;
- a time limit per call (the worker's `[limits] timeout` bounds the whole job too);
- a plain line on failure (what happened, what to do), ffmpeg's own last lines kept as details;
- `-progress pipe:1` parsed into the fraction done, for the same progress display images use
  (only when an engine listens: `crossmedia probe` and tests calling stages directly do not).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.errors import CrossmediaError, InputError, MachineFault, MissingTool
from pipeline.names import one_line

PROTOCOLS = "file"
# Demuxers that read only the file they are given (mov: references are off by default,
# enable_drefs=0). A name in this list also admits its family: "mov" is mov,mp4,m4a,3gp...
DEMUXERS = "mov,matroska,ogg,avi,wav,aiff,flac,mp3,aac"

# Lines of ffmpeg's stderr that are noise in an error message.
_NOISE = re.compile(
    r"^(\s*(Stream mapping|Press \[q\]|Input #|Output #|Metadata:|Duration:|Stream #|Side data|"
    r"configuration:|built with|lib\w+\s+\d)|\s{2,}\w+\s*:)"
)


# ffmpeg's words -> what happened, in plain words, and what to do (#17). The headline of a failed
# input is for the person who dropped the file: no demuxer names, no 0x addresses. ffmpeg's own
# text stays in the error's `details` (log, quarantine/, report item).
# Only ffmpeg's phrases: its lines also name the file, and a file may be called "truncated.mp3".
_CUT_SHORT = re.compile(r"moov atom not found", re.I)
_NO_SOUND = re.compile(r"no 'data' tag found|Invalid frame size|Failed to read frame size|Could not seek to", re.I)
_BAD_DATA = re.compile(r"Invalid data found when processing input|Invalid argument|error while decoding", re.I)
_NO_CODEC = re.compile(
    r"Unknown encoder '([\w-]+)'|Encoder ([\w-]+) not found|Decoder \(codec ([\w-]+)\) not found", re.I
)
ASK_AGAIN = "ask the supplier for the file again"
PLAYLIST = (
    "a playlist or reference file (HLS, concat, DASH...) that points at other files; deliver the media file itself"
)


def label(path: Path) -> str:
    """How a message names the file's kind: its extension as people say it ("MP4", "WAV")."""
    return path.suffix.lstrip(".").upper() or "audio/video"


def plain_reason(stderr: str, kind: str) -> str:
    """ffmpeg's or ffprobe's stderr about a file of `kind` ("MP4") -> one plain sentence with what to do."""
    if _CUT_SHORT.search(stderr):
        return (
            f"{kind} file is incomplete: it was cut short (an interrupted copy or upload, or a recording "
            f"that was not finished) and cannot be played; {ASK_AGAIN}"
        )
    if _NO_SOUND.search(stderr):
        return (
            f"{kind} file is damaged: no sound can be read from it (it was probably cut short during "
            f"the copy or upload); {ASK_AGAIN}"
        )
    if _BAD_DATA.search(stderr):
        return f"{kind} file is damaged, or is not really a {kind} file: it cannot be read; {ASK_AGAIN}"
    return (
        f"{kind} file cannot be read (damaged, or a kind of file this machine's ffmpeg does not know); "
        f"{ASK_AGAIN}, or check it plays elsewhere"
    )


def missing_codec(stderr: str) -> MachineFault | None:
    """ffmpeg lacks an encoder or decoder: this machine's fault, not the input's (#17)."""
    found = _NO_CODEC.search(stderr)
    if found is None:
        return None
    codec = next(g for g in found.groups() if g)
    return MachineFault(
        f"this machine's ffmpeg has no {codec} codec (its build leaves it out); install a full ffmpeg "
        f"(Debian: apt-get install ffmpeg) and check with `crossmedia doctor`: the next run retries this input",
        details=one_line(stderr, 2000),
    )


def executable(name: str = "ffmpeg") -> str:
    exe = shutil.which(name)
    if exe is None:
        raise MissingTool(f"{name} is not installed; run `crossmedia doctor` for the fix")
    return exe


def local_input(path: Path) -> str:
    """The name to give ffmpeg for a local file: `file:` so that a name with a colon, or one
    that looks like a protocol or an option, is always read as a plain path."""
    return "file:" + str(path)


def summarise(stderr: str, limit: int = 240) -> str:
    """ffmpeg's stderr -> one line: the last few lines that are not banner or stream listing."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not _NOISE.match(ln)]
    tail = lines[-3:] if lines else []
    return one_line("; ".join(dict.fromkeys(tail)), limit) or "ffmpeg failed without saying why"


def run(
    args: Sequence[str],
    *,
    timeout: float,
    what: str = "ffmpeg",
    duration: float | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> str:
    """Run ffmpeg with `args` (everything after the executable); return its stderr.

    Adds `-nostdin -hide_banner -nostats`. With `duration` (seconds of media this run goes
    through) and a `progress` reporter (the job's), adds `-progress pipe:1` and reports the
    fraction done as `what`. Every `-i` in `args` must be preceded by
    `-protocol_whitelist file` (use `input_args`). Raises InputError with one line on failure
    or when `timeout` seconds pass.
    """
    cmd = [executable("ffmpeg"), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
    if duration and progress is not None:
        return _run_with_progress(
            [*cmd, "-progress", "pipe:1", *args], timeout, what, lambda seconds: progress(what, seconds / duration)
        )
    try:
        done = subprocess.run([*cmd, *args], capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"{what} took longer than {timeout:g} s; stopped") from None
    stderr = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        raise _failure(what, stderr)
    return stderr


def _failure(what: str, stderr: str) -> CrossmediaError:
    fault = missing_codec(stderr)
    if fault is not None:
        return fault
    if "not on whitelist" in stderr:  # the demuxer whitelist stopped a playlist (see DEMUXERS)
        return InputError(PLAYLIST, details=summarise(stderr, 2000))
    if _CUT_SHORT.search(stderr) or _NO_SOUND.search(stderr) or _BAD_DATA.search(stderr):
        headline = f"{what} failed: the file is damaged part-way and the decoder gave up; {ASK_AGAIN}"
    else:
        headline = f"{what} failed; if the file plays elsewhere, send it with .crossmedia/crossmedia.log to us"
    return InputError(headline, details=summarise(stderr, 2000))


def _run_with_progress(cmd: list[str], timeout: float, what: str, on_progress: Callable[[float], None]) -> str:
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryFile() as err, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err) as proc:
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                if line.startswith("out_time_us=") and line[12:].isdigit():
                    on_progress(int(line[12:]) / 1e6)
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(cmd, timeout)
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise InputError(f"{what} took longer than {timeout:g} s; stopped") from None
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise _failure(what, stderr)
    return stderr


def input_args(path: Path, *, start: float | None = None, duration: float | None = None) -> list[str]:
    """`-protocol_whitelist file -format_whitelist ... [-ss S] [-t D] -i file:PATH` for one local input."""
    args = ["-protocol_whitelist", PROTOCOLS, "-format_whitelist", DEMUXERS]
    if start:
        args += ["-ss", f"{start:.6f}"]
    if duration is not None:
        args += ["-t", f"{duration:.6f}"]
    return [*args, "-i", local_input(path)]
