"""Jinja for the preview site and pages (issue #6): one environment, relative links, writes.

Autoescaping is on for every template (HTML and CSS alike): whatever comes from a file name,
a sidecar, metadata or a page file is text. What is trusted markup or CSS is made in Python and
wrapped in `Markup` there; templates never use `|safe`. Undefined names are errors
(StrictUndefined), which holds templates to their context dataclasses.

Templates are looked up in `<workspace>/site_templates/` first, then in the built-in
`site_templates/`; a workspace template can extend the built-in one it replaces as
`{% extends "builtin/landing.html" %}`.

Compiled templates are kept in `.crossmedia/templates/` (Jinja's bytecode cache, keyed by the
template's source, so an edited template is compiled again): compiling the site's templates was
a tenth of a second of every run and of every batch of the watcher.
"""

from __future__ import annotations

import hashlib
import posixpath
import urllib.parse
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemBytecodeCache,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
)

from pipeline.atomic import write_bytes_atomic
from pipeline.workspace import Workspace

BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "site_templates"


def environment(ws: Workspace) -> Environment:
    builtin = FileSystemLoader(BUILTIN_TEMPLATES)
    loaders = [PrefixLoader({"builtin": builtin})]
    own = ws.root / "site_templates"
    if own.is_dir():
        loaders.append(FileSystemLoader(own))
    loaders.append(builtin)
    # auto_reload off: one environment per build, templates do not change during it
    options = dict(autoescape=True, undefined=StrictUndefined, auto_reload=False, trim_blocks=True,
                   lstrip_blocks=True, keep_trailing_newline=True)
    # Jinja keys its cache by template source only: the compiled code also depends on these
    # options and on Jinja's version, so each combination gets a folder of its own.
    flavour = hashlib.sha1(repr((jinja2.__version__, sorted(options.items(), key=str))).encode()).hexdigest()[:12]
    cache = ws.state / "templates" / flavour
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:  # .crossmedia not writable (a copied workspace): compile every time
        cache = None
    return Environment(loader=ChoiceLoader(loaders), bytecode_cache=FileSystemBytecodeCache(str(cache)) if cache else None,
                       **options)


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
