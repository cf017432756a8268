"""Writing the preview site and pages: the Jinja environment of a workspace, relative links,
writes that skip unchanged files (issue #6). Escaping rules: `pipeline.templates`."""

from __future__ import annotations

import posixpath
import urllib.parse
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment

from pipeline import templates
from pipeline.atomic import write_bytes_atomic
from pipeline.config.workspace import Workspace


def environment(ws: Workspace) -> Environment:
    return templates.environment(ws.root)


def href(page: str, target: str) -> str:
    """Relative URL from the page at out-relative path `page` to out-relative `target`.

    Both are POSIX paths relative to out/; the result works from file:// and from any server
    that serves out/ (or a copy of it) as a whole, and never leaves out/.
    """
    if target.startswith("#"):
        return target
    folder, name = posixpath.split(target)
    up = _relative_dir(folder or ".", posixpath.dirname(page) or ".")
    return urllib.parse.quote(f"{up}/{name}" if up != "." else name, safe="/#")


@lru_cache(maxsize=4096)
def _relative_dir(folder: str, start: str) -> str:
    return posixpath.relpath(folder, start)  # pure string arithmetic: safe to remember


class Writer:
    """Writes files under out/ atomically, only when their bytes change; remembers them all."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.written: set[Path] = set()
        self.changed: set[Path] = set()

    def write(self, rel: str, data: str | bytes) -> bool:
        """Write out/<rel>; True when the file changed."""
        path = self.ws.out / rel
        blob = data.encode("utf-8") if isinstance(data, str) else data
        self.written.add(path)
        try:
            if path.read_bytes() == blob:
                return False
        except OSError:
            pass
        write_bytes_atomic(path, self.ws.tmp, blob)
        self.changed.add(path)
        return True


def nice_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}" if n < 100 else f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.0f} GB"  # pragma: no cover
