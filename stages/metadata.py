"""Metadata policy: outputs carry only what the profile keeps.

Outputs get a fresh EXIF block built from an allow-list, so GPS positions, camera and lens
serial numbers, owner names, maker notes and thumbnails never leave, while copyright and
creator (intellectual property) stay. The sidecar's `credit` becomes the copyright line: whole,
in UTF-8, as XMP dc:rights (the `rights` fact, written by the encoder), and in EXIF's ASCII
Copyright tag only when it is plain ASCII, since "©" there came out as "?" (#17).
"""

from __future__ import annotations

from dataclasses import replace

from PIL import Image

from pipeline.config.profile import ImageOptions
from pipeline.job import Job

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
ORIENTATION = 0x0112

# base IFD tags per kept group; EXIF sub-IFD tags per kept group
_BASE = {
    "copyright": [0x8298],  # Copyright
    "artist": [0x013B, 0x9C9D],  # Artist, XPAuthor
    "description": [0x010E, 0x9C9B],  # ImageDescription, XPTitle
    "camera": [0x010F, 0x0110],  # Make, Model
    "datetime": [0x0132],  # DateTime
}
_SUB = {
    "camera": [
        0x829A,
        0x829D,
        0x8827,
        0x920A,
        0xA434,
        0xA433,
    ],  # exposure, f-number, ISO, focal length, lens model/make
    "datetime": [0x9003, 0x9004, 0x9010, 0x9011],  # DateTimeOriginal/Digitized and offsets
}
# Never carried, even with "all": they identify a person or a device.
PRIVATE_SUB = {0xA430, 0xA431, 0xA435, 0x927C, 0xA420}  # owner, body serial, lens serial, MakerNote, unique ID


def metadata(job: Job, opts: ImageOptions) -> Job:
    """Build the EXIF block every output of this job will carry (noted in job.facts)."""
    src = job.exif
    out = Image.Exif()
    keep = set(opts.metadata)
    present = _private_present(src)
    if src is not None:
        if "all" in keep:
            for tag, value in src.items():
                if tag not in (EXIF_IFD, GPS_IFD):
                    out[tag] = value
            sub = {t: v for t, v in src.get_ifd(EXIF_IFD).items() if t not in PRIVATE_SUB}
            if sub:
                out[EXIF_IFD] = sub
            gps = dict(src.get_ifd(GPS_IFD))
            if gps:
                out[GPS_IFD] = gps
        else:
            for group in keep:
                for tag in _BASE.get(group, []):
                    if tag in src:
                        out[tag] = src[tag]
            sub = {
                t: v for group in keep for t in _SUB.get(group, []) if (v := src.get_ifd(EXIF_IFD).get(t)) is not None
            }
            if sub:
                out[EXIF_IFD] = sub
            if "gps" in keep and src.get_ifd(GPS_IFD):
                out[GPS_IFD] = dict(src.get_ifd(GPS_IFD))
    out.pop(ORIENTATION, None)  # pixels are upright now
    credit = job.sidecar.credit
    if credit and credit.isascii():
        out[0x8298] = credit
    elif credit:
        out.pop(0x8298, None)  # the source's own line would contradict the credit's XMP
    if job.sidecar.title and ("description" in keep or "all" in keep):
        out[0x010E] = job.sidecar.title
    kept = sorted(_names(out) + (["XMP dc:rights"] if credit else []))
    stripped = sorted(p for p in present if ("gps" not in keep and "all" not in keep) or p != "GPS position")
    facts = {**job.facts, "metadata_kept": kept, "metadata_stripped": stripped}
    if credit:
        facts["rights"] = credit
    return replace(job, facts=facts, exif=out if len(out) else None)


def _private_present(src: Image.Exif | None) -> list[str]:
    if src is None:
        return []
    found = []
    if src.get_ifd(GPS_IFD):
        found.append("GPS position")
    sub = src.get_ifd(EXIF_IFD)
    names = {
        0xA430: "camera owner name",
        0xA431: "camera serial number",
        0xA435: "lens serial number",
        0x927C: "maker notes",
        0xA420: "image unique ID",
    }
    found += [name for tag, name in names.items() if tag in sub]
    return found


def _names(exif: Image.Exif) -> list[str]:
    from PIL.ExifTags import TAGS

    names = [TAGS.get(t, hex(t)) for t in exif if t not in (EXIF_IFD, GPS_IFD)]
    names += [TAGS.get(t, hex(t)) for t in exif.get_ifd(EXIF_IFD)]
    if exif.get_ifd(GPS_IFD):
        names.append("GPSInfo")
    return names
