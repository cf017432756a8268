"""Channel presets: what each platform takes, as data (profiles/channels/*.toml, #16).

A preset says what one input becomes for the channel (the sizes made) and the platform's limits
the made files are held to. Built-in presets ship as package data beside the profiles; a
workspace adds its own, or replaces a built-in by name, in its `profiles/channels/` folder. The
whole file is checked before any media is touched, with file, key and fix, like a profile.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pipeline.config.profile import BUILTIN_DIR
from pipeline.config.schema import key, load_table, positive, problem
from pipeline.errors import ConfigError

BUILTIN_CHANNELS = BUILTIN_DIR / "channels"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_RATIO = re.compile(r"^(\d{1,4}):(\d{1,4})$")


def _sizes(value: list[str]) -> str | None:
    if not value:
        return 'names no size: give at least one, e.g. ["1080x1350"]'
    bad = [v for v in value if not _SIZE.match(v)]
    return f'{bad[0]!r} is not a size like "1080x1350"' if bad else None


def _size(value: str) -> str | None:
    return None if _SIZE.match(value) else f'{value!r} is not a size like "1080x1920"'


def _ratio(value: str) -> str | None:
    m = _RATIO.match(value)
    return None if value == "" or (m and int(m[1]) and int(m[2])) else f'{value!r} is not a ratio like "4:5"'


def _range(value: list[float]) -> str | None:
    if value and (len(value) != 2 or value[0] > value[1]):
        return "must be [lowest, highest], e.g. [-16.0, -12.0], or [] for no rule"
    return None


def parse_size(text: str) -> tuple[int, int]:
    w, h = _SIZE.match(text).groups()  # type: ignore[union-attr]  # checked at load
    return int(w), int(h)


def parse_ratio(text: str) -> float | None:
    if not text:
        return None
    w, h = _RATIO.match(text).groups()  # type: ignore[union-attr]
    return int(w) / int(h)


def aspect_of(size: str) -> str:
    """'1080x1350' -> '4:5': the aspect the image and video chains crop to."""
    w, h = parse_size(size)
    g = math.gcd(w, h)
    return f"{w // g}:{h // g}"


@dataclass(frozen=True)
class ImageRules:
    """`[image]`: photos for the channel, and the platform's limits for them."""

    source: str = key("", "Where the limits come from (help page name); shown with every broken rule.")
    sizes: list[str] = key(
        ["1080x1080"],
        "Sizes made for each input, one file each, cropped around the focus; never upscaled.",
        check=_sizes,
        example='["1080x1350", "1080x1080"]',
    )
    formats: list[Literal["jpeg", "png", "webp"]] = key(
        ["jpeg"], "Formats the platform takes; the first is the one made.", example='["jpeg"]'
    )
    max_bytes: int = key(8_000_000, "Largest file the platform takes, in bytes.", check=positive)
    min_width: int = key(0, "Narrowest picture the platform takes, in pixels (0: no rule).")
    max_width: int = key(0, "Widest picture the platform takes, in pixels (0: no rule).")
    min_height: int = key(0, "Lowest picture the platform takes, in pixels (0: no rule).")
    min_aspect: str = key("", 'Narrowest shape taken, width:height, e.g. "4:5" ("" no rule).', check=_ratio)
    max_aspect: str = key("", 'Widest shape taken, width:height, e.g. "191:100" ("" no rule).', check=_ratio)


@dataclass(frozen=True)
class VideoRules:
    """`[video]`: videos for the channel, and the platform's limits for them."""

    source: str = key("", "Where the limits come from (help page name); shown with every broken rule.")
    size: str = key("1080x1920", "Size made, cropped around the focus; never upscaled.", check=_size)
    containers: list[Literal["mp4"]] = key(["mp4"], "Containers the platform takes (MP4 is made).")
    video_codecs: list[str] = key(["h264"], "Video codecs taken (ffprobe names: h264, hevc).")
    audio_codecs: list[str] = key(["aac"], "Audio codecs taken (ffprobe names: aac).")
    max_sample_rate: int = key(48000, "Highest audio sample rate taken, in Hz (0: no rule).")
    max_channels: int = key(2, "Most audio channels taken (0: no rule).")
    min_fps: float = key(0.0, "Lowest frame rate taken (0: no rule).")
    max_fps: float = key(60.0, "Highest frame rate taken.", check=positive)
    max_width: int = key(0, "Widest picture taken, in pixels (0: no rule).")
    min_seconds: float = key(0.0, "Shortest video taken, in seconds.")
    max_seconds: float = key(
        60.0, "Longest video taken, in seconds; longer inputs fail unless cut_long.", check=positive
    )
    max_bytes: int = key(100_000_000, "Largest file taken, in bytes.", check=positive)
    lufs: list[float] = key([], "Loudness range [lowest, highest] in LUFS ([]: no rule).", check=_range)
    max_true_peak: float = key(0.0, "Highest true peak in dBTP.")


@dataclass(frozen=True)
class ChannelFile:
    description: str = key("", "One line shown by `crossmedia deliver --list`.")
    image: ImageRules | None = key(None, "Photos for the channel (no section: photos are not delivered).")
    video: VideoRules | None = key(None, "Videos for the channel (no section: videos are not delivered).")


@dataclass(frozen=True)
class Channel:
    name: str
    path: Path
    description: str
    image: ImageRules | None
    video: VideoRules | None

    def recipe(self) -> str:
        """Hash of the rules: a changed preset delivers again what it changes."""
        blob = json.dumps(
            {"i": asdict(self.image) if self.image else None, "v": asdict(self.video) if self.video else None},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_channels(workspace_dir: Path | None = None) -> dict[str, Channel]:
    """Every built-in preset, then the workspace's own; ConfigError listing every problem."""
    files = {p.stem: p for p in sorted(BUILTIN_CHANNELS.glob("*.toml"))}
    if workspace_dir is not None:
        files.update({p.stem: p for p in sorted((workspace_dir / "profiles" / "channels").glob("*.toml"))})
    problems: list[str] = []
    channels = {}
    for name, path in files.items():
        if not _NAME.match(name):
            problems.append(
                f"error: {path}: {name!r} is not a channel name\n"
                "  Fix: rename the file with lower-case letters, digits and hyphens, e.g. shop-tiles.toml."
            )
            continue
        try:
            with path.open("rb") as f:
                table = tomllib.load(f)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            problems.append(f"error: {path}: not valid TOML: {e}\n  Fix: correct the syntax at the place named.")
            continue
        loaded = load_table(ChannelFile, table, path, "", problems)
        if loaded is None:
            continue
        if loaded.image is None and loaded.video is None:
            problems.append(
                problem(
                    path,
                    "",
                    "[image] / [video]",
                    dataclasses.MISSING,
                    "the preset delivers nothing.",
                    "add an [image] or [video] section.",
                )
            )
            continue
        channels[name] = Channel(name, path, loaded.description, loaded.image, loaded.video)
    if problems:
        raise ConfigError(problems)
    return channels


def check_names(channels: dict[str, Channel], asked: list[str], config_names: list[str], config_path: Path) -> None:
    """Unknown channel names, on the command line or in [deliver.<channel>], fail with the list."""
    known = ", ".join(sorted(channels))
    problems = [
        f"error: there is no channel {name!r}\n  Fix: use one of {known}, or add profiles/channels/{name}.toml."
        for name in asked
        if name not in channels
    ]
    problems += [
        problem(
            config_path,
            f"deliver.{name}",
            "",
            dataclasses.MISSING,
            f"there is no channel {name!r}.",
            f"use one of {known}, or add profiles/channels/{name}.toml.",
        )
        for name in config_names
        if name not in channels
    ]
    if problems:
        raise ConfigError(problems)


def _mb(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


def limits_text(channel: Channel) -> list[str]:
    """The limits as `deliver --list` prints them: one line per kind of media."""
    lines = []
    if (i := channel.image) is not None:
        parts = [", ".join(i.sizes), "/".join(f.upper() for f in i.formats), f"<= {_mb(i.max_bytes)}"]
        if i.min_width or i.max_width:
            parts.append(f"width {i.min_width or 1}-{i.max_width or 'any'} px")
        if i.min_height:
            parts.append(f"height >= {i.min_height} px")
        if i.min_aspect or i.max_aspect:
            parts.append(f"aspect {i.min_aspect or 'any'} to {i.max_aspect or 'any'}")
        lines.append("image: " + ", ".join(parts) + f"  [{i.source}]")
    if (v := channel.video) is not None:
        parts = [
            v.size,
            "/".join(c.upper() for c in v.containers),
            "+".join([*v.video_codecs, *v.audio_codecs]),
            f"{v.min_seconds:g}-{v.max_seconds:g} s",
            f"{v.min_fps:g}-{v.max_fps:g} fps",
            f"<= {_mb(v.max_bytes)}",
        ]
        if v.lufs:
            parts.append(f"{v.lufs[0]:g} to {v.lufs[1]:g} LUFS, peak <= {v.max_true_peak:g} dBTP")
        lines.append("video: " + ", ".join(parts) + f"  [{v.source}]")
    return lines
