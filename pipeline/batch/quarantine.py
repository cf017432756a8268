"""quarantine/: a copy of each failed input and a text file saying what is wrong with it.

The original stays where it was (originals are never moved or deleted); the copy is what a user
sends back to the supplier with the error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.atomic import write_atomic, write_bytes_atomic
from pipeline.batch.store import now
from pipeline.batch.worker import file_sha256
from pipeline.config.workspace import Workspace
from pipeline.job import Result
from pipeline.names import printable, safe_name


def quarantine_name(rel: str) -> str:
    return safe_name(rel.replace("/", "__"), limit=120)


def quarantine(ws: Workspace, result: Result) -> None:
    """quarantine/<safe name>: a copy of the input (the original stays where it was) and
    <safe name>.error.txt saying what is wrong with it."""
    name = quarantine_name(result.input)
    source = ws.root / result.input
    ws.quarantine.mkdir(parents=True, exist_ok=True)
    text = (
        f"input: {printable(result.input)}\nprofile: {result.profile}\nwhen: {now()}\n"
        f"sha256: {result.sha256 or '-'}\nerror: {result.error}\n"
    )
    if result.details:  # the tool's own words, for whoever looks deeper (#17)
        text += f"details: {result.details}\n"
    try:
        if source.is_file() and not source.is_symlink():
            write_atomic_copy(source, ws.quarantine / name, ws.state_tmp)
    except OSError as e:
        text += f"note: the copy failed ({e.strerror}); the original is still at {result.input}\n"
    write_bytes_atomic(ws.quarantine / f"{name}.error.txt", ws.state_tmp, text.encode())


def write_atomic_copy(source: Path, final: Path, tmp_dir: Path) -> None:
    if final.exists() and final.stat().st_size == source.stat().st_size and file_sha256(final) == file_sha256(source):
        return
    try:
        write_atomic(final, tmp_dir, lambda tmp: shutil.copyfile(source, tmp))
    except OSError as e:
        if "empty file" not in str(e):
            raise
        final.write_bytes(b"")  # a zero-byte input is quarantined as what it is


def unquarantine(ws: Workspace, rel: str) -> None:
    name = quarantine_name(rel)
    for p in (ws.quarantine / name, ws.quarantine / f"{name}.error.txt"):
        p.unlink(missing_ok=True)
