"""Sidecars: `<input>.toml` beside an input, with what the delivery itself cannot say.

focus = [0.7, 0.3]            # focal point for crops, 0..1 from the left/top
alt = "Two cyclists at dawn"  # alt text for pages
decorative = false            # true: alt="" on pages, no missing-alt warning
title = "Dawn ride"
credit = "Photo: A. Person / Agency"
trim = { start = "00:00:01.5", end = 12 }   # audio/video, seconds or HH:MM:SS.mmm
orientation = 1               # images: the pixels are upright, whatever the EXIF tag says
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.schema import between, key, load_table
from pipeline.errors import InputError
from pipeline.names import one_line

_TIME = re.compile(r"^(?:(?:(\d+):)?(\d{1,2}):)?(\d+(?:\.\d+)?)$")


def parse_time(value: float | int | str) -> float:
    """Seconds from 12, 12.5, "12.5", "01:02.5" or "00:01:02.500"; ValueError saying why not."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError('is not a time like 12.5 or "00:01:02.500"')
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError("is not a time of 0 seconds or more")
        return float(value)
    m = _TIME.match(value.strip())
    if not m:
        raise ValueError('is not a time like 12.5 or "00:01:02.500"')
    hours, minutes, seconds = m.groups()
    if minutes is not None and float(seconds) >= 60:
        raise ValueError("has 60 or more seconds after a colon")
    if hours is not None and int(minutes) >= 60:
        raise ValueError("has 60 or more minutes after the hours")
    total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)
    if not math.isfinite(total):  # hundreds of digits overflow to inf (#8)
        raise ValueError("is not a time of 0 seconds or more")
    return total


def _time(value: float | str) -> str | None:
    try:
        parse_time(value)
    except ValueError as e:
        return str(e)
    return None


@dataclass(frozen=True)
class Trim:
    start: float | str = key(0, "Start of the kept part: seconds or HH:MM:SS.mmm.", check=_time, example='"00:00:01.5"')
    end: float | str = key(
        "", "End of the kept part; empty keeps to the end.", check=lambda v: None if v == "" else _time(v), example="12"
    )

    @property
    def seconds(self) -> tuple[float, float | None]:
        return parse_time(self.start), (None if self.end == "" else parse_time(self.end))


@dataclass(frozen=True)
class Sidecar:
    focus: tuple[float, float] | None = key(
        None,
        "Focal point [x, y], 0..1 from the left and top; crops centre on it.",
        check=lambda v: between(0, 1)(list(v)),
        example="[0.5, 0.3]",
    )
    alt: str | None = key(None, "Alt text for pages (describe the image).", example='"Two cyclists at dawn"')
    decorative: bool = key(False, 'The image is decoration: pages get alt="" and no warning asks for alt text.')
    title: str | None = key(None, "Title (tags of audio outputs, captions on pages).", example='"Dawn ride"')
    credit: str | None = key(
        None, "Credit/copyright line, written into the outputs' metadata.", example='"Photo: A. Person"'
    )
    trim: Trim | None = key(None, "Audio/video: keep only {start, end}.", example='{start = 1.5, end = "00:00:12"}')
    # A photo whose pixels were turned upright by an editor that left the EXIF tag at "rotate 90"
    # came out sideways and nothing could say so (#17).
    orientation: int | None = key(
        None,
        "Images: EXIF orientation to use instead of the file's (1 = the pixels are upright as stored; "
        "6 = turn 90° clockwise, 3 = 180°, 8 = 90° anticlockwise; 2, 4, 5, 7 mirror).",
        check=between(1, 8),
        example="1",
    )


def sidecar_facts(sidecar: Sidecar) -> dict:
    """What pages, banners and proofs use from a sidecar, as plain data for the store."""
    return {
        "alt": sidecar.alt,
        "title": sidecar.title,
        "credit": sidecar.credit,
        "decorative": sidecar.decorative,
        "focus": list(sidecar.focus) if sidecar.focus else None,
    }


def read_sidecar(path: Path | None) -> bytes:
    """Raw sidecar bytes (b"" when there is none or it cannot be read): part of the recipe."""
    if path is None:
        return b""
    try:
        return path.read_bytes()
    except OSError:
        return b""


def parse_sidecar(raw: bytes, shown: str) -> Sidecar:
    """The validated sidecar; InputError naming file, key and fix in one line."""
    if not raw:
        return Sidecar()
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"sidecar {shown} is not valid TOML ({one_line(e)}); fix or delete it") from None
    problems: list[str] = []
    sidecar = load_table(Sidecar, table, shown, "", problems)
    if problems:
        # schema.problem() joins its three parts with "\n  "; a key or value may hold other line breaks
        first = problems[0].split("\n  ")
        raise InputError(f"{first[0].removeprefix('error: ')}: {' '.join(p.strip() for p in first[1:])}")
    if sidecar.trim is not None:
        start, end = sidecar.trim.seconds
        if end is not None and end <= start:
            raise InputError(
                f"sidecar {shown} trim: end ({sidecar.trim.end}) must be after start ({sidecar.trim.start})"
            )
    return sidecar
