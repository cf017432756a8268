"""Output profiles: TOML files, one section per media kind, validated whole at load.

Built-in profiles live in the repository's `profiles/`; a workspace's own `profiles/` may add
profiles or override a built-in by name (optionally `extends = "web"` to change a few keys).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pipeline.config.icc import find_icc
from pipeline.config.schema import aspects, between, key, load_table, positive, problem
from pipeline.config.sidecar import parse_time
from pipeline.errors import ConfigError

# Package data (importlib.resources): a wheel carries them; an installed package is a folder.
BUILTIN_DIR = Path(str(files("profiles")))

# Bump when a stage changes what it writes, so that existing outputs are redone (recipe hash).
RECIPE_VERSION = "1"

ImageFormat = Literal["avif", "webp", "jpeg", "png", "gif", "tiff"]
MetadataKey = Literal["copyright", "artist", "description", "camera", "datetime", "gps", "all"]
Gravity = Literal[
    "attention",
    "entropy",
    "centre",
    "north",
    "south",
    "east",
    "west",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
]


def _qualities(value: dict[str, int]) -> str | None:
    unknown = set(value) - {"avif", "webp", "jpeg", "png", "gif", "tiff"}
    if unknown:
        return f"names an unknown format {sorted(unknown)[0]!r} (known: avif, webp, jpeg)"
    return between(1, 100)(list(value.values()))


def _colour(value: str) -> str | None:
    return None if re.fullmatch(r"#[0-9a-fA-F]{6}", value) else "must be a #rrggbb colour"


def _nonempty(value: list) -> str | None:
    return None if value else "must name at least one"


@dataclass(frozen=True)
class ImageOptions:
    """The `[image]` section: what every image dropped into a folder with this profile becomes."""

    aspects: list[str] = key(
        ["original"],
        'Aspect ratios to crop to, e.g. "16:9", "1:1", or "original" (no crop).',
        check=aspects,
        example='["original", "1:1"]',
    )
    widths: list[int] = key(
        [1920, 1280, 640, 320],
        "Rendition widths in pixels; never upscaled (a warning instead). [] keeps the source width.",
        check=positive,
        example="[1600, 800]",
    )
    formats: list[ImageFormat] = key(
        ["avif", "webp", "jpeg"],
        "Output formats, each written at every width.",
        check=_nonempty,
        example='["webp", "jpeg"]',
    )
    quality: dict[str, int] = key(
        {"avif": 55, "webp": 80, "jpeg": 82},
        "Encoder quality per format, 1-100.",
        check=_qualities,
        example="{webp = 80, jpeg = 82}",
    )
    progressive: bool = key(True, "Write progressive JPEGs (smaller, render early on slow links).")
    colour: Literal["srgb", "cmyk"] = key(
        "srgb", "Output colour space: sRGB for screens, CMYK (with output_icc) for print."
    )
    output_icc: str = key(
        "",
        'CMYK output profile when colour = "cmyk": a path, or a file name looked up in the workspace\'s profiles/ '
        "and /usr/share/color/icc.",
        example='"default_cmyk.icc"',
    )
    assume_cmyk_icc: str = key(
        "default_cmyk.icc", "Profile assumed for CMYK sources that embed none (a warning says so)."
    )
    intent: Literal["perceptual", "relative", "saturation", "absolute"] = key(
        "perceptual", "ICC rendering intent for colour conversions."
    )
    gravity: Gravity = key(
        "attention", "Where to crop when the sidecar gives no focus: attention (saliency), entropy, centre or a side."
    )
    background: str = key(
        "#ffffff",
        "Colour that transparent areas are flattened on for formats without alpha (JPEG, CMYK).",
        check=_colour,
        example='"#ffffff"',
    )
    metadata: list[MetadataKey] = key(
        ["copyright", "artist"],
        'Metadata kept in outputs; everything else (GPS, serial numbers, owner) is stripped. "all" keeps everything.',
        example='["copyright", "artist"]',
    )
    animated: bool = key(
        True, "Keep animation where the format allows it (WebP, GIF, AVIF); otherwise the first frame."
    )
    svg: Literal["keep", "rasterise", "refuse"] = key(
        "keep", "SVG sources: keep a sanitised SVG beside the raster renditions, rasterise only, or refuse."
    )
    print_width_mm: float = key(
        0.0,
        "Printed width of the output in mm; with min_ppi, warns when the print would be soft. 0 = no check.",
        check=between(0, 10000),
        example="210",
    )
    min_ppi: int = key(300, "Resolution a print needs at print_width_mm.", check=positive)
    require_alt: bool = key(False, "Warn when the sidecar gives no alt text (web pages need it).")


AudioFormat = Literal["mp3", "m4a", "opus", "wav", "flac"]
AudioTag = Literal["title", "artist", "album", "album_artist", "copyright", "date", "genre", "track", "comment", "all"]


def _bitrates(value: dict[str, int]) -> str | None:
    unknown = set(value) - {"mp3", "m4a", "opus"}
    if unknown:
        return f"names {sorted(unknown)[0]!r}; bit rates are set for mp3 (CBR instead of VBR), m4a and opus"
    return between(16, 320)(list(value.values()))


def _mono_lufs(value: float | str) -> str | None:
    return None if value == "same" else between(-40, -5)(value)


def _size(value: list[int]) -> str | None:
    ok = len(value) == 2 and 16 <= value[0] <= 4000 and 16 <= value[1] <= 2000
    return None if ok else "must be [width, height] with 16-4000 x 16-2000 pixels"


@dataclass(frozen=True)
class AudioOptions:
    """The `[audio]` section: what every audio file dropped into a folder with this profile becomes (#4)."""

    formats: list[AudioFormat] = key(
        ["mp3", "opus"],
        "Output formats: mp3 (LAME VBR), m4a (AAC-LC, faststart), opus, wav (24-bit), flac.",
        check=_nonempty,
        example='["mp3", "m4a"]',
    )
    lufs: float = key(
        -16.0,
        "Integrated loudness target (EBU R128, LUFS) for stereo outputs: -16 web/podcast, -14 social, -23 broadcast.",
        check=between(-40, -5),
        example="-16",
    )
    lufs_mono: float | Literal["same"] = key(
        "same",
        "Target for mono outputs, e.g. -19 for podcasts (a mono file plays from both speakers and sounds 3 LU louder "
        'than it measures); "same" = lufs.',
        check=_mono_lufs,
        example="-19",
    )
    true_peak: float = key(
        -1.0,
        "Highest true peak (dBTP, inter-sample peaks included) allowed after levelling; louder peaks go through a "
        "limiter.",
        check=between(-9, 0),
        example="-1",
    )
    lra: float = key(
        11.0,
        "Loudness range (LU) beyond which a source gets a warning; levelling is a gain (plus a peak limiter where "
        "needed), never a compressor.",
        check=between(1, 50),
        example="11",
    )
    sample_rate: int = key(
        48000,
        "Output sample rate in Hz (opus is always 48000); 0 keeps the source rate.",
        check=lambda v: (
            None if v in (0, 22050, 24000, 32000, 44100, 48000) else "must be 0, 22050, 24000, 32000, 44100 or 48000"
        ),
        example="44100",
    )
    channels: Literal["keep", "mono", "stereo"] = key(
        "keep",
        "Channel layout of the outputs: keep (mono stays mono, more than two are mixed to stereo), mono or stereo.",
    )
    mp3_quality: int = key(
        2,
        "LAME VBR quality, 0 (best, ~245 kbit/s) to 9 (smallest); 2 is ~190 kbit/s for stereo music.",
        check=between(0, 9),
        example="2",
    )
    bitrate: dict[str, int] = key(
        {"m4a": 160, "opus": 96},
        "Bit rates in kbit/s for m4a and opus; an mp3 entry writes CBR at that rate instead of VBR (some podcast "
        "hosts ask for it).",
        check=_bitrates,
        example="{m4a = 128, opus = 64, mp3 = 128}",
    )
    trim_silence: bool = key(False, "Cut leading and trailing silence (after the sidecar's trim).")
    silence_threshold: float = key(
        -50.0,
        "Level (dBFS) under which audio counts as silence for trim_silence.",
        check=between(-90, -20),
        example="-50",
    )
    silence_min: float = key(
        0.5,
        "Shortest silence (seconds) at the start or end that trim_silence cuts.",
        check=between(0.05, 60),
        example="0.5",
    )
    fade_in_ms: int = key(
        10,
        "Fade-in (ms) wherever the start was cut (sidecar trim or silence), so the cut does not click. 0 = none.",
        check=between(0, 10000),
        example="10",
    )
    fade_out_ms: int = key(
        10, "Fade-out (ms) wherever the end was cut. 0 = none.", check=between(0, 10000), example="10"
    )
    min_duration: float = key(
        0.0,
        "Warn when the kept audio is shorter than this many seconds. 0 = no check.",
        check=between(0, 86400),
        example="5",
    )
    max_duration: float = key(
        0.0,
        "Warn when the kept audio is longer than this many seconds. 0 = no check.",
        check=between(0, 86400),
        example="3600",
    )
    tags: list[AudioTag] = key(
        ["title", "artist", "album", "copyright"],
        "Tags carried from the source into the outputs (the sidecar's title and credit win); the rest, encoder "
        'names and comments included, is dropped. "all" keeps every tag.',
        example='["title", "artist", "copyright"]',
    )
    waveform: bool = key(True, "Draw a PNG waveform of the levelled audio for the preview site.")
    waveform_size: list[int] = key(
        [1200, 240], "Waveform picture [width, height] in pixels.", check=_size, example="[1200, 240]"
    )
    waveform_colour: str = key("#2f6f9f", "Waveform colour.", check=_colour, example='"#2f6f9f"')

    def target(self, channels: int) -> float:
        """The loudness target for an output with this many channels."""
        return float(self.lufs_mono) if channels == 1 and self.lufs_mono != "same" else self.lufs


VideoFormat = Literal["mp4", "webm"]
X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]


def _crf(value: dict[str, int]) -> str | None:
    unknown = set(value) - {"mp4", "webm"}
    if unknown:
        return f"names an unknown format {sorted(unknown)[0]!r} (known: mp4, webm)"
    if not 0 <= value.get("mp4", 23) <= 51:
        return "mp4 (H.264) must be between 0 and 51"
    return between(0, 63)(list(value.values()))


def _poster_time(value: float | str) -> str | None:
    if value == "auto":
        return None
    try:
        parse_time(value)
    except ValueError as e:
        return f'{e}, nor "auto"'
    return None


def _cap(value: int) -> str | None:
    return None if value == 0 or 16 <= value <= 8192 else "must be 0 (no cap) or 16-8192 pixels"


@dataclass(frozen=True)
class VideoOptions:
    """The `[video]` section: what every video dropped into a folder with this profile becomes (#4)."""

    aspects: list[str] = key(
        ["original"],
        'Aspect ratios to crop to around the sidecar\'s focus (else the centre), e.g. "16:9", "9:16", or "original".',
        check=aspects,
        example='["original", "1:1"]',
    )
    max_width: int = key(
        1920,
        "Largest output width in pixels; bigger sources are scaled down, smaller ones never up (a warning instead). "
        "0 = no cap.",
        check=_cap,
        example="1080",
    )
    max_height: int = key(
        1080,
        "Largest output height in pixels. With both caps set, portrait video gets them turned: 1920 x 1080 lets a "
        "phone clip be 1080 x 1920. 0 = no cap.",
        check=_cap,
        example="1920",
    )
    formats: list[VideoFormat] = key(
        ["mp4"],
        "Output formats: mp4 (H.264 High + AAC, +faststart, plays everywhere), webm (VP9 + Opus).",
        check=_nonempty,
        example='["mp4", "webm"]',
    )
    crf: dict[str, int] = key(
        {"mp4": 23, "webm": 33},
        "Constant quality per format (lower is better and bigger): H.264 0-51, VP9 0-63.",
        check=_crf,
        example="{mp4 = 23, webm = 33}",
    )
    max_bitrate: int = key(
        6000,
        "Video bit rate cap in kbit/s (-maxrate, buffer of two seconds' worth) so a busy scene cannot stall a "
        "stream. 0 = no cap.",
        check=between(0, 200000),
        example="4000",
    )
    audio_bitrate: int = key(
        128, "Soundtrack bit rate in kbit/s (AAC in mp4, Opus in webm).", check=between(32, 512), example="160"
    )
    preset: X264Preset = key("veryfast", "H.264 speed/size trade-off (x264 preset); VP9 uses the matching speed.")
    max_fps: float = key(
        30.0,
        "Highest frame rate; faster sources are reduced to it, slower ones kept. 0 = keep the source's.",
        check=between(0, 240),
        example="25",
    )
    loop: bool = key(False, "Also write a muted loop per aspect (MP4, no audio stream) for autoplay and banners.")
    loop_seconds: float = key(
        6.0, "Longest muted loop, from the start of the kept part.", check=between(0.5, 120), example="6"
    )
    poster: float | str = key(
        "auto",
        'Poster frame: a time (seconds or HH:MM:SS.mmm, in the kept part) or "auto" for the first frame that is not '
        "black.",
        check=_poster_time,
        example='"00:00:02.5"',
    )
    poster_formats: list[Literal["jpeg", "webp"]] = key(
        ["jpeg"],
        "Poster picture formats, one poster per aspect at the video's size.",
        check=_nonempty,
        example='["jpeg", "webp"]',
    )
    preview: bool = key(
        False, "Also write a short animated WebP preview per aspect (e.g. for hover previews and cards)."
    )
    preview_seconds: float = key(
        3.0, "Length of the animated preview, from the poster time.", check=between(0.5, 30), example="3"
    )
    preview_width: int = key(320, "Width of the animated preview in pixels.", check=between(16, 1920), example="480")
    lufs: float = key(
        -16.0,
        "Loudness target of the soundtrack (EBU R128, LUFS): -16 web, -14 social, -23 broadcast.",
        check=between(-40, -5),
        example="-14",
    )
    true_peak: float = key(
        -1.0,
        "Highest true peak (dBTP) of the levelled soundtrack; louder peaks go through a limiter.",
        check=between(-9, 0),
        example="-1",
    )
    expect_audio: bool = key(True, "Warn when a source has no soundtrack (set false for profiles of silent loops).")
    min_height: int = key(
        360,
        "Warn when the source's shorter side is under this many pixels (too small for the channel).",
        check=between(0, 8192),
        example="720",
    )


# One entry per media kind a profile can handle; later kinds add theirs here.
SECTIONS: dict[str, type] = {"image": ImageOptions, "audio": AudioOptions, "video": VideoOptions}


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    description: str
    sections: dict[str, Any]  # kind -> validated options dataclass
    warnings: tuple[str, ...] = ()  # loads, but probably not as meant (printed by `run`, #17)

    def options(self, kind: str) -> Any | None:
        return self.sections.get(kind)

    def recipe(self, section: str | None, sidecar: bytes = b"") -> str:
        """Hash of everything that decides this profile's outputs for one kind of input.

        A changed key in `[audio]` does not redo images: only the section's own keys count.
        `None` (used for failed inputs, whose kind may be unknown) hashes every section.
        """
        chosen = sorted(self.sections) if section is None else [section]
        blob = json.dumps(
            {
                "v": RECIPE_VERSION,
                "s": {k: dataclasses.asdict(self.sections[k]) if self.sections.get(k) else None for k in chosen},
            },
            sort_keys=True,
        ).encode()
        return hashlib.sha256(blob + b"\0" + sidecar).hexdigest()[:16]


@dataclass(frozen=True)
class _ProfileFile:
    description: str = key("", "One line shown in `crossmedia status` and the preview site.")
    extends: str = key("", "Start from another profile (e.g. a built-in) and change only the keys given here.")


def _read_toml(path: Path, problems: list[str]) -> dict | None:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        problems.append(f"error: {path}: not valid TOML: {e}\n  Fix: correct the syntax at the place named.")
    except UnicodeDecodeError as e:  # saved in a legacy encoding (#8: was a traceback)
        problems.append(
            f"error: {path}: not valid TOML: not UTF-8 text (byte {e.start})\n  Fix: save the file as UTF-8."
        )
    except OSError as e:
        problems.append(f"error: {path}: cannot read: {e.strerror}")
    return None


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for k, v in over.items():
        merged[k] = (
            _merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) and k in SECTIONS else v
        )
    return merged


# What people write for a format, and the name the profile keys use (#17: "jpg" was refused).
FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}


def _aliases(section: dict) -> dict:
    """`formats = ["jpg"]` means "jpeg": the names in formats lists and quality tables."""
    out = dict(section)
    for k in ("formats", "poster_formats"):
        if isinstance(out.get(k), list):
            out[k] = [FORMAT_ALIASES.get(v, v) if isinstance(v, str) else v for v in out[k]]
    if isinstance(out.get("quality"), dict):
        out["quality"] = {FORMAT_ALIASES.get(k, k): v for k, v in out["quality"].items()}
    return out


def _dropped(name: str, path: Path, table: dict, builtin: dict[str, Path], problems: list[str]) -> list[str]:
    """A workspace profile named like a built-in, without `extends`, replaces it whole: the
    built-in's other sections are gone and their files are no longer processed there (#17)."""
    if name not in builtin or builtin[name] == path or "extends" in table:
        return []
    base = _read_toml(builtin[name], problems) or {}
    lost = [s for s in SECTIONS if isinstance(base.get(s), dict) and not isinstance(table.get(s), dict)]
    if not lost:
        return []
    sections = " and ".join(f"[{s}]" for s in lost)
    return [
        f"{path} replaces the built-in profile {name!r} without `extends`, so the built-in's {sections} "
        f"{'is' if len(lost) == 1 else 'are'} dropped and those files are not processed for {name!r}.\n"
        f'  Fix: add extends = "{name}" at the top to change only the keys given here, or add {sections}.'
    ]


def load_profiles(workspace_dir: Path | None = None) -> dict[str, Profile]:
    """Every built-in profile, then the workspace's own; raise ConfigError listing all problems."""
    files: dict[str, Path] = {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}
    builtin = dict(files)
    if workspace_dir is not None:
        files.update({p.stem: p for p in sorted((workspace_dir / "profiles").glob("*.toml"))})
    problems: list[str] = []
    raw = {name: _read_toml(path, problems) for name, path in files.items()}
    profiles = {}
    for name, path in files.items():
        table = raw[name]
        if table is None:
            continue
        warnings = _dropped(name, path, table, builtin, problems)
        parent = table.get("extends")
        if parent and not isinstance(parent, str):  # a list or table here was a TypeError (#8)
            problems.append(
                problem(
                    path,
                    "",
                    "extends",
                    parent,
                    "extends must be the name of a profile (text).",
                    'e.g. extends = "web".',
                )
            )
            continue
        if parent:
            base_path = builtin.get(parent) if parent == name else files.get(parent)
            if base_path is None:
                problems.append(
                    problem(
                        path,
                        "",
                        "extends",
                        parent,
                        f"there is no profile {parent!r}.",
                        "name a built-in or workspace profile: " + ", ".join(sorted(files)) + ".",
                    )
                )
                continue
            base = _read_toml(base_path, problems) or {}
            if base.get("extends"):
                problems.append(
                    problem(
                        path,
                        "",
                        "extends",
                        parent,
                        f"{parent!r} extends another profile itself; only one level is supported.",
                        f"extend the profile that {parent!r} extends, or copy its keys.",
                    )
                )
                continue
            table = _merge(base, {k: v for k, v in table.items() if k != "extends"})
        meta = {k: v for k, v in table.items() if k not in SECTIONS and not isinstance(v, dict)}
        head = load_table(_ProfileFile, meta, path, "", problems)
        for section, value in table.items():
            if isinstance(value, dict) and section not in SECTIONS:
                problems.append(
                    problem(
                        path,
                        "",
                        f"[{section}]",
                        dataclasses.MISSING,
                        "unknown section; a profile has " + ", ".join(f"[{s}]" for s in SECTIONS) + ".",
                        "rename or delete the section.",
                    )
                )
        sections = {}
        for kind, cls in SECTIONS.items():
            if isinstance(table.get(kind), dict):
                sections[kind] = load_table(cls, _aliases(table[kind]), path, kind, problems)
        if head is not None and not sections:
            problems.append(
                f"error: {path}: the profile has no section, so it handles no input.\n"
                f"  Fix: add at least one of " + ", ".join(f"[{s}]" for s in SECTIONS) + "."
            )
        profiles[name] = Profile(
            name=name,
            path=path,
            description=head.description if head else "",
            sections=sections,
            warnings=tuple(warnings),
        )
    _check_cross(profiles, problems)
    if problems:
        raise ConfigError(problems)
    return profiles


def _check_cross(profiles: dict[str, Profile], problems: list[str]) -> None:
    for p in profiles.values():
        image = p.sections.get("image")
        if image and image.colour == "cmyk" and not image.output_icc:
            problems.append(
                problem(
                    p.path,
                    "image",
                    "output_icc",
                    dataclasses.MISSING,
                    'colour = "cmyk" needs the CMYK output profile to convert to.',
                    'e.g. output_icc = "default_cmyk.icc" (installed with ghostscript).',
                )
            )
        if (
            image
            and image.colour == "cmyk"
            and image.output_icc
            and find_icc(image.output_icc, p.path.parent.parent) is None
        ):
            problems.append(
                problem(
                    p.path,
                    "image",
                    "output_icc",
                    image.output_icc,
                    "no such ICC profile: not a file, nor in the workspace's profiles/ or /usr/share/color/icc.",
                    "give the path of a CMYK .icc file, or install ghostscript for default_cmyk.icc.",
                )
            )
        if image and image.colour == "cmyk" and set(image.formats) - {"jpeg", "tiff"}:
            problems.append(
                problem(
                    p.path,
                    "image",
                    "formats",
                    image.formats,
                    "CMYK output can only be written as jpeg or tiff.",
                    'e.g. formats = ["tiff"].',
                )
            )
