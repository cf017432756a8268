"""Outputs appear whole or not at all: write to a temp name in out/.tmp, then rename.

out/.tmp is on the same file system as out/, so the rename is atomic; whatever a killed run
left there is deleted by the next run before it starts (it holds the workspace lock).
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def write_atomic(final: Path, tmp_dir: Path, write: Callable[[Path], None]) -> int:
    """Call write(tmp_path); rename the result to `final`; return its size. Nothing is left
    behind at `final` or in tmp_dir if `write` fails."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{uuid.uuid4().hex}{final.suffix}"
    try:
        write(tmp)
        size = tmp.stat().st_size
        if size == 0:
            raise OSError(f"encoder wrote an empty file for {final.name}")
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size


def write_many(pairs: list[tuple[Path, Path]], write: Callable[[], None]) -> None:
    """For one command that writes several outputs (an ffmpeg run with many outputs): call
    write(), which writes every `tmp` of the (final, tmp) pairs; rename them all into place only
    when every one is there and not empty. Nothing stays at a temp name either way."""
    try:
        write()
        for final, tmp in pairs:
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise OSError(f"the encoder wrote nothing for {final.name}")
        for final, tmp in pairs:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
    finally:
        for _, tmp in pairs:
            tmp.unlink(missing_ok=True)


def write_bytes_atomic(final: Path, tmp_dir: Path, data: bytes) -> int:
    return write_atomic(final, tmp_dir, lambda tmp: tmp.write_bytes(data))


def write_image(final: Path, tmp_dir: Path, im, **params) -> int:
    """A Pillow image saved atomically. Encoded in memory first: Pillow's JPEG (and other C)
    encoders write to the file descriptor themselves and do not check for a short write, so on
    a nearly full disk a truncated file came through without an error (#12, test_faults)."""
    if str(params.get("format", "")).upper() == "TIFF":
        # libtiff checks its own writes, and a print TIFF can be hundreds of MB: straight to disk.
        return write_atomic(final, tmp_dir, lambda tmp: im.save(tmp, **params))
    buffer = io.BytesIO()
    im.save(buffer, **params)
    return write_bytes_atomic(final, tmp_dir, buffer.getvalue())


def clear_tmp(tmp_dir: Path) -> int:
    """Delete what an interrupted run left in the temp folder; return how many entries."""
    if not tmp_dir.is_dir():
        return 0
    count = 0
    for entry in os.scandir(tmp_dir):
        count += 1
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)
    return count
