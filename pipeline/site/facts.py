"""What the preview site and pages read from the store (issue #6), in one place.

A row of `.crossmedia/state.db` has `input, profile, media, status, outputs, warnings, error,
facts`. Images note their source facts and `facts["renditions"]` (the image chain, #3);
audio/video stages note probe facts and mark picture outputs with `role` = "poster" or
"waveform". docs/site.md, "What the preview site reads", lists every key used here.

An asset page shows a short `summary` in plain words with units, and every fact under "Details"
(`details`), flattened, each number with the unit its name implies: never a Python repr.
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
# Shown on their own (the renditions table, the sidecar section), never among the raw facts.
_ELSEWHERE = {"renditions", "sidecar"}
_SIDE_NAMES = {1: "mono", 2: "stereo"}


def _facts(row: Row) -> dict:
    return row.facts if isinstance(row.facts, dict) else {}


def clock(seconds: float) -> str:
    """0:05.5, 2:19.7: how editors read a time."""
    minutes, rest = divmod(max(0.0, float(seconds)), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def _num(value: float, places: int = 1) -> str:
    return f"{float(value):.{places}f}".rstrip("0").rstrip(".") if places else f"{float(value):.0f}"


def _db(value: float) -> str:
    return f"{float(value):+.1f}" if float(value) > 0 else f"{float(value):.1f}"


def bitrate(kbps: float) -> str:
    return f"{kbps / 1000:.2f} Mb/s" if kbps >= 1000 else f"{kbps:.0f} kb/s"


def sample_rate(hz: float) -> str:
    return f"{_num(float(hz) / 1000)} kHz"


def channels(n) -> str:
    try:
        return _SIDE_NAMES.get(int(n), f"{int(n)} channels")
    except (TypeError, ValueError):
        return str(n)


def summary(row: Row) -> list[Fact]:
    """A few lines in plain words with units, what a designer judges by (#14); the rest is in
    `details`."""
    if row.media == "image":
        return _image_summary(row)
    f = _facts(row)
    out = _time_summary(f)
    if row.media == "video":
        out += _video_summary(f)
    elif row.media == "audio":
        out += _audio_summary(f)
    loud = _loudness(f.get("loudness"))
    if loud:
        out.append(Fact("Loudness", loud))
    if row.media == "video" and f.get("poster_time") is not None:
        how = f" ({f['poster_from']})" if f.get("poster_from") else ""
        out.append(Fact("Poster", f"frame at {clock(f['poster_time'])}{how}"))
    out.append(Fact("File size", nice_bytes(row.size)))
    return out


def _time_summary(f: dict) -> list[Fact]:
    if not f.get("duration"):
        return []
    out = [Fact("Duration", clock(f["duration"]))]
    start, end, by = _trim(f)
    kept = float(f.get("kept_duration") or end - start)
    if kept < float(f["duration"]) - 0.05:
        by = ", ".join(map(str, by))
        out.append(Fact("Kept", f"{clock(kept)} ({clock(start)} to {clock(end)}" + (f", cut: {by})" if by else ")")))
    return out


def _trim(f: dict) -> tuple[float, float, list]:
    """(start, end) of the kept part in seconds of the source, and what set them (trim.by)."""
    trim = f.get("trim") if isinstance(f.get("trim"), dict) else {}
    return float(trim.get("start") or 0), float(trim.get("end") or f.get("duration") or 0), trim.get("by") or []


def _video_summary(f: dict) -> list[Fact]:
    out = []
    w, h = f.get("display_width") or f.get("width"), f.get("display_height") or f.get("height")
    if w and h:
        shape = "portrait" if h > w else "landscape" if w > h else "square"
        stored = ""
        if (f.get("width"), f.get("height")) != (w, h):
            why = [f"rotated {int(f['rotation'])}°"] if f.get("rotation") else []
            why += [f"pixel aspect {f['sar']}"] if f.get("sar") not in (None, "", "1:1", "0:1") else []
            stored = f" (stored {f.get('width')} × {f.get('height')}{', ' + ', '.join(why) if why else ''})"
        out.append(Fact("Size", f"{w} × {h} px, {shape}{stored}"))
    picture = [str(f["video_codec"]).upper()] if f.get("video_codec") else []
    if f.get("fps"):
        picture.append(f"{_num(f['fps'], 2)} fps" + (" (variable)" if f.get("variable_fps") else ""))
    if f.get("hdr"):
        picture.append(f"HDR {f['hdr']}")
    if f.get("interlaced"):
        picture.append("interlaced")
    if picture:
        out.append(Fact("Video", ", ".join(picture)))
    if f.get("bit_rate_kbps"):
        out.append(Fact("Bitrate", bitrate(float(f["bit_rate_kbps"]))))
    if f.get("has_audio") is False:
        out.append(Fact("Sound", "none"))
    elif f.get("audio_codec"):
        sound = [str(f["audio_codec"]).upper()]
        sound += [channels(f["channels"])] if f.get("channels") else []
        sound += [sample_rate(f["sample_rate"])] if f.get("sample_rate") else []
        out.append(Fact("Sound", ", ".join(sound)))
    return out


def _audio_summary(f: dict) -> list[Fact]:
    out = []
    kind = [str(f["codec"])] if f.get("codec") else []
    kind += [f"in {f['container']}"] if f.get("container") and f.get("container") != f.get("codec") else []
    kind += [f"{f['bits']} bit"] if f.get("bits") else []
    if kind:
        out.append(Fact("Format", " ".join(kind[:2]) + (f", {kind[2]}" if len(kind) > 2 else "")))
    if f.get("sample_rate"):
        made = f.get("output_sample_rate")
        changed = f" (outputs {sample_rate(made)})" if made and made != f["sample_rate"] else ""
        out.append(Fact("Sample rate", sample_rate(f["sample_rate"]) + changed))
    if f.get("channels"):
        made = f.get("output_channels")
        changed = f" (outputs {channels(made)})" if made and made != f["channels"] else ""
        out.append(Fact("Channels", channels(f["channels"]) + changed))
    if f.get("bitrate"):
        out.append(Fact("Bitrate", bitrate(float(f["bitrate"]) / 1000)))
    levels = []
    if f.get("peak_dbfs") is not None:
        levels.append(f"peak {_db(f['peak_dbfs'])} dBFS")
    if f.get("rms_dbfs") is not None:
        levels.append(f"RMS {_db(f['rms_dbfs'])} dBFS")
    if f.get("clipped_samples"):
        levels.append(f"{f['clipped_samples']} clipped samples")
    if levels:
        out.append(Fact("Levels", ", ".join(levels)))
    if f.get("silence_lead") or f.get("silence_tail"):
        lead, tail = float(f.get("silence_lead") or 0), float(f.get("silence_tail") or 0)
        out.append(Fact("Silence", f"{_num(lead, 2)} s at the start, {_num(tail, 2)} s at the end"))
    return out


def _loudness(loud) -> str:
    """Loudness before → after (per format for audio, one figure when they agree) and the gain
    applied: "-17.5 → -16.0 LUFS, true peak -12.5 → -11.0 dBTP, gain +1.4 dB"."""
    if not isinstance(loud, dict) or not isinstance(loud.get("before"), dict) or "lufs" not in loud["before"]:
        return ""
    before, after = loud["before"], loud.get("after")
    if isinstance(after, dict) and "lufs" not in after:  # audio: one measurement per format
        afters = {str(k): v for k, v in after.items() if isinstance(v, dict) and "lufs" in v}
    else:
        afters = {"": after} if isinstance(after, dict) and "lufs" in after else {}
    parts = []

    def pair(key: str, unit: str) -> str:
        values = {k: f"{float(v[key]):.1f}" for k, v in afters.items() if v.get(key) is not None}
        if len(set(values.values())) > 1:
            shown = ", ".join(f"{v} ({k.upper()})" for k, v in values.items())
        else:
            shown = next(iter(values.values()), "")
        return f"{float(before[key]):.1f} → {shown} {unit}" if shown else f"{float(before[key]):.1f} {unit}"

    parts.append(pair("lufs", "LUFS"))
    if before.get("true_peak") is not None:
        parts.append("true peak " + pair("true_peak", "dBTP"))
    if loud.get("gain_db") is not None:
        parts.append(f"gain {float(loud['gain_db']):+.1f} dB" + (", limited" if loud.get("limited") else ""))
    return ", ".join(parts)


def _image_summary(row: Row) -> list[Fact]:
    f = _facts(row)
    out: list[Fact] = [Fact("File size", nice_bytes(row.size))]
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
    return out


def details(row: Row) -> list[Fact]:
    """Every fact the stages noted, flattened, with units: folded under "Details" on the page."""
    f = _facts(row)
    out = [Fact("Input", row.input), Fact("Profile", row.profile), Fact("Media", row.media)]
    for k in sorted(set(f) - _ELSEWHERE):
        out.extend(_generic(k, f[k]))
    return out


def _generic(key: str, value, depth: int = 0) -> list[Fact]:
    label = key.replace("_", " ").replace(".", " › ")
    label = label[:1].upper() + label[1:]
    if isinstance(value, dict):
        if depth >= 4:  # deeper than any stage writes: one line, still no Python repr
            return [Fact(label, _inline(value))]
        return [fact for k, v in value.items() for fact in _generic(f"{key}.{k}", v, depth + 1)]
    if value is None or value == "" or value == [] or value == {}:
        return []
    return [Fact(label, _value(key.rsplit(".", 1)[-1], value))]


def _inline(value) -> str:
    """A nested value as text: "a 1, b 2"; lists joined by commas."""
    if isinstance(value, dict):
        return "; ".join(f"{k} {_inline(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list | tuple):
        return ", ".join(_inline(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _num(value, 3)
    return str(value)


_TIMES = ("duration", "start", "end", "lead", "tail", "time", "first_picture")
_UNITS = {  # the last part of a fact's name -> unit (loudness: EBU R 128)
    "lufs": "LUFS",
    "threshold": "LUFS",
    "true_peak": "dBTP",
    "ceiling": "dBTP",
    "lra": "LU",
    "fps": "fps",
    "output_fps": "fps",
    "width": "px",
    "height": "px",
    "display_width": "px",
    "display_height": "px",
    "decoded_width": "px",
    "decoded_height": "px",
    "dpi": "ppi",
    "print_ppi": "ppi",
}


def _value(name: str, value) -> str:
    """One raw fact in words, its unit read from its name (`bitrate` bit/s, `*_kbps`, `*_dbfs`...)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name == "analysed" and isinstance(value, list) and len(value) == 2:
        return f"{clock(value[0])} to {clock(value[1])}"
    if isinstance(value, list | tuple | dict):
        return _inline(value)
    if not isinstance(value, int | float):
        return str(value)
    if name.endswith(_TIMES) and not name.startswith("frames"):
        return f"{clock(value)} ({float(value):.2f} s)"
    if name == "bitrate":
        return bitrate(float(value) / 1000)
    if name.endswith("_kbps"):
        return bitrate(float(value))
    if name.endswith("sample_rate"):
        return sample_rate(value)
    if name.endswith("channels"):
        return channels(value)
    if name == "bytes":
        return nice_bytes(value)
    if name.endswith("_dbfs"):
        return f"{_num(value, 2)} dBFS"
    if name.endswith("_db"):
        return f"{_num(value, 2)} dB"
    if name == "rotation":
        return f"{_num(value)}°"
    if name in _UNITS:
        return f"{_num(value, 2)} {_UNITS[name]}"
    if isinstance(value, float) and value.is_integer() and name in ("samples", "offset"):
        return str(int(value))
    return _num(value, 2) if isinstance(value, float) else str(value)


# Audio timeline ------------------------------------------------------------------------------
def audio_spans(f: dict) -> dict[str, tuple[float, float]]:
    """Where, in seconds of the source, the kept part, the cut parts and the silences are.

    `trim` {start, end} and `analysed` [start, end] (the part the analysis read: the sidecar's
    trim, else the whole file) are in seconds of the source; `silence_lead` runs from the start of
    the part read and `silence_tail` back from its end."""
    duration = float(f.get("duration") or 0)
    start, end, _ = _trim(f)
    end = min(duration, end)
    lead, tail = float(f.get("silence_lead") or 0), float(f.get("silence_tail") or 0)
    analysed = f.get("analysed")
    read = (0.0, duration)  # a row made before `analysed` was noted: the whole file, as without a trim
    if isinstance(analysed, list) and len(analysed) == 2:
        read = (float(analysed[0]), float(analysed[1]))
    spans = {"kept": (start, end)}
    if start > 0.0005:
        spans["cut_start"] = (0.0, start)
    if end < duration - 0.0005:
        spans["cut_end"] = (end, duration)
    if lead > 0:
        spans["silence_lead"] = (read[0], min(read[1], read[0] + lead))
    if tail > 0:
        spans["silence_tail"] = (max(read[0], read[1] - tail), read[1])
    return spans
