"""What the preview site and pages read from the store (issue #6), in one place.

A row of `.crossmedia/state.db` has `input, profile, media, status, outputs, warnings, error,
facts`. Images note their source facts and `facts["renditions"]` (the image chain, #3);
audio/video stages note probe facts and mark picture outputs with `role` = "poster" or
"waveform". docs/site.md, "What the preview site reads", lists every key used here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from pipeline.batch.store import Row
from pipeline.site.media import renditions
from pipeline.site.render import nice_bytes

AUDIO_TYPES = {
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "weba": "audio/webm",
    "webm": "audio/webm",
    "mp4": "audio/mp4",
}
VIDEO_TYPES = {
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    "ogv": "video/ogg",
}
IMAGE_EXTS = {"png", "jpg", "jpeg", "webp", "avif", "gif", "svg"}


@dataclass(frozen=True)
class Fact:
    """One line of an asset page's facts table."""

    label: str
    value: str


def aspect_of(r: dict) -> str:
    """The crop a rendition (or poster) was made for: "16:9", "1:1"... or "original"."""
    return str(r.get("aspect") or "original")


def ext(path: str) -> str:
    return PurePosixPath(path).suffix.lower().lstrip(".")


def role(r: dict, media: str = "image") -> str:
    """ "waveform", "poster" (audio/video pictures) or "" for a rendition proper. Stages say it in
    facts ("role"); for audio/video outputs without facts the file name is the fallback."""
    given = r.get("role")
    if isinstance(given, str) and given:
        return given
    name = PurePosixPath(r["path"]).name.lower()
    if media in ("audio", "video") and ext(r["path"]) in IMAGE_EXTS:
        for known in ("waveform", "poster"):
            if known in name:
                return known
    return ""


def outputs_of(row: Row) -> list[dict]:
    """Every output with what is known about it: facts["renditions"], else the bare path."""
    found = renditions(row)
    known = {r["path"] for r in found}
    return found + [{"path": p, "format": ext(p)} for p in row.outputs if p not in known]


# Facts in plain words -------------------------------------------------------------------------
_HIDDEN = {
    "renditions",
    "sidecar",
    "decoded_width",
    "decoded_height",
    "icc_sha1",
    "adobe_cmyk",
    "display_width",
    "display_height",
    "width",
    "height",
    "orientation",
    "format",
    "mode",
    "frames",
    "source_mode",
    "source_icc",
    "source_icc_assumed",
    "colour_converted_from",
    "dpi",
    "print_ppi",
    "jpeg_quality",
    "sharpness",
    "has_alpha",
    "metadata_kept",
    "metadata_stripped",
    "vector",
    "svg_removed",
    "output_icc",
}


def source_facts(row: Row) -> list[Fact]:
    f = row.facts if isinstance(row.facts, dict) else {}
    out: list[Fact] = [
        Fact("Input", row.input),
        Fact("Profile", row.profile),
        Fact("Media", row.media),
        Fact("File size", nice_bytes(row.size)),
    ]
    if f.get("format"):
        frames = f.get("frames") or 1
        out.append(Fact("Format", str(f["format"]).upper() + (f", animated, {frames} frames" if frames > 1 else "")))
    if f.get("width") and f.get("height"):
        out.append(Fact("Pixels", f"{f['width']} × {f['height']}"))
        if f.get("orientation", 1) != 1:
            out.append(
                Fact(
                    "Shown upright",
                    f"{f.get('display_width')} × {f.get('display_height')} (EXIF orientation {f['orientation']})",
                )
            )
    if f.get("source_mode") or f.get("mode"):
        icc = f.get("source_icc") or (
            f"none, read as {f['source_icc_assumed']}" if f.get("source_icc_assumed") else "none (read as sRGB)"
        )
        out.append(Fact("Colour", f"{f.get('source_mode') or f.get('mode')}, ICC profile: {icc}"))
    if f.get("colour_converted_from"):
        out.append(Fact("Converted", f"from {f['colour_converted_from']} to {f.get('output_icc') or 'sRGB'}"))
    elif f.get("output_icc"):
        out.append(Fact("Converted", f"to {f['output_icc']} (print)"))
    if f.get("has_alpha"):
        out.append(Fact("Transparency", "yes"))
    if f.get("dpi"):
        out.append(Fact("Resolution tag", f"{f['dpi']:g} ppi"))
    if f.get("print_ppi"):
        out.append(Fact("At print size", f"{f['print_ppi']} ppi"))
    if f.get("jpeg_quality"):
        out.append(Fact("JPEG quality (estimated)", str(f["jpeg_quality"])))
    if f.get("sharpness") is not None:
        out.append(Fact("Edge strength", f"{f['sharpness']:g}"))
    if f.get("metadata_kept"):
        out.append(Fact("Metadata kept", ", ".join(map(str, f["metadata_kept"]))))
    if f.get("metadata_stripped"):
        out.append(Fact("Metadata stripped", ", ".join(map(str, f["metadata_stripped"]))))
    if f.get("svg_removed"):
        out.append(Fact("Removed from the SVG", ", ".join(f"{k} ({v})" for k, v in dict(f["svg_removed"]).items())))
    for k in sorted(set(f) - _HIDDEN):  # audio/video probe facts, loudness, anything a stage notes
        out.extend(_generic(k, f[k]))
    return out


def _generic(key: str, value, depth: int = 0) -> list[Fact]:
    label = key.replace("_", " ").replace(".", " › ")
    label = label[:1].upper() + label[1:]
    if isinstance(value, dict) and depth < 2:
        return [fact for k, v in value.items() for fact in _generic(f"{key}.{k}", v, depth + 1)]
    if value is None or value == "" or value == [] or value == {}:
        return []
    if isinstance(value, bool):
        return [Fact(label, "yes" if value else "no")]
    if isinstance(value, float):
        if key.endswith("duration") or key in ("start", "end"):
            minutes, seconds = divmod(value, 60)
            return [Fact(label, f"{int(minutes)}:{seconds:04.1f} ({value:.2f} s)")]
        return [Fact(label, f"{value:.2f}".rstrip("0").rstrip("."))]
    if isinstance(value, list):
        return [Fact(label, ", ".join(map(str, value)))]
    return [Fact(label, str(value))]
