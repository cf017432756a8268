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
from pathlib import Path
from typing import Any, Literal

from pipeline.errors import ConfigError
from pipeline.icc import find_icc
from pipeline.schema import aspects, between, key, load_table, positive, problem

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "profiles"

# Bump when a stage changes what it writes, so that existing outputs are redone (recipe hash).
RECIPE_VERSION = "1"

ImageFormat = Literal["avif", "webp", "jpeg", "png", "gif", "tiff"]
MetadataKey = Literal["copyright", "artist", "description", "camera", "datetime", "gps", "all"]
Gravity = Literal["attention", "entropy", "centre", "north", "south", "east", "west",
                  "northeast", "northwest", "southeast", "southwest"]


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

    aspects: list[str] = key(["original"], "Aspect ratios to crop to, e.g. \"16:9\", \"1:1\", or \"original\" (no crop).",
                             check=aspects, example='["original", "1:1"]')
    widths: list[int] = key([1920, 1280, 640, 320], "Rendition widths in pixels; never upscaled (a warning instead). [] keeps the source width.",
                            check=positive, example="[1600, 800]")
    formats: list[ImageFormat] = key(["avif", "webp", "jpeg"], "Output formats, each written at every width.",
                                     check=_nonempty, example='["webp", "jpeg"]')
    quality: dict[str, int] = key({"avif": 55, "webp": 80, "jpeg": 82}, "Encoder quality per format, 1-100.",
                                  check=_qualities, example="{webp = 80, jpeg = 82}")
    progressive: bool = key(True, "Write progressive JPEGs (smaller, render early on slow links).")
    colour: Literal["srgb", "cmyk"] = key("srgb", "Output colour space: sRGB for screens, CMYK (with output_icc) for print.")
    output_icc: str = key("", "CMYK output profile when colour = \"cmyk\": a path, or a file name looked up in the workspace's profiles/ and /usr/share/color/icc.",
                          example='"default_cmyk.icc"')
    assume_cmyk_icc: str = key("default_cmyk.icc", "Profile assumed for CMYK sources that embed none (a warning says so).")
    intent: Literal["perceptual", "relative", "saturation", "absolute"] = key(
        "perceptual", "ICC rendering intent for colour conversions.")
    gravity: Gravity = key("attention", "Where to crop when the sidecar gives no focus: attention (saliency), entropy, centre or a side.")
    background: str = key("#ffffff", "Colour that transparent areas are flattened on for formats without alpha (JPEG, CMYK).",
                          check=_colour, example='"#ffffff"')
    metadata: list[MetadataKey] = key(["copyright", "artist"], "Metadata kept in outputs; everything else (GPS, serial numbers, owner) is stripped. \"all\" keeps everything.",
                                      example='["copyright", "artist"]')
    animated: bool = key(True, "Keep animation where the format allows it (WebP, GIF, AVIF); otherwise the first frame.")
    svg: Literal["keep", "rasterise", "refuse"] = key("keep", "SVG sources: keep a sanitised SVG beside the raster renditions, rasterise only, or refuse.")
    print_width_mm: float = key(0.0, "Printed width of the output in mm; with min_ppi, warns when the print would be soft. 0 = no check.",
                                check=between(0, 10000), example="210")
    min_ppi: int = key(300, "Resolution a print needs at print_width_mm.", check=positive)
    require_alt: bool = key(False, "Warn when the sidecar gives no alt text (web pages need it).")


# One entry per media kind a profile can handle; later kinds add theirs here.
SECTIONS: dict[str, type] = {"image": ImageOptions}


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    description: str
    sections: dict[str, Any]  # kind -> validated options dataclass

    def options(self, kind: str) -> Any | None:
        return self.sections.get(kind)

    def recipe(self, section: str | None, sidecar: bytes = b"") -> str:
        """Hash of everything that decides this profile's outputs for one kind of input.

        A changed key in `[audio]` does not redo images: only the section's own keys count.
        `None` (used for failed inputs, whose kind may be unknown) hashes every section.
        """
        chosen = sorted(self.sections) if section is None else [section]
        blob = json.dumps(
            {"v": RECIPE_VERSION, "s": {k: dataclasses.asdict(self.sections[k]) if self.sections.get(k) else None
                                        for k in chosen}},
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
        problems.append(f"error: {path}: not valid TOML: not UTF-8 text (byte {e.start})\n  Fix: save the file as UTF-8.")
    except OSError as e:
        problems.append(f"error: {path}: cannot read: {e.strerror}")
    return None


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for k, v in over.items():
        merged[k] = _merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) and k in SECTIONS else v
    return merged


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
        parent = table.get("extends")
        if parent and not isinstance(parent, str):  # a list or table here was a TypeError (#8)
            problems.append(problem(path, "", "extends", parent, "extends must be the name of a profile (text).",
                                    'e.g. extends = "web".'))
            continue
        if parent:
            base_path = builtin.get(parent) if parent == name else files.get(parent)
            if base_path is None:
                problems.append(problem(path, "", "extends", parent, f"there is no profile {parent!r}.",
                                        "name a built-in or workspace profile: " + ", ".join(sorted(files)) + "."))
                continue
            base = _read_toml(base_path, problems) or {}
            if base.get("extends"):
                problems.append(problem(path, "", "extends", parent, f"{parent!r} extends another profile itself; only one level is supported.",
                                        f"extend the profile that {parent!r} extends, or copy its keys."))
                continue
            table = _merge(base, {k: v for k, v in table.items() if k != "extends"})
        meta = {k: v for k, v in table.items() if k not in SECTIONS and not isinstance(v, dict)}
        head = load_table(_ProfileFile, meta, path, "", problems)
        for section, value in table.items():
            if isinstance(value, dict) and section not in SECTIONS:
                problems.append(problem(path, "", f"[{section}]", dataclasses.MISSING,
                                        "unknown section; a profile has " + ", ".join(f"[{s}]" for s in SECTIONS) + ".",
                                        "rename or delete the section."))
        sections = {}
        for kind, cls in SECTIONS.items():
            if isinstance(table.get(kind), dict):
                sections[kind] = load_table(cls, table[kind], path, kind, problems)
        if head is not None and not sections:
            problems.append(f"error: {path}: the profile has no section, so it handles no input.\n"
                            f"  Fix: add at least one of " + ", ".join(f"[{s}]" for s in SECTIONS) + ".")
        profiles[name] = Profile(name=name, path=path, description=head.description if head else "",
                                 sections=sections)
    _check_cross(profiles, problems)
    if problems:
        raise ConfigError(problems)
    return profiles


def _check_cross(profiles: dict[str, Profile], problems: list[str]) -> None:
    for p in profiles.values():
        image = p.sections.get("image")
        if image and image.colour == "cmyk" and not image.output_icc:
            problems.append(problem(p.path, "image", "output_icc", dataclasses.MISSING,
                                    "colour = \"cmyk\" needs the CMYK output profile to convert to.",
                                    'e.g. output_icc = "default_cmyk.icc" (installed with ghostscript).'))
        if image and image.colour == "cmyk" and image.output_icc and find_icc(image.output_icc, p.path.parent.parent) is None:
            problems.append(problem(p.path, "image", "output_icc", image.output_icc,
                                    "no such ICC profile: not a file, nor in the workspace's profiles/ or /usr/share/color/icc.",
                                    "give the path of a CMYK .icc file, or install ghostscript for default_cmyk.icc."))
        if image and image.colour == "cmyk" and set(image.formats) - {"jpeg", "tiff"}:
            problems.append(problem(p.path, "image", "formats", image.formats,
                                    "CMYK output can only be written as jpeg or tiff.",
                                    'e.g. formats = ["tiff"].'))
