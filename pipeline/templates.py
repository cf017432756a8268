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


def environment(workspace: Path | None = None, *, folder: str = "", cache: Path | None = None) -> Environment:
    """Templates from `site_templates/<folder>`: the workspace's own first, then the built-in.

    `cache`: where compiled templates are kept (Jinja's bytecode cache, keyed by source).
    Compiling the site's templates was a tenth of a second of every run and watcher batch."""
    builtin = FileSystemLoader(BUILTIN_TEMPLATES / folder)
    loaders: list = [PrefixLoader({"builtin": builtin})]
    own = workspace / "site_templates" / folder if workspace is not None else None
    if own is not None and own.is_dir():
        loaders.append(FileSystemLoader(own))
    loaders.append(builtin)
    # auto_reload off: one environment per build, templates do not change during it
    options = {**_OPTIONS, "auto_reload": False}
    bytecode = None
    if cache is not None:
        # Jinja keys its cache by template source only: the compiled code also depends on these
        # options and on Jinja's version, so each combination gets a folder of its own.
        flavour = hashlib.sha1(repr((jinja2.__version__, sorted(options.items(), key=str))).encode())
        folder_path = cache / flavour.hexdigest()[:12]
        try:
            folder_path.mkdir(parents=True, exist_ok=True)
            bytecode = FileSystemBytecodeCache(str(folder_path))
        except OSError:  # .crossmedia not writable (a copied workspace): compile every time
            bytecode = None
    return Environment(loader=ChoiceLoader(loaders), bytecode_cache=bytecode, **options)
