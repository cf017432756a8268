"""A zip per asset (issue #14): every rendition of one input in one download, out/site/zip/.

The site is built after every run that processed something, and a workspace may hold thousands
of inputs, so a zip is written only when its files changed: its name carries a key of what went
in (each file's name in the zip, size and mtime), and a build that finds the file of that name
keeps it without opening it. The builder's sweep removes the zips no page links any more
(their paths are added to the set of files the build used).

Media that is compressed already (JPEG, WebP, MP4, MP3...) is stored as it is: deflating it again
costs time and saves nothing. Names inside the zip are the files' own names, made safe.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.atomic import write_atomic
from pipeline.batch.store import Row
from pipeline.config.workspace import Workspace
from pipeline.names import safe_name

VERSION = "1"  # bump when what goes into a zip changes
FOLDER = "site/zip"
STORED = {"jpg", "jpeg", "webp", "avif", "png", "gif", "mp4", "m4v", "mov", "webm", "mp3", "m4a", "aac", "opus", "ogg"}
STORED |= {"oga", "flac", "zip", "heic", "jxl"}


@dataclass(frozen=True)
class Bundle:
    path: str  # relative to out/
    name: str  # what the browser saves it as
    files: int
    bytes: int


def members(ws: Workspace, paths: list[str]) -> list[tuple[Path, str, os.stat_result]]:
    """(file, name in the zip, stat) of each workspace-relative path that is a file under out/.
    Names are the file names, made safe (no folders, no "..") and unique."""
    out, taken = [], set()
    root = ws.out.resolve()
    for rel in paths:
        file = (ws.root / rel).resolve()
        if not file.is_relative_to(root):
            continue  # the store names a file outside out/: not ours to hand out
        try:
            st = file.stat()
        except OSError:
            continue
        stem, suffix = _split(PurePosixPath(rel).name)
        name, n = stem + suffix, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}{suffix}"
        taken.add(name)
        out.append((file, name, st))
    return out


def _split(name: str) -> tuple[str, str]:
    """A file name as a safe stem and its extension (kept when it is a plain one)."""
    path = PurePosixPath(name)
    suffix = path.suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", path.suffix) else ""
    return safe_name(path.name[: len(path.name) - len(suffix)] or "file"), suffix.lower()


class Bundles:
    """Makes (or keeps) each asset's zip; `used` collects the zips this build links to."""

    def __init__(self, ws: Workspace, used: set[Path]):
        self.ws = ws
        self.used = used
        self.made = 0

    def zip(self, row: Row, slug: str, paths: list[str]) -> Bundle | None:
        """`slug`: the input's name on the site (`pipeline.site.preview.asset_slug`)."""
        found = members(self.ws, paths)
        if not found:
            return None
        key = hashlib.sha1(VERSION.encode())
        for file, name, st in found:
            key.update(f"{name}\0{file}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        final = self.ws.out / FOLDER / f"{slug}-{key.hexdigest()[:12]}.zip"
        if not final.is_file():
            write_atomic(final, self.ws.tmp, lambda tmp: _write(tmp, found))
            self.made += 1
        self.used.add(final)
        return Bundle(
            path=final.relative_to(self.ws.out).as_posix(),
            name=f"{safe_name(PurePosixPath(row.input).name, 60)}-{row.profile}.zip",
            files=len(found),
            bytes=final.stat().st_size,
        )


def _write(tmp: Path, found: list[tuple[Path, str, os.stat_result]]) -> None:
    with zipfile.ZipFile(tmp, "w", allowZip64=True) as z:
        for file, name, _ in found:
            stored = PurePosixPath(name).suffix.lower().lstrip(".") in STORED
            z.write(file, name, compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
