"""The one Jinja environment factory: preview site, pages and banners render through it.

Autoescaping is on for every template (HTML and CSS alike): whatever comes from a file name,
a sidecar, metadata or a page file is text. What is trusted markup or CSS is made in Python and
wrapped in `Markup` there; templates never use `|safe`. Undefined names are errors
(StrictUndefined), which holds templates to their context dataclasses.

The built-in templates are package data of `site_templates` (read through importlib.resources,
so a wheel installed by pipx or uv carries them). A workspace's own `site_templates/` comes
first; a workspace template can extend the built-in one it replaces as
`{% extends "builtin/landing.html" %}`.
"""

from __future__ import annotations

import hashlib
import os
from importlib.resources import files
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

# An installed package is a folder on disk (wheels are unpacked), which FileSystemLoader reads.
BUILTIN_TEMPLATES = Path(str(files("site_templates")))

_OPTIONS = dict(
    autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
)


def environment(workspace: Path | None = None, *, folder: str = "") -> Environment:
    """Templates from `site_templates/<folder>`: the workspace's own first, then the built-in."""
    builtin = FileSystemLoader(BUILTIN_TEMPLATES / folder)
    loaders: list = [PrefixLoader({"builtin": builtin})]
    own = workspace / "site_templates" / folder if workspace is not None else None
    if own is not None and own.is_dir():
        loaders.append(FileSystemLoader(own))
    loaders.append(builtin)
    # auto_reload off: one environment per build, templates do not change during it
    return Environment(loader=ChoiceLoader(loaders), bytecode_cache=_compiled(), **_OPTIONS, auto_reload=False)


def _compiled() -> FileSystemBytecodeCache | None:
    """Where compiled templates are kept: the user's cache folder, as pip keeps its wheels there.

    Compiling the site's templates was a tenth of a second of every run; kept in the workspace,
    every new workspace (and every test) paid it again for the same built-in templates. Jinja
    keys a compiled template by its name and file and checks the source's hash before using it,
    so workspaces share the built-in ones and an edited template is compiled again. The code
    also depends on the options and Jinja's version: each combination gets a folder of its own.
    Nowhere writable (no home, a read-only one): compiled every time, as before."""
    flavour = hashlib.sha1(repr((jinja2.__version__, sorted(_OPTIONS.items(), key=str))).encode()).hexdigest()[:12]
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folder = base / "crossmedia" / "templates" / flavour
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # RuntimeError: no home directory to be found
        return None
    return FileSystemBytecodeCache(str(folder))
