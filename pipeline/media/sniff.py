"""What a file is, from its first bytes: never from its extension.

Returns the media kind the engine routes on. Containers that hold audio or video alike (MP4,
Matroska, Ogg) are `av`: ffprobe decides by the streams inside. Documents and archives get a
plain description so the error says what was dropped ("a PDF document, not media").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sniffed:
    kind: str  # image | svg | audio | video | av | unknown | empty
    format: str  # short name: jpeg, png, heif, mp4, pdf...
    description: str  # for messages


_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


def sniff(path: Path) -> Sniffed:
    with path.open("rb") as f:
        head = f.read(4096)
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> Sniffed:
    if not head:
        return Sniffed("empty", "", "an empty (zero-byte) file")
    h = head
    if h.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "jpeg", "a JPEG image")
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "png", "a PNG image")
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "gif", "a GIF image")
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return Sniffed("image", "webp", "a WebP image")
    if h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Sniffed("image", "tiff", "a TIFF image")
    if h[:2] == b"BM" and len(h) > 14:
        return Sniffed("image", "bmp", "a BMP image")
    if h[4:8] == b"ftyp":
        brand = h[8:12]
        compatible = {h[i : i + 4] for i in range(16, min(len(h), 8 + int.from_bytes(h[:4], "big")), 4)}
        if brand in _IMAGE_BRANDS or (
            brand not in _AUDIO_BRANDS
            and compatible & {b"avif", b"heic", b"mif1"}
            and not compatible & {b"isom", b"mp41", b"mp42", b"qt  "}
        ):
            return Sniffed("image", "avif" if b"avi" in brand else "heif", "an AVIF/HEIF image")
        if brand in _AUDIO_BRANDS:
            return Sniffed("audio", "m4a", "an MPEG-4 audio file")
        return Sniffed("av", "mp4", "an MPEG-4/QuickTime file")
    if h[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return Sniffed("av", "mov", "a QuickTime file")
    if h[:4] == b"RIFF" and h[8:12] == b"WAVE":
        return Sniffed("audio", "wav", "a WAV audio file")
    if h[:4] == b"RIFF" and h[8:12] == b"AVI ":
        return Sniffed("av", "avi", "an AVI file")
    if h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"):
        return Sniffed("audio", "aiff", "an AIFF audio file")
    if h[:4] == b"fLaC":
        return Sniffed("audio", "flac", "a FLAC audio file")
    if h[:4] == b"OggS":
        return Sniffed("av", "ogg", "an Ogg file")
    if h[:4] == b"\x1aE\xdf\xa3":
        return Sniffed("av", "matroska", "a Matroska/WebM file")
    if h[:3] == b"ID3" or (len(h) > 1 and h[0] == 0xFF and (h[1] & 0xE0) == 0xE0 and (h[1] & 0x06) != 0):
        return Sniffed("audio", "mp3", "an MPEG audio file")
    if h[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return Sniffed("audio", "aac", "an AAC audio file")
    if h[:4] == b"#EXT" or h[:13] == b"ffconcat vers":
        return Sniffed("unknown", "playlist", "a playlist (HLS/concat) that points at other files, not media")
    text = _text_start(h)
    if text is not None:
        if re.search(r"<svg[\s>]", text, re.I):
            return Sniffed("svg", "svg", "an SVG image")
        if text.lstrip().lower().startswith(("<!doctype html", "<html")):
            return Sniffed("unknown", "html", "an HTML page, not media")
        return Sniffed("unknown", "text", "a text file, not media")
    for magic, fmt, what in _OTHER:
        if h.startswith(magic):
            return Sniffed("unknown", fmt, what)
    return Sniffed("unknown", "", "not a media file this pipeline knows")


_OTHER = [
    (b"%PDF", "pdf", "a PDF document, not media"),
    (b"PK\x03\x04", "zip", "a ZIP archive (or Office document), not media"),
    (b"\xd0\xcf\x11\xe0", "ole", "an old Office document, not media"),
    (b"%!PS", "ps", "a PostScript file, not media"),
    (b"8BPS", "psd", "a Photoshop PSD: export it as TIFF, PNG or JPEG"),
    (b"Rar!", "rar", "a RAR archive, not media"),
    (b"\x1f\x8b", "gzip", "a gzip archive, not media"),
]


def _text_start(head: bytes) -> str | None:
    """Decoded text if the bytes look like text (UTF-8/16 with or without BOM), else None."""
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom) :].decode(enc, "ignore")
    if b"\x00" in head[:1024]:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # a multi-byte character cut at the end of the window is fine
            return None
        text = head[: e.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return text if text and printable / len(text) > 0.95 else None
